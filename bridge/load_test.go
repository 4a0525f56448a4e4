package bridge_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
)

// statusFlow streams n status events every interval, then answers with
// "final <query>".
func statusFlow(n int, interval time.Duration) agentScript {
	return agentScript{turn: func(query string) []turnEvent {
		evs := make([]turnEvent, 0, n+1)
		for i := range n {
			evs = append(evs, turnEvent{Delay: interval, Type: promptev.EventProcessing, Out: fmt.Sprintf("%s step %d", query, i)})
		}
		return append(evs, turnEvent{Delay: interval, Type: promptev.EventDone, Out: "final " + query})
	}}
}

// maxPerWindow is the most times that fall in any window [t, t+w).
func maxPerWindow(times []time.Time, w time.Duration) int {
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	best, lo := 0, 0
	for hi := range times {
		for times[hi].Sub(times[lo]) >= w {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// firstShown returns when text first became visible in key (posted or edited in).
func firstShown(p *bridgetest.Platform, key chat.ConversationKey, text string) (time.Time, bool) {
	for _, rec := range p.Records() {
		if rec.Err == nil && rec.Key == key && (rec.Op == bridgetest.OpPost || rec.Op == bridgetest.OpEdit) &&
			rec.Message.Body == text {
			return rec.Time, true
		}
	}
	return time.Time{}, false
}

// 50 conversations in one Slack-like workspace, each streaming 20 status
// events over 10 s: the workspace's edit budget (40/min) is never exceeded,
// the server never answers 429, and every final is visible within 3 s of its
// done event.
func TestFiftyConversationsShareOneWorkspace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		r := startScenario(t, be, statusFlow(20, 500*time.Millisecond)) // Slack limits, Slack-like server limits (50 edits/min per workspace)
		defer r.close()
		start := time.Now()
		keys := make([]chat.ConversationKey, 50)
		for i := range keys {
			keys[i] = chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: fmt.Sprint("C", i), Thread: "1.0"}
			r.send(keys[i], "U1", fmt.Sprint("conv", i))
		}
		doneAt := start.Add(21 * 500 * time.Millisecond) // the done event of every conversation
		time.Sleep(3 * time.Minute)
		synctest.Wait()

		var edits []time.Time
		for _, rec := range r.p.Applied(bridgetest.OpEdit) {
			edits = append(edits, rec.Time)
		}
		assert.LessOrEqual(t, maxPerWindow(edits, time.Minute), 40, "edits per minute in the workspace")
		assert.Zero(t, r.p.ServerRateLimited(), "the bridge caused no 429")
		assert.Zero(t, r.p.RateLimited())
		var worst time.Duration
		for i, key := range keys {
			at, ok := firstShown(r.p, key, fmt.Sprint("final conv", i))
			require.True(t, ok, "final of conversation %d visible", i)
			worst = max(worst, at.Sub(doneAt))
			for _, text := range r.texts(key) {
				assert.NotContains(t, text, "Thinking", "no eternal placeholder in %d", i)
			}
		}
		assert.LessOrEqual(t, worst, 3*time.Second, "slowest final after its done")
		assert.Equal(t, 50, r.metrics.count("run:done"))
		assert.Equal(t, 50*20, r.metrics.count("event:processing"), "every status event crossed the wire")
		assert.Len(t, r.streams(t), 50)
		t.Logf("edits=%d max/min=%d worst final latency=%s", len(edits), maxPerWindow(edits, time.Minute), worst)
	})
}

// A storm of 429s loses no final answer.
func TestRateLimitStormLosesNoFinal(t *testing.T) {
	for _, name := range []string{"slack", "discord"} {
		t.Run(name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, be backend) {
				p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
				if name == "discord" {
					p = newDiscord()
				}
				r := startScenario(t, be, statusFlow(6, 300*time.Millisecond), withPlatform(p))
				defer r.close()
				keys := make([]chat.ConversationKey, 10)
				for i := range keys {
					keys[i] = chat.ConversationKey{Platform: name, Workspace: "W1", Channel: fmt.Sprint("C", i%3), Thread: fmt.Sprint(i)}
					r.send(keys[i], "U1", fmt.Sprint("storm", i))
				}
				time.Sleep(time.Second)
				p.Inject429(40, 3*time.Second)
				time.Sleep(5 * time.Minute)
				synctest.Wait()
				assert.Positive(t, p.RateLimited(), "the storm happened")
				for i, key := range keys {
					texts := strings.Join(r.texts(key), "\n")
					assert.Contains(t, texts, fmt.Sprint("final storm", i))
					assert.NotContains(t, texts, "Thinking")
					assert.NotContains(t, texts, fmt.Sprintf("storm%d step", i), "no stale status left")
				}
				assert.Equal(t, 10, r.metrics.count("run:done"))
			})
		})
	}
}
