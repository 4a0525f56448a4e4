package slack_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// BenchmarkDoneToFinal measures, for one quiet conversation, the time from
// the agent's done reaching the bridge to the final answer being visible in
// Slack: the real Slack adapter over slackfake, a scripted agent sending 20
// status events 500 ms apart and then done. The clock starts when the
// bridge reads done from the agent stream and stops at the fake's record of
// the Web API call that shows the answer. Each iteration is one
// conversation (about 10.5 s of agent time), so keep -benchtime small.
func BenchmarkDoneToFinal(b *testing.B) {
	script := make([]promptevtest.Event, 0, 21)
	for i := range 20 {
		script = append(script, promptevtest.Event{Type: "processing", Output: fmt.Sprintf("step %d", i+1), Delay: 500 * time.Millisecond})
	}
	script = append(script, promptevtest.Event{Type: promptevtest.TypeDone, Output: "final answer to {{query}}", Delay: 500 * time.Millisecond})

	var mu sync.Mutex
	var doneAt time.Time
	r := newRigWith(b, promptevtest.Agent{Script: script}, nil, func(_ *slackfake.Server, ag bridge.Agent) bridge.Agent {
		return gatedAgent{Agent: ag, wait: func(context.Context) {
			mu.Lock()
			doneAt = time.Now()
			mu.Unlock()
		}}
	})

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		query := fmt.Sprintf("q%d", i)
		ev := r.fake.Mention("C1", "U1", query)
		if _, err := r.fake.SendEvent(ev, 0); err != nil {
			b.Fatal(err)
		}
		want := "final answer to " + query
		var shownAt time.Time
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := r.fake.WaitFor(ctx, func() bool {
			for _, c := range r.fake.Calls("chat.update", "chat.postMessage") {
				if c.Error == "" && (strings.Contains(c.Text, want) || strings.Contains(string(c.Blocks), want)) {
					shownAt = c.At
					return true
				}
			}
			return false
		})
		cancel()
		if err != nil {
			b.Fatalf("final answer of %s not shown: %v", query, err)
		}
		mu.Lock()
		lat = append(lat, shownAt.Sub(doneAt))
		mu.Unlock()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_done→final_ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max_done→final_ms")
	r.assertNoRejectedCalls(b)
}
