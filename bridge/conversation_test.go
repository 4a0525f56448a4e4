package bridge_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
)

func TestFirstMessageStartsSessionAndFollowUpReusesIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(func(c streamCall) []step {
			return []step{{Delay: time.Second, Type: promptev.EventDone, Out: "echo " + c.Query}}
		})
		r := startRig(t, agent)
		defer r.stop()
		key := engKey("100.1")

		r.send(key, "U1", "hello")
		synctest.Wait()
		require.Equal(t, []string{"Thinking…"}, r.texts(key), "placeholder posted before the agent answers")
		settle()
		assert.Equal(t, []string{"echo hello"}, r.texts(key))
		assert.Equal(t, []promptev.StartOptions{{Visitor: "slack:T1:U1", Platform: "slack"}}, agent.Starts())

		conv, err := r.store.GetConversation(context.Background(), key)
		require.NoError(t, err)
		assert.Equal(t, "tok-1", conv.SessionToken)
		assert.Equal(t, "slack:T1:U1", conv.Visitor)
		assert.Equal(t, "agent-1", conv.AgentID)
		assert.Equal(t, chat.ModeStream, conv.Mode)
		assert.Equal(t, 1, conv.Turns)

		// A follow-up in the known thread needs no mention and reuses the session.
		m := r.msg(key, "U2", "again")
		m.Mentioned = false
		require.NoError(t, r.b.HandleMessage(context.Background(), m))
		settle()
		assert.Equal(t, []string{"echo hello", "echo again"}, r.texts(key))
		assert.Len(t, agent.Starts(), 1, "no second session")
		assert.Equal(t, []streamCall{{"agent-1", "tok-1", "hello"}, {"agent-1", "tok-1", "again"}}, agent.Streams())
		runs, err := r.store.ListRuns(context.Background())
		require.NoError(t, err)
		assert.Empty(t, runs, "in-flight records removed after the final")
		assert.Equal(t, 2, r.metrics.count("run:done"))
		assert.Equal(t, 2, r.metrics.count("placeholder"))
	})
}

func TestVisitorPerPlatform(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(replyWith("ok"))
		p := newDiscord()
		r := startRig(t, agent, withPlatform(p))
		defer r.stop()
		key := chat.ConversationKey{Platform: "discord", Workspace: "G1", Channel: "TH1"}
		r.send(key, "42", "hi")
		settle()
		assert.Equal(t, []promptev.StartOptions{{Visitor: "discord:42", Platform: "discord"}}, agent.Starts())
		assert.Equal(t, []string{"ok"}, r.texts(key))
	})
}

// The API losing a session (404 on stream; on backend=client, for 404, the
// server really forgets its sessions) or refusing it (401) restarts the
// session once, transparently, with a note; a fresh session refused too ends
// in a notice.
func TestSessionGoneRestartsOnceWithNote(t *testing.T) {
	for _, status := range []int{404, 401} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, be backend) {
				r := startScenario(t, be, agentScript{turn: func(string) []turnEvent {
					return []turnEvent{{Type: promptev.EventDone, Out: "fine"}}
				}})
				defer r.close()
				key := engKey("1.1")
				r.send(key, "U1", "one")
				settle()
				first, err := r.store.GetConversation(t.Context(), key)
				require.NoError(t, err)

				forgotten := r.isClient() && status == 404
				if forgotten {
					r.w.srv.ForgetSessions()
				} else {
					r.w.failStreams(status, 1)
				}
				r.send(key, "U1", "two")
				settle()
				texts := r.texts(key)
				require.Len(t, texts, 3)
				assert.Equal(t, "fine", texts[0])
				assert.Equal(t, "fine", texts[1], "the answer still replaces the placeholder")
				assert.Contains(t, texts[2], "started a new one")
				assert.Equal(t, 2, r.w.starts(t))
				calls := r.streams(t)
				require.Len(t, calls, 3, "one, two on the lost session, two on the new one")
				assert.Equal(t, []string{"one", "two", "two"}, []string{calls[0].Query, calls[1].Query, calls[2].Query})
				assert.Equal(t, first.SessionToken, calls[1].Token)
				assert.NotEqual(t, first.SessionToken, calls[2].Token)
				conv, err := r.store.GetConversation(t.Context(), key)
				require.NoError(t, err)
				assert.Equal(t, calls[2].Token, conv.SessionToken, "the new session is stored")
				if r.isFake() {
					assert.Equal(t, "tok-2", conv.SessionToken, "the new session is stored")
				}
				if forgotten {
					assert.Equal(t, 1, r.w.srv.SessionCount())
				}

				// The API refusing the fresh session too ends in a notice, not a loop.
				r.w.failStreams(status, 2)
				r.send(key, "U1", "three")
				settle()
				texts = r.texts(key)
				require.Len(t, texts, 5)
				assert.Contains(t, texts[3], "⚠️")
				assert.Equal(t, 3, r.w.starts(t), "restarted exactly once")
				assert.Len(t, r.streams(t), 5)
			})
		})
	}
}

func TestTriggerModeRoute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(replyWith("unused"))
		r := startRig(t, agent, withConfig(func(c *bridge.Config) {
			c.Routes.Channels = []bridge.Route{{
				Platform: "slack", Channel: "C1",
				RouteTarget: bridge.RouteTarget{Agent: "trig", Mode: chat.ModeTrigger, Variables: map[string]any{"company": "Acme"}},
			}}
		}))
		defer r.stop()
		key := engKey("5.5")
		r.send(key, "U1", "first")
		settle()
		r.send(key, "U1", "second")
		settle()
		assert.Equal(t, []string{"triggered: first", "triggered: second"}, r.texts(key))
		assert.Empty(t, agent.Starts())
		assert.Empty(t, agent.Streams())
		tr := agent.Triggers()
		require.Len(t, tr, 2)
		assert.Equal(t, promptev.TriggerOptions{Variables: map[string]any{"company": "Acme"}, Visitor: "slack:T1:U1"}, tr[0])
		assert.Equal(t, "sid-1", tr[1].SessionID, "the stored session id continues the conversation")
		conv, err := r.store.GetConversation(context.Background(), key)
		require.NoError(t, err)
		assert.Equal(t, chat.ModeTrigger, conv.Mode)
		assert.Equal(t, "trig", conv.AgentID)
		assert.Equal(t, "sid-2", conv.SessionID)
	})
}

func TestDedupe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(replyWith("ok"))
		r := startRig(t, agent)
		defer r.stop()
		ctx := context.Background()

		// Slack: the non-mention "message" copy arriving first must not shadow the app_mention.
		key := engKey("10.1")
		asMessage := chat.InboundMessage{Key: key, User: chat.User{ID: "U1"}, Text: "hi", MessageID: "10.1", EventID: "Ev1"}
		asMention := asMessage
		asMention.EventID, asMention.Mentioned = "Ev2", true
		require.NoError(t, r.b.HandleMessage(ctx, asMessage))
		require.NoError(t, r.b.HandleMessage(ctx, asMention))
		require.NoError(t, r.b.HandleMessage(ctx, asMessage), "the message copy after the mention")
		require.NoError(t, r.b.HandleMessage(ctx, asMention), "a retry of the mention")
		settle()
		assert.Equal(t, []string{"ok"}, r.texts(key))
		assert.Len(t, agent.Streams(), 1)
		assert.Equal(t, 2, r.metrics.count("dedupe"))

		// Same event id, different message id: still a duplicate.
		key2 := engKey("11.1")
		a := chat.InboundMessage{Key: key2, User: chat.User{ID: "U1"}, Text: "x", MessageID: "11.1", EventID: "Ev9", Mentioned: true}
		b := a
		b.MessageID = "11.2"
		require.NoError(t, r.b.HandleMessage(ctx, a))
		require.NoError(t, r.b.HandleMessage(ctx, b))
		settle()
		assert.Equal(t, []string{"ok"}, r.texts(key2))

		// Both keys were marked: a delivery with only the message key is a duplicate too.
		seen, err := r.store.SeenOrMark(ctx, []string{"slack:msg:C1:11.2"}, time.Hour, time.Now())
		require.NoError(t, err)
		assert.True(t, seen)
	})
}

func TestNonMentionInUnknownConversationIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(replyWith("ok"))
		r := startRig(t, agent)
		defer r.stop()
		m := r.msg(engKey("20.1"), "U1", "chatter")
		m.Mentioned = false
		require.NoError(t, r.b.HandleMessage(context.Background(), m))
		settle()
		assert.Empty(t, r.p.Records())
		assert.Empty(t, agent.Streams())
	})
}

func TestAllowLists(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(replyWith("ok"))
		r := startRig(t, agent, withConfig(func(c *bridge.Config) {
			c.Routes.Default.AllowUsers = []string{"slack:U1", "U2"}
			c.Routes.Default.AllowChannels = []string{"C1"}
		}))
		defer r.stop()
		r.send(engKey("1"), "U9", "stranger")
		other := chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: "C2", Thread: "2"}
		r.send(other, "U1", "wrong channel")
		settle()
		assert.Empty(t, r.p.Records(), "ignored quietly")
		r.send(engKey("3"), "U1", "ok1")
		settle()
		r.send(engKey("4"), "U2", "ok2")
		settle()
		assert.Equal(t, []string{"ok"}, r.texts(engKey("3")))
		assert.Equal(t, []string{"ok"}, r.texts(engKey("4")))
	})
}

func TestQueueInOrderAndBusyWhenFull(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		r := startScenario(t, be, agentScript{turn: func(query string) []turnEvent {
			return []turnEvent{{Delay: 10 * time.Second, Type: promptev.EventDone, Out: "answer " + query}}
		}}, withConfig(func(c *bridge.Config) { c.Runs.QueueSize = 2 }))
		defer r.close()
		key := engKey("30.1")
		for i := range 5 {
			r.send(key, "U1", fmt.Sprint("q", i))
			synctest.Wait()
		}
		texts := r.texts(key)
		require.Len(t, texts, 3, "placeholder of q0 and two busy replies")
		assert.Equal(t, "Thinking…", texts[0])
		assert.Contains(t, texts[1], "still working")
		assert.Contains(t, texts[2], "still working")
		assert.Equal(t, 2, r.metrics.count("run:busy"))

		time.Sleep(35 * time.Second)
		synctest.Wait()
		var queries []string
		for _, c := range r.streams(t) {
			queries = append(queries, c.Query)
		}
		assert.Equal(t, []string{"q0", "q1", "q2"}, queries, "queued messages run in order, one at a time")
		texts = r.texts(key)
		assert.Equal(t, "answer q0", texts[0])
		assert.Equal(t, []string{"answer q1", "answer q2"}, texts[3:])
	})
}

func TestUnrelatedConversationsRunInParallel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(func(c streamCall) []step {
			return []step{{Delay: 10 * time.Second, Type: promptev.EventDone, Out: "done " + c.Query}}
		})
		r := startRig(t, agent)
		defer r.stop()
		start := time.Now()
		// Different channels: Slack's post budget is per channel.
		key := func(i int) chat.ConversationKey {
			return chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: fmt.Sprint("C", i), Thread: "1.0"}
		}
		for i := range 20 {
			r.send(key(i), "U1", fmt.Sprint(i))
		}
		synctest.Wait()
		assert.Len(t, agent.Streams(), 20, "every conversation streams at once")
		// One workspace edit budget (40/min) cannot edit 20 finals at once:
		// the finals past the 2 s deadline are posted as new replies.
		time.Sleep(12*time.Second + 100*time.Millisecond)
		synctest.Wait()
		for i := range 20 {
			assert.Contains(t, r.texts(key(i)), fmt.Sprint("done ", i))
		}
		assert.Less(t, time.Since(start), 13*time.Second)
		assert.Zero(t, r.p.ServerRateLimited())
	})
}

func TestUnknownPlatformAndClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newFakeAgent(replyWith("ok")))
		err := r.b.HandleMessage(context.Background(), chat.InboundMessage{Key: chat.ConversationKey{Platform: "irc", Channel: "x"}, Mentioned: true})
		require.Error(t, err)
		assert.True(t, strings.Contains(err.Error(), "irc"))
		require.NoError(t, r.shutdown(context.Background()))
		err = r.b.HandleMessage(context.Background(), r.msg(engKey("1"), "U1", "late"))
		assert.ErrorIs(t, err, bridge.ErrClosed)
	})
}

func TestAgentTextGetsThePlatformsMentionRule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(func(streamCall) []step {
			return []step{
				{Delay: time.Second, Type: promptev.EventProcessing, Out: "asking @team"},
				{Delay: time.Second, Type: promptev.EventDone, Out: "done, @team and <@U1>"},
			}
		})
		rule := func(s string) string { return strings.ReplaceAll(s, "@team", "@"+chat.MentionBreaker+"team") }
		p := bridgetest.NewPlatform("p", bridgetest.WorkspaceLimits(), bridgetest.WithMentions(rule))
		r := startRig(t, agent, withPlatform(p))
		defer r.stop()
		key := chat.ConversationKey{Platform: "p", Workspace: "W", Channel: "C", Thread: "1"}
		r.send(key, "U1", "hello")
		settle()
		msgs := p.Messages(key)
		require.Len(t, msgs, 1)
		assert.Equal(t, "done, @"+chat.MentionBreaker+"team and <@U1>", msgs[0].Message.Body,
			"the engine applies the platform's own rule, and only it")
		steps := 0
		for _, rec := range p.Records() {
			assert.NotContains(t, rec.Message.Status+rec.Message.Body, "@team", "no agent text reaches the platform unguarded")
			for _, st := range rec.Message.Steps {
				steps++
				assert.Equal(t, "asking @"+chat.MentionBreaker+"team", st.Text)
			}
		}
		assert.Positive(t, steps, "the step was shown")
	})
}

func TestRunEndedIsToldEveryAcceptedMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(func(c streamCall) []step {
			return []step{{Delay: 10 * time.Second, Type: promptev.EventDone, Out: "echo " + c.Query}}
		})
		var mu sync.Mutex
		var ended []string
		r := startRig(t, agent, withConfig(func(c *bridge.Config) { c.Runs.QueueSize = 1 }),
			withRunEnded(func(key chat.ConversationKey, outcome string) {
				mu.Lock()
				defer mu.Unlock()
				ended = append(ended, key.Thread+":"+outcome)
			}))
		defer r.stop()
		key := engKey("40.1")
		for _, q := range []string{"q0", "q1", "q2"} {
			r.send(key, "U1", q)
			synctest.Wait()
		}
		mu.Lock()
		assert.Equal(t, []string{"40.1:" + bridge.OutcomeBusy}, ended, "the third message is refused at once")
		mu.Unlock()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, []string{"40.1:" + bridge.OutcomeBusy, "40.1:" + bridge.OutcomeDone, "40.1:" + bridge.OutcomeDone}, ended)
	})
}

func TestBareMentionGetsHintAndNoRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(replyWith("ok"))
		r := startRig(t, agent)
		defer r.stop()
		ctx := context.Background()
		key := engKey("30.1")

		bare := r.msg(key, "U1", "  \n ")
		require.NoError(t, r.b.HandleMessage(ctx, bare))
		settle()
		assert.Equal(t, []string{chat.EmptyQuestionText}, r.texts(key), "a hint in the thread")
		assert.Empty(t, agent.Starts(), "no session")
		assert.Empty(t, agent.Streams(), "no run")

		// A redelivery of the same bare mention is deduplicated: one hint.
		require.NoError(t, r.b.HandleMessage(ctx, bare))
		settle()
		assert.Equal(t, []string{chat.EmptyQuestionText}, r.texts(key))
		assert.Equal(t, 1, r.metrics.count("dedupe"))

		// The question that follows runs as usual.
		r.send(key, "U1", "what now?")
		settle()
		assert.Equal(t, []string{chat.EmptyQuestionText, "ok"}, r.texts(key))
		assert.Len(t, agent.Streams(), 1)
	})
}
