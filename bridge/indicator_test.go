package bridge_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/promptev"
)

// statusTexts returns the status indicator calls the platform received, in order.
func statusTexts(p *bridgetest.Platform) []string {
	var out []string
	for _, rec := range p.Records() {
		if rec.Op == bridgetest.OpStatus {
			out = append(out, rec.Text)
		}
	}
	return out
}

func TestWorkingIndicatorShownWhileTheAgentRuns(t *testing.T) {
	tests := []struct {
		name   string
		script []step
	}{
		{"answer", []step{
			{Type: promptev.EventProcessing, Out: "Searching Jira..."},
			{Delay: 3 * time.Second, Type: promptev.EventDone, Out: "found it"},
		}},
		{"agent error", []step{
			{Delay: time.Second, Type: promptev.EventError, Out: "boom"},
		}},
		{"instant answer", []step{
			{Type: promptev.EventDone, Out: "quick"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				agent := newFakeAgent(func(streamCall) []step { return tt.script })
				r := startRig(t, agent)
				defer r.stop()
				r.send(engKey("1"), "U1", "go")
				time.Sleep(500 * time.Millisecond)
				synctest.Wait()
				if len(tt.script) > 0 && tt.script[0].Delay > 0 {
					// Mid-run: the indicator is on and not yet cleared.
					assert.Equal(t, []string{"is working on it…"}, statusTexts(r.p))
				}
				time.Sleep(10 * time.Second)
				settle()
				// Set once, cleared once, in that order, after the run ended.
				require.Equal(t, []string{"is working on it…", ""}, statusTexts(r.p))
			})
		})
	}
}
