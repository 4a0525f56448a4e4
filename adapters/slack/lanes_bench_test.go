package slack_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/adapters/slack"
	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// stampAgent records when the bridge reads each event of each query's
// stream: the moment a step (or done) reaches the bridge.
type stampAgent struct {
	bridge.Agent
	mu    sync.Mutex
	stamp map[string]time.Time // "query|output" -> read
}

func (a *stampAgent) Stream(ctx context.Context, agentID, token, query string) (bridge.EventStream, error) {
	st, err := a.Agent.Stream(ctx, agentID, token, query)
	if err != nil {
		return nil, err
	}
	return &stampStream{EventStream: st, a: a}, nil
}

func (a *stampAgent) at(output string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.stamp[output]
	return t, ok
}

type stampStream struct {
	bridge.EventStream
	a *stampAgent
}

func (s *stampStream) Next() (promptev.AgentEvent, error) {
	ev, err := s.EventStream.Next()
	if err == nil {
		s.a.mu.Lock()
		s.a.stamp[ev.Output] = time.Now()
		s.a.mu.Unlock()
	}
	return ev, err
}

// laneScript is 20 steps 500 ms apart, then done; every text names its
// conversation (the query), so a Web API call shows whose step it is.
func laneScript() []promptevtest.Event {
	script := make([]promptevtest.Event, 0, 21)
	for i := range 20 {
		script = append(script, promptevtest.Event{Type: "processing", Output: fmt.Sprintf("{{query}} step %02d", i+1), Delay: 500 * time.Millisecond})
	}
	return append(script, promptevtest.Event{Type: promptevtest.TypeDone, Output: "{{query}} answer", Delay: 500 * time.Millisecond})
}

// visible is a successful Web API call that shows text: a status line, a
// placeholder edit, a post, a stream chunk.
func shows(c slackfake.Call, text string) bool {
	return c.Error == "" && (strings.Contains(c.Status, text) || strings.Contains(c.Text, text) ||
		strings.Contains(string(c.Blocks), text) || strings.Contains(c.Chunks, text))
}

// BenchmarkFiftyConversationsLanes runs 50 conversations at once in one
// workspace (channel threads, streaming: auto, one channel each), each agent
// sending 20 steps 500 ms apart and then done, against slackfake enforcing
// Slack's documented limits. It reports the share of askers who saw a step
// before done, the p99 step→visible latency (the time from the bridge
// reading a step to the first Web API call showing it or a later step of
// the same conversation), the 429s and the slowest done→final. The native
// sub-benchmark streams to the askers while the start budget lasts (the
// others fall back to edits and the status line); the edit one is the
// placeholder alone (streaming: edit), for comparison. One iteration is about 11 s; use -benchtime 1x.
func BenchmarkFiftyConversationsLanes(b *testing.B) {
	for _, mode := range []string{slack.StreamingAuto, slack.StreamingNative, slack.StreamingEdit} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				benchFifty(b, mode, false)
			}
		})
	}
}

// BenchmarkFiftyDMsLanes is BenchmarkFiftyConversationsLanes with 50 DMs
// (top-level, one DM channel each) in streaming: auto: the stream start
// budget takes the first ones natively, the others get the edited
// placeholder alone (a top-level DM has no thread for a status line).
func BenchmarkFiftyDMsLanes(b *testing.B) {
	for range b.N {
		benchFifty(b, slack.StreamingAuto, true)
	}
}

func benchFifty(b *testing.B, mode string, dms bool) {
	const n = 50
	var sa *stampAgent
	r := newRigFake(b, []slackfake.Option{slackfake.WithRateLimits()}, promptevtest.Agent{Script: laneScript()},
		func(c *slack.Config) { c.Streaming = mode },
		func(_ *slackfake.Server, ag bridge.Agent) bridge.Agent {
			sa = &stampAgent{Agent: ag, stamp: map[string]time.Time{}}
			return sa
		})
	for i := range n {
		ev := r.fake.Mention(fmt.Sprintf("C%02d", i), "U1", fmt.Sprintf("conv%02d", i))
		if dms {
			ev = r.fake.DM(fmt.Sprintf("D%02d", i), "U1", fmt.Sprintf("conv%02d", i))
		}
		if _, err := r.fake.SendEvent(ev, 0); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := r.fake.WaitFor(ctx, func() bool {
		got := 0
		for _, c := range r.fake.Calls("chat.update", "chat.postMessage", "chat.stopStream") {
			if c.Error == "" && strings.Contains(string(c.Blocks)+c.Chunks, " answer") {
				got++
			}
		}
		return got >= n
	})
	if err != nil {
		b.Fatalf("not every answer shown: %v", err)
	}
	calls := r.fake.Calls()
	var stepLat, finalLat []time.Duration
	sawProgress, limited := 0, 0
	for _, c := range calls {
		if c.Error == "ratelimited" {
			limited++
		}
	}
	for i := range n {
		conv := fmt.Sprintf("conv%02d", i)
		doneAt, _ := sa.at(conv + " answer")
		saw := false
		for s := 1; s <= 20; s++ {
			at, ok := sa.at(fmt.Sprintf("%s step %02d", conv, s))
			if !ok {
				continue
			}
			for _, c := range calls {
				if c.At.Before(at) {
					continue
				}
				shown := false
				for later := s; later <= 20 && !shown; later++ {
					shown = shows(c, fmt.Sprintf("%s step %02d", conv, later))
				}
				if shown {
					stepLat = append(stepLat, c.At.Sub(at))
					if c.At.Before(doneAt) {
						saw = true
					}
					break
				}
			}
		}
		if saw {
			sawProgress++
		}
		for _, c := range calls {
			if shows(c, conv+" answer") {
				finalLat = append(finalLat, c.At.Sub(doneAt))
				break
			}
		}
	}
	slices.Sort(stepLat)
	slices.Sort(finalLat)
	b.ReportMetric(100*float64(sawProgress)/n, "%_askers_saw_progress")
	if len(stepLat) > 0 {
		b.ReportMetric(float64(stepLat[len(stepLat)*99/100].Milliseconds()), "p99_step→visible_ms")
	}
	b.ReportMetric(float64(limited), "429s")
	if len(finalLat) > 0 {
		b.ReportMetric(float64(finalLat[len(finalLat)-1].Milliseconds()), "max_done→final_ms")
	}
}

// BenchmarkDMDoneToFinalStream measures one DM conversation streamed
// natively: from the bridge reading done to chat.stopStream carrying the
// answer. One iteration is about 11 s of agent time.
func BenchmarkDMDoneToFinalStream(b *testing.B) {
	var sa *stampAgent
	r := newRigWith(b, promptevtest.Agent{Script: laneScript()}, func(c *slack.Config) { c.Streaming = slack.StreamingAuto },
		func(_ *slackfake.Server, ag bridge.Agent) bridge.Agent {
			sa = &stampAgent{Agent: ag, stamp: map[string]time.Time{}}
			return sa
		})
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		conv := fmt.Sprintf("dm%02d", i)
		ev := r.fake.DM("D1", "U1", conv)
		if _, err := r.fake.SendEvent(ev, 0); err != nil {
			b.Fatal(err)
		}
		var shownAt time.Time
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := r.fake.WaitFor(ctx, func() bool {
			for _, c := range r.fake.Calls("chat.stopStream", "chat.postMessage") {
				if shows(c, conv+" answer") {
					shownAt = c.At
					return true
				}
			}
			return false
		})
		cancel()
		if err != nil {
			b.Fatalf("answer of %s not shown: %v", conv, err)
		}
		doneAt, _ := sa.at(conv + " answer")
		lat = append(lat, shownAt.Sub(doneAt))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_done→final_ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max_done→final_ms")
	r.assertNoRejectedCalls(b)
}
