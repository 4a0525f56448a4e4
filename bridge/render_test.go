package bridge_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
)

func TestLiveStatusStepsAndThoughts(t *testing.T) {
	tests := []struct {
		name     string
		thoughts string
		want     chat.Message
	}{
		{"latest thought", bridge.ThoughtsLatest, chat.Message{Kind: chat.KindStatus, Status: "Writing report", Thought: "now write",
			Steps: []chat.Step{{Text: "Reading Jira", Done: true, Seq: 2}, {Text: "Searching wiki", Done: true, Seq: 3}, {Text: "Writing report", Seq: 4}}}},
		{"thoughts off", bridge.ThoughtsOff, chat.Message{Kind: chat.KindStatus, Status: "Writing report",
			Steps: []chat.Step{{Text: "Reading Jira", Done: true, Seq: 2}, {Text: "Searching wiki", Done: true, Seq: 3}, {Text: "Writing report", Seq: 4}}}},
		{"all thoughts", bridge.ThoughtsAll, chat.Message{Kind: chat.KindStatus, Status: "Writing report", Thought: "plan\nnow write",
			Steps: []chat.Step{{Text: "Reading Jira", Done: true, Seq: 2}, {Text: "Searching wiki", Done: true, Seq: 3}, {Text: "Writing report", Seq: 4}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				agent := newFakeAgent(func(streamCall) []step {
					return []step{
						{Type: promptev.EventThoughts, Out: "plan"},
						{Delay: 2 * time.Second, Type: promptev.EventProcessing, Out: "Searching Jira"},
						{Delay: 2 * time.Second, Type: promptev.EventProcessing, Out: "Reading Jira"},
						{Delay: 2 * time.Second, Type: promptev.EventProcessing, Out: "Searching wiki"},
						{Delay: 2 * time.Second, Type: promptev.EventThoughts, Out: "now write"},
						{Type: promptev.EventProcessing, Out: "Writing report"},
						{Delay: 20 * time.Second, Type: promptev.EventDone, Out: "Report ready"},
					}
				})
				r := startRig(t, agent, withConfig(func(c *bridge.Config) {
					c.Render.Steps = 3
					c.Render.ShowThoughts = tt.thoughts
				}))
				defer r.stop()
				key := engKey("1")
				r.send(key, "U1", "report please")
				time.Sleep(12 * time.Second)
				synctest.Wait()
				refs := r.refs(key)
				require.Len(t, refs, 1)
				got := r.p.Current(refs[0])
				require.Len(t, got.Buttons, 1, "the live status carries its run's Stop")
				assert.Equal(t, chat.Stop, got.Buttons[0].Kind)
				got.Buttons = nil
				assert.Equal(t, tt.want, got)
				assert.Equal(t, 1, r.metrics.count("first_status"))

				time.Sleep(20 * time.Second)
				settle()
				assert.Equal(t, []string{"Report ready"}, r.texts(key))
				assert.Equal(t, 4, r.metrics.count("event:processing"))
			})
		})
	}
}

func TestLongAnswerSplitAndMentionsNeutralised(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		para := strings.Repeat("Ünïcödé wörds and more words. ", 40) // 1,200 runes
		long := "Hi <!channel> and @everyone, <@U123>!\n\n" + para + "\n\n" + para + "\n\n```go\n" +
			strings.Repeat("fmt.Println(\"x\")\n", 150) + "```\n\n" + para
		agent := newFakeAgent(replyWith(long))
		p := newDiscord() // 1,900 runes per message
		r := startRig(t, agent, withPlatform(p))
		defer r.stop()
		key := chat.ConversationKey{Platform: "discord", Workspace: "G1", Channel: "TH1"}
		r.send(key, "42", "long please")
		time.Sleep(30 * time.Second)
		synctest.Wait()

		msgs := p.Messages(key)
		require.Greater(t, len(msgs), 2, "split into several messages")
		var all strings.Builder
		for i, m := range msgs {
			body := m.Message.Body
			assert.LessOrEqual(t, utf8.RuneCountInString(body), 1900, "chunk %d fits", i)
			assert.True(t, utf8.ValidString(body))
			assert.Equal(t, 0, strings.Count(body, "```")%2, "chunk %d has balanced fences", i)
			assert.Equal(t, chat.KindAnswer, m.Message.Kind)
			all.WriteString(body)
		}
		text := all.String()
		assert.NotContains(t, text, "<!channel>")
		assert.NotContains(t, text, "@everyone")
		assert.NotContains(t, text, "<@U123>")
		assert.Zero(t, p.ServerRateLimited())
	})
}

func TestFailureEndings(t *testing.T) {
	tests := []struct {
		name   string
		steps  []step
		wait   time.Duration
		notice string
	}{
		{"error event", []step{{Type: promptev.EventProcessing, Out: "Working"}, {Type: promptev.EventError, Out: "tool crashed"}},
			0, "⚠️ The agent reported an error: tool crashed"},
		{"stream failure", []step{{Type: promptev.EventProcessing, Out: "Working"}, {Err: &promptev.Error{Message: "connection reset"}}},
			0, "Lost the connection"},
		{"EOF without done", []step{{Type: promptev.EventProcessing, Out: "Working"}},
			0, "ended unexpectedly"},
		{"client incomplete stream", []step{{Err: promptev.ErrIncompleteStream}},
			0, "ended unexpectedly"},
		{"client idle", []step{{Err: fmt.Errorf("read: %w", promptev.ErrStreamIdle)}},
			0, "stopped responding"},
		{"run timeout", []step{{Type: promptev.EventProcessing, Out: "Working"}, {Delay: 90 * time.Second, Type: promptev.EventProcessing, Out: "Still"},
			{Delay: 90 * time.Second, Type: promptev.EventProcessing, Out: "Still"}, {Delay: 90 * time.Second, Type: promptev.EventDone, Out: "late"}},
			5 * time.Minute, "took longer than 4m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				agent := newFakeAgent(func(streamCall) []step { return tt.steps })
				r := startRig(t, agent, withConfig(func(c *bridge.Config) { c.Runs.RunTimeout = 4 * time.Minute }))
				defer r.stop()
				key := engKey("1")
				r.send(key, "U1", "go")
				time.Sleep(tt.wait)
				settle()
				texts := r.texts(key)
				require.Len(t, texts, 1)
				assert.Contains(t, texts[0], tt.notice)
				assert.NotContains(t, texts[0], "Thinking")
				assert.Equal(t, 1, r.metrics.count("run:error"))
				runs, err := r.store.ListRuns(t.Context())
				require.NoError(t, err)
				assert.Empty(t, runs)
			})
		})
	}
}

func TestAgentUnavailableNotices(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		notice string
	}{
		{"rate limited", &promptev.Error{StatusCode: 429}, "busy"},
		{"server error", &promptev.Error{StatusCode: 503}, "failed"},
		{"unknown agent", &promptev.Error{StatusCode: 404}, "not found"},
		{"forbidden", &promptev.Error{StatusCode: 403}, "authenticate"},
		{"network", errors.New("dial tcp: refused"), "Lost the connection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				agent := newFakeAgent(replyWith("never"))
				agent.startErr = tt.err
				r := startRig(t, agent)
				defer r.stop()
				r.send(engKey("1"), "U1", "go")
				settle()
				texts := r.texts(engKey("1"))
				require.Len(t, texts, 1)
				assert.Contains(t, texts[0], tt.notice)
				_, err := r.store.GetConversation(t.Context(), engKey("1"))
				assert.ErrorIs(t, err, chat.ErrNotFound, "no session stored")
			})
		})
	}
}

// 100 processing events within one second produce at most 2 edits, 1 s apart,
// and the message ends on the last state.
func TestBurstOfStatusEventsCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(func(streamCall) []step {
			s := make([]step, 0, 101)
			for i := range 100 {
				s = append(s, step{Delay: 10 * time.Millisecond, Type: promptev.EventProcessing, Out: fmt.Sprint("status ", i)})
			}
			return append(s, step{Delay: time.Minute, Type: promptev.EventDone, Out: "end"})
		})
		r := startRig(t, agent)
		defer r.stop()
		key := engKey("1")
		r.send(key, "U1", "burst")
		time.Sleep(5 * time.Second)
		synctest.Wait()
		refs := r.refs(key)
		require.Len(t, refs, 1)
		var edits []bridgetest.Record
		for _, rec := range r.p.Applied(bridgetest.OpEdit) {
			if rec.Ref.ID == refs[0].ID {
				edits = append(edits, rec)
			}
		}
		require.NotEmpty(t, edits)
		assert.LessOrEqual(t, len(edits), 2)
		for i := 1; i < len(edits); i++ {
			assert.GreaterOrEqual(t, edits[i].Time.Sub(edits[i-1].Time), time.Second)
		}
		assert.Equal(t, "status 99", r.p.Current(refs[0]).Status, "ends on the latest state")
		assert.Equal(t, 100, r.metrics.count("event:processing"))
	})
}
