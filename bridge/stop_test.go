package bridge_test

import (
	"context"
	"strings"
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

// slowFlow works for a while before it answers: a step at once, a second
// one after 2 s, the answer after 30 s.
var slowFlow = agentScript{
	turn: func(q string) []turnEvent {
		return []turnEvent{
			{Type: promptev.EventProcessing, Out: "Searching Jira"},
			{Delay: 2 * time.Second, Type: promptev.EventProcessing, Out: "Reading CI logs"},
			{Delay: 30 * time.Second, Type: promptev.EventDone, Out: "Answer to " + q},
		}
	},
}

// lateFlow sends its first event only after 10 s.
var lateFlow = agentScript{
	turn: func(q string) []turnEvent {
		return []turnEvent{{Delay: 10 * time.Second, Type: promptev.EventDone, Out: "Answer to " + q}}
	},
}

// buttonOf returns the button of kind that ref shows, as the Action a click
// on it hands the bridge; ok is false when ref shows none.
func buttonOf(p *bridgetest.Platform, ref chat.MessageRef, kind chat.ActionKind) (chat.Action, bool) {
	for _, a := range p.Buttons(ref) {
		if a.Kind == kind {
			return a, true
		}
	}
	return chat.Action{}, false
}

// press clicks act as user.
func press(t *testing.T, r *rig, act chat.Action, user string) chat.ActionResult {
	t.Helper()
	act.User = chat.User{ID: user, Name: "name-" + user}
	act.Received = time.Now()
	res, err := r.b.HandleAction(context.Background(), act)
	require.NoError(t, err)
	return res
}

// assertNoStopLeft checks that no message of key carries a Stop button.
func assertNoStopLeft(t *testing.T, r *rig, key chat.ConversationKey) {
	t.Helper()
	for _, m := range r.p.Messages(key) {
		_, ok := buttonOf(r.p, m.Ref, chat.Stop)
		assert.False(t, ok, "message %s still carries Stop: %q", m.Ref.ID, r.p.Text(m.Ref))
	}
}

// lastStatus returns the last status indicator call of key ("" clears it).
func lastStatus(p *bridgetest.Platform, key chat.ConversationKey) (string, bool) {
	recs := p.Applied(bridgetest.OpStatus)
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Key == key {
			return recs[i].Text, true
		}
	}
	return "", false
}

// TestStopDuringStatus stops a run while it shows its steps: within 2 s the
// agent stream is closed (on the HTTP backend the server sees the client
// go away before done), the live message reads "Stopped by" its presser
// with the steps seen so far and no Stop, the working indicator is cleared,
// and no answer is ever posted. The next message continues the same agent
// session.
func TestStopDuringStatus(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		r := startScenario(t, be, slowFlow)
		defer r.close()
		key := engKey("1")
		r.send(key, "U1", "why?")
		time.Sleep(3 * time.Second)
		settle()
		refs := r.refs(key)
		require.Len(t, refs, 1)
		stop, ok := buttonOf(r.p, refs[0], chat.Stop)
		require.True(t, ok, "the live message carries Stop")
		assert.Equal(t, "Stop", r.p.Current(refs[0]).Buttons[0].Label)

		pressed := time.Now()
		res := press(t, r.rig, stop, "U1")
		require.True(t, res.Accepted)
		assert.Empty(t, res.Notice)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		require.NoError(t, r.p.WaitFor(ctx, func() bool {
			return strings.Contains(r.p.Text(refs[0]), "⏹ Stopped by name-U1")
		}), "Stopped within 2 s; now %q", r.p.Text(refs[0]))
		assert.Less(t, time.Since(pressed), 2*time.Second)
		text := r.p.Text(refs[0])
		assert.Contains(t, text, "Searching Jira", "the steps seen so far stay")
		assert.Contains(t, text, "Reading CI logs")
		synctest.Wait()
		if r.isClient() {
			assert.Equal(t, 1, r.w.srv.StreamsClosedByClient(), "the HTTP request was cancelled before done")
		}
		status, ok := lastStatus(r.p, key)
		require.True(t, ok)
		assert.Empty(t, status, "the working indicator is cleared")

		time.Sleep(time.Minute)
		settle()
		assert.Len(t, r.p.Messages(key), 1, "no answer is posted")
		assert.Len(t, r.streams(t), 1, "no further stream call")
		assert.Contains(t, r.p.Text(refs[0]), "Stopped by name-U1")
		assertNoStopLeft(t, r.rig, key)
		assert.Equal(t, 1, r.metrics.count("run:stopped"))

		again := press(t, r.rig, stop, "U1")
		assert.False(t, again.Accepted)
		assert.Equal(t, "Already stopped by name-U1; nothing was changed.", again.Notice)

		r.send(key, "U1", "and now?")
		time.Sleep(time.Minute)
		settle()
		streams := r.streams(t)
		require.Len(t, streams, 2)
		assert.Equal(t, streams[0].Token, streams[1].Token, "same agent session")
		assert.Equal(t, "and now?", streams[1].Query)
		assert.Equal(t, 1, r.w.starts(t), "no new session")
		assert.Contains(t, r.texts(key)[1], "Answer to and now?")
	})
}

// TestStopBeforeFirstEvent stops a run whose agent has sent nothing yet.
func TestStopBeforeFirstEvent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		r := startScenario(t, be, lateFlow)
		defer r.close()
		key := engKey("1")
		r.send(key, "U1", "why?")
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		refs := r.refs(key)
		require.Len(t, refs, 1)
		stop, ok := buttonOf(r.p, refs[0], chat.Stop)
		require.True(t, ok, "Stop is there from the placeholder's first post")
		posts := r.p.Applied(bridgetest.OpPost)
		require.NotEmpty(t, posts)
		require.NotEmpty(t, posts[0].Message.Buttons, "the first post itself carries Stop")

		require.True(t, press(t, r.rig, stop, "U1").Accepted)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.Contains(t, r.p.Text(refs[0]), "⏹ Stopped by name-U1")
		if r.isClient() {
			assert.Equal(t, 1, r.w.srv.StreamsClosedByClient())
		}
		time.Sleep(time.Minute)
		settle()
		assert.Len(t, r.p.Messages(key), 1)
		assertNoStopLeft(t, r.rig, key)
	})
}

// TestStopForeignPress: someone else's press is refused with a notice, the
// message is left as it was and the run gives its answer.
func TestStopForeignPress(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		r := startScenario(t, be, slowFlow)
		defer r.close()
		key := engKey("1")
		r.send(key, "U1", "why?")
		time.Sleep(3 * time.Second)
		settle()
		ref := r.refs(key)[0]
		before := r.p.Text(ref)
		edits := len(r.p.Applied(bridgetest.OpEdit))
		stop, ok := buttonOf(r.p, ref, chat.Stop)
		require.True(t, ok)
		res := press(t, r.rig, stop, "U2")
		assert.False(t, res.Accepted)
		assert.Equal(t, "You are not allowed to stop this run; it goes on.", res.Notice)
		settle()
		assert.Equal(t, before, r.p.Text(ref), "the message is unchanged")
		assert.Len(t, r.p.Applied(bridgetest.OpEdit), edits)
		time.Sleep(time.Minute)
		settle()
		assert.Equal(t, []string{"Answer to why?"}, r.texts(key))
		assertNoStopLeft(t, r.rig, key)
		late := press(t, r.rig, stop, "U1")
		assert.False(t, late.Accepted, "a press after the run ended changes nothing")
		assert.Equal(t, "This run has already ended; nothing was changed.", late.Notice)
		assert.Equal(t, []string{"Answer to why?"}, r.texts(key))
	})
}

// TestStopPolicies: runs.stop_policy decides who may stop.
func TestStopPolicies(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*bridge.Config)
		presser string
		allowed bool
	}{
		{"requester by default: the asker", func(*bridge.Config) {}, "U1", true},
		{"requester by default: someone else", func(*bridge.Config) {}, "U2", false},
		{"anyone", func(c *bridge.Config) { c.Runs.StopPolicy = bridge.PolicyAnyone }, "U2", true},
		{"approvers: listed", func(c *bridge.Config) {
			c.Runs.StopPolicy = bridge.PolicyApprovers
			c.Approvals.Approvers = []string{"slack:U3"}
		}, "U3", true},
		{"approvers: the asker is not listed", func(c *bridge.Config) {
			c.Runs.StopPolicy = bridge.PolicyApprovers
			c.Approvals.Approvers = []string{"slack:U3"}
		}, "U1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := startScenario(t, backendFake, slowFlow, withConfig(tt.edit))
				defer r.close()
				key := engKey("1")
				r.send(key, "U1", "why?")
				time.Sleep(3 * time.Second)
				settle()
				stop, ok := buttonOf(r.p, r.refs(key)[0], chat.Stop)
				require.True(t, ok)
				res := press(t, r.rig, stop, tt.presser)
				assert.Equal(t, tt.allowed, res.Accepted, res.Notice)
				time.Sleep(time.Minute)
				settle()
				if tt.allowed {
					assert.Contains(t, r.texts(key)[0], "Stopped by name-"+tt.presser)
				} else {
					assert.Equal(t, []string{"Answer to why?"}, r.texts(key))
				}
			})
		})
	}
}

// TestStopDoublePress: of two presses (and a replay of the first), one
// stops the run and the others say it is already stopped.
func TestStopDoublePress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startScenario(t, backendFake, slowFlow, withConfig(func(c *bridge.Config) { c.Runs.StopPolicy = bridge.PolicyAnyone }))
		defer r.close()
		key := engKey("1")
		r.send(key, "U1", "why?")
		time.Sleep(3 * time.Second)
		settle()
		stop, ok := buttonOf(r.p, r.refs(key)[0], chat.Stop)
		require.True(t, ok)
		first := press(t, r.rig, stop, "U1")
		second := press(t, r.rig, stop, "U2")
		replay := press(t, r.rig, stop, "U1")
		assert.True(t, first.Accepted)
		assert.False(t, second.Accepted)
		assert.Equal(t, "Already stopped by name-U1; nothing was changed.", second.Notice)
		assert.False(t, replay.Accepted)
		settle()
		assert.Contains(t, r.texts(key)[0], "Stopped by name-U1")
		assert.Equal(t, 1, r.metrics.count("run:stopped"))
	})
}

// TestStopAfterDoneAndDuringFinal: once done has arrived the answer wins,
// also while its final edit is still on its way; a Stop then changes
// nothing and says so.
func TestStopAfterDoneAndDuringFinal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		flow := agentScript{turn: func(string) []turnEvent {
			return []turnEvent{
				{Type: promptev.EventProcessing, Out: "Searching Jira"},
				{Delay: 5 * time.Second, Type: promptev.EventDone, Out: "The answer"},
			}
		}}
		r := startScenario(t, backendFake, flow)
		defer r.close()
		key := engKey("1")
		r.send(key, "U1", "why?")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		ref := r.refs(key)[0]
		stop, ok := buttonOf(r.p, ref, chat.Stop)
		require.True(t, ok, "%q %+v", r.texts(key), r.p.Current(ref))
		// The final edit takes 3 s to be applied: press while it is on its way.
		r.p.SetLatency(3 * time.Second)
		time.Sleep(3500 * time.Millisecond) // done arrives 5 s after the send
		synctest.Wait()
		require.Equal(t, "Searching Jira", r.p.Current(ref).Status, "the final edit is still on its way")
		res := press(t, r.rig, stop, "U1")
		assert.False(t, res.Accepted)
		assert.Equal(t, "This run has already ended; nothing was changed.", res.Notice)
		r.p.SetLatency(0)
		time.Sleep(10 * time.Second)
		settle()
		assert.Equal(t, []string{"The answer"}, r.texts(key))
		assertNoStopLeft(t, r.rig, key)
		res = press(t, r.rig, stop, "U1")
		assert.Equal(t, "This run has already ended; nothing was changed.", res.Notice)
		assert.Zero(t, r.metrics.count("run:stopped"))
	})
}

// TestStopWhileCardPending stops a run that waits for its approval: the
// request is decided as stopped (card edited, its buttons gone), the live
// message says Stopped, and the agent gets no answer to the request.
func TestStopWhileCardPending(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		r := startScenario(t, be, approvalFlow)
		defer r.close()
		key := engKey("1")
		cardRef, a := pendingApproval(t, r.rig, key)
		live := r.refs(key)[0]
		assert.Contains(t, r.p.Text(live), "Waiting for approval")
		stop, ok := buttonOf(r.p, live, chat.Stop)
		require.True(t, ok, "a waiting run can be stopped")
		streams := len(r.streams(t))

		require.True(t, press(t, r.rig, stop, "U1").Accepted)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.Contains(t, r.p.Text(live), "⏹ Stopped by name-U1")
		assert.Contains(t, r.p.Text(live), "Looking at branches")
		got, err := r.store.GetApproval(context.Background(), a.ID)
		require.NoError(t, err)
		assert.Equal(t, chat.ApprovalStopped, got.State)
		assert.Equal(t, chat.ApprovalStopped, r.p.Current(cardRef).Approval.State)
		assert.Zero(t, r.p.ButtonCount(cardRef), "the card lost its buttons")

		res := click(r.rig, a.ID, "U1", chat.Approve)
		assert.False(t, res.Accepted)
		assert.Equal(t, "Already stopped by name-U1", res.Notice)
		time.Sleep(time.Minute)
		settle()
		assert.Len(t, r.streams(t), streams, "the agent is not told anything")
		assertNoStopLeft(t, r.rig, key)
	})
}

// TestStopAfterApproval: once the request is approved, the waiting message
// loses its Stop, and a press on it (a replay) says the run went on.
func TestStopAfterApproval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startScenario(t, backendFake, approvalFlow)
		defer r.close()
		key := engKey("1")
		_, a := pendingApproval(t, r.rig, key)
		live := r.refs(key)[0]
		stop, ok := buttonOf(r.p, live, chat.Stop)
		require.True(t, ok)
		require.True(t, click(r.rig, a.ID, "U1", chat.Approve).Accepted)
		time.Sleep(10 * time.Second)
		settle()
		assert.Contains(t, r.p.Text(live), "Continuing: approved by name-U1")
		assertNoStopLeft(t, r.rig, key)
		res := press(t, r.rig, stop, "U1")
		assert.False(t, res.Accepted)
		assert.Contains(t, res.Notice, "already")
		assert.Contains(t, r.texts(key)[2], "Deleted the branch.")
	})
}

// TestStopWaitingAfterRestart: a Stop on a waiting run's message works in
// the next process (the run record and the request are in the store).
func TestStopWaitingAfterRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newAgentWorld(backendFake, approvalFlow)
		store := bridgetest.NewMemStore()
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		first := w.start(t, withStore(store), withPlatform(p))
		key := engKey("1")
		cardRef, a := pendingApproval(t, first.rig, key)
		live := first.refs(key)[0]
		stop, ok := buttonOf(p, live, chat.Stop)
		require.True(t, ok)
		first.close()

		second := w.start(t, withStore(store), withPlatform(p))
		defer second.close()
		require.True(t, press(t, second.rig, stop, "U1").Accepted)
		time.Sleep(2 * time.Second)
		settle()
		assert.Contains(t, p.Text(live), "Stopped by name-U1")
		assert.Equal(t, chat.ApprovalStopped, p.Current(cardRef).Approval.State)
		got, err := store.GetApproval(context.Background(), a.ID)
		require.NoError(t, err)
		assert.Equal(t, chat.ApprovalStopped, got.State)
		res := press(t, second.rig, stop, "U1")
		assert.Equal(t, "Already stopped by name-U1; nothing was changed.", res.Notice)
	})
}

// TestStopPolicyValidation: runs.stop_policy is checked with its YAML path.
func TestStopPolicyValidation(t *testing.T) {
	c := testConfig()
	c.Runs.StopPolicy = "everyone"
	assert.Contains(t, c.Validate().Error(), `runs.stop_policy: must be requester, approvers or anyone, not "everyone"`)
	c.Runs.StopPolicy = bridge.PolicyApprovers
	assert.Contains(t, c.Validate().Error(), "runs.stop_policy: is approvers, so approvals.approvers must list at least one approver")
	c.Approvals.Approvers = []string{"slack:U1"}
	assert.NoError(t, c.Validate().Err())
	assert.Equal(t, bridge.PolicyRequester, bridge.DefaultConfig().Runs.StopPolicy)
}

// TestStopConversation: a platform's own stop control names the
// conversation; it stops the run under way there like the button, is
// refused for others, and with nothing running changes nothing.
func TestStopConversation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startScenario(t, backendFake, slowFlow)
		defer r.close()
		key := engKey("1")
		act := chat.Action{Platform: "slack", Kind: chat.StopConversation, Target: key.String()}
		res := press(t, r.rig, act, "U1")
		assert.True(t, res.Accepted)
		assert.Equal(t, "No run is under way here; nothing was stopped.", res.Notice)

		r.send(key, "U1", "why?")
		time.Sleep(3 * time.Second)
		settle()
		res = press(t, r.rig, act, "U2")
		assert.False(t, res.Accepted)
		assert.Contains(t, res.Notice, "not allowed")
		res = press(t, r.rig, act, "U1")
		require.True(t, res.Accepted)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.Contains(t, r.texts(key)[0], "⏹ Stopped by name-U1")
		res = press(t, r.rig, chat.Action{Platform: "slack", Kind: chat.StopConversation, Target: "not a key"}, "U1")
		assert.False(t, res.Accepted)
	})
}
