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
		// want is the status calls once the run is over; with exact false
		// the states before the clear may have been replaced unsent (the
		// run ended before the indicator's first call).
		want  []string
		exact bool
	}{
		{"answer", []step{
			{Type: promptev.EventProcessing, Out: "Searching Jira..."},
			{Delay: 3 * time.Second, Type: promptev.EventDone, Out: "found it"},
		}, []string{"is working on it…", "Searching Jira...", ""}, false},
		{"agent error", []step{
			{Delay: time.Second, Type: promptev.EventError, Out: "boom"},
		}, []string{"is working on it…", ""}, true},
		{"instant answer", []step{
			{Type: promptev.EventDone, Out: "quick"},
		}, []string{"is working on it…", ""}, false},
		{"steps paced", []step{
			{Delay: 1500 * time.Millisecond, Type: promptev.EventProcessing, Out: "Searching Jira..."},
			{Delay: 200 * time.Millisecond, Type: promptev.EventProcessing, Out: "Reading PROJ-1"},
			{Type: promptev.EventProcessing, Out: "Reading PROJ-2"},
			{Delay: 3 * time.Second, Type: promptev.EventDone, Out: "found it"},
		}, []string{"is working on it…", "Searching Jira...", "Reading PROJ-2", ""}, true},
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
				// Each step's text in turn (the latest state wins within
				// the interval), cleared once, after the run ended.
				got := statusTexts(r.p)
				if tt.exact {
					require.Equal(t, tt.want, got)
					return
				}
				require.NotEmpty(t, got)
				assert.Equal(t, "", got[len(got)-1], "cleared last")
				assert.Subset(t, tt.want, got)
				assert.Equal(t, 1, countOf(got, ""), "cleared once")
			})
		})
	}
}

func countOf(ss []string, s string) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}
