package bridge_test

import (
	"context"
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

// approvalFlow asks for approval on an ordinary query and answers the
// approve and deny queries.
var approvalFlow = agentScript{
	turn: func(string) []turnEvent {
		return []turnEvent{
			{Type: promptev.EventProcessing, Out: "Looking at branches"},
			{Delay: 2 * time.Second, Type: promptev.EventApprovalRequired, Out: "Delete branch <!channel> old-feature?", Tool: "git.delete_branch",
				Args: map[string]any{"branch": "old-feature", "force": true}},
		}
	},
	onApprove: []turnEvent{{Type: promptev.EventProcessing, Out: "Deleting"}, {Delay: time.Second, Type: promptev.EventDone, Out: "Deleted the branch."}},
	onDeny:    []turnEvent{{Type: promptev.EventDone, Out: "Okay, not deleting."}},
}

// approvalScript is approvalFlow for the fakeAgent.
func approvalScript(c streamCall) []step { return approvalFlow.fake()(c) }

// pendingApproval runs a message up to its approval card and returns the card's ref and record.
func pendingApproval(t *testing.T, r *rig, key chat.ConversationKey) (chat.MessageRef, chat.Approval) {
	t.Helper()
	r.send(key, "U1", "clean up branches")
	time.Sleep(3 * time.Second)
	settle()
	msgs := r.p.Messages(key)
	require.Len(t, msgs, 2, "placeholder and card")
	card := msgs[1]
	require.Equal(t, chat.KindApproval, card.Message.Kind)
	require.NotNil(t, card.Message.Approval)
	a, err := r.store.GetApproval(context.Background(), card.Message.Approval.ID)
	require.NoError(t, err)
	return card.Ref, a
}

func click(r *rig, id, user string, d chat.ActionKind) chat.ActionResult {
	res, err := r.b.HandleAction(context.Background(), chat.Action{
		Platform: "slack", Kind: d, Target: id, User: chat.User{ID: user, Name: "name-" + user},
	})
	require.NoError(r.t, err)
	return res
}

func TestApprovalCardAndApprove(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		r := startScenario(t, be, approvalFlow)
		defer r.close()
		key := engKey("1")
		start := time.Now()
		cardRef, a := pendingApproval(t, r.rig, key)

		// The card and the stored record.
		card := r.p.Current(cardRef).Approval
		assert.Equal(t, "git.delete_branch", card.Tool)
		assert.Contains(t, card.Description, "Delete branch")
		assert.NotContains(t, card.Description, "<!channel>", "mentions neutralised")
		assert.Equal(t, `{"branch":"old-feature","force":true}`, card.Arguments)
		assert.Equal(t, chat.ApprovalPending, card.State)
		assert.Equal(t, 3, r.p.ButtonCount(cardRef), "approve, deny, deny with reason")
		assert.Len(t, a.ID, 32)
		assert.Equal(t, a.ID, card.ID)
		assert.Equal(t, "U1", a.Requester)
		assert.Equal(t, cardRef.ID, a.Card.ID)
		assert.Len(t, a.ArgumentsDigest, 64)
		assert.WithinDuration(t, start.Add(30*time.Minute), a.Expires, 10*time.Second)
		placeholder := r.p.Messages(key)[0]
		assert.Equal(t, "⏸ Waiting for approval", placeholder.Message.Status)
		assert.True(t, placeholder.Message.Final)
		assert.Equal(t, 1, r.metrics.count("run:approval"))
		runs, err := r.store.ListRuns(t.Context())
		require.NoError(t, err)
		assert.Empty(t, runs)

		// The requester approves: only the store is touched synchronously.
		// With a slow platform, any platform call inside HandleAction would
		// show as elapsed (fake) time and as a record.
		r.p.SetLatency(time.Second)
		edits, before := len(r.p.Records()), time.Now()
		res := click(r.rig, a.ID, "U1", chat.Approve)
		assert.Equal(t, chat.ActionResult{Accepted: true}, res)
		assert.Zero(t, time.Since(before), "HandleAction does no platform I/O")
		assert.Len(t, r.p.Records(), edits, "HandleAction does no platform I/O")
		r.p.SetLatency(0)
		time.Sleep(2 * time.Second)
		settle()

		card = r.p.Current(cardRef).Approval
		assert.Equal(t, chat.ApprovalApproved, card.State)
		assert.Equal(t, "name-U1", card.DecidedBy)
		assert.Zero(t, r.p.ButtonCount(cardRef), "buttons removed")
		assert.Contains(t, r.p.Text(cardRef), "Approved by name-U1")
		texts := r.texts(key)
		require.Len(t, texts, 3, "the continuation has a new placeholder")
		assert.Equal(t, "Deleted the branch.", texts[2])
		calls := r.streams(t)
		require.Len(t, calls, 2)
		assert.Equal(t, "clean up branches", calls[0].Query)
		assert.Equal(t, streamRequest{Token: calls[0].Token, Query: "approve"}, calls[1], "same session, approve query")
		if r.isFake() {
			assert.Equal(t, streamCall{"agent-1", "tok-1", "approve"}, r.w.fake.Streams()[1], "same session, approve query")
		}
		stored, err := r.store.GetApproval(t.Context(), a.ID)
		require.NoError(t, err)
		assert.Equal(t, chat.ApprovalApproved, stored.State)
		assert.Equal(t, "U1", stored.DecidedBy)
		assert.Equal(t, 1, r.metrics.count("approval:approved"))
		assert.Equal(t, 1, r.w.starts(t), "one session for the whole round trip")
		if r.isClient() {
			assert.Equal(t, 1, r.w.srv.SessionCount(), "one session for the whole round trip")
		}
	})
}

func TestApprovalDeny(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(approvalScript)
		r := startRig(t, agent, withConfig(func(c *bridge.Config) { c.Approvals.DenyQuery = "no, stop" }))
		defer r.stop()
		agentScript := approvalScript
		agent.script = func(c streamCall) []step {
			if c.Query == "no, stop" {
				c.Query = "deny"
			}
			return agentScript(c)
		}
		key := engKey("1")
		cardRef, a := pendingApproval(t, r, key)
		assert.Equal(t, chat.ActionResult{Accepted: true}, click(r, a.ID, "U1", chat.Deny))
		settle()
		assert.Contains(t, r.p.Text(cardRef), "Denied by name-U1")
		assert.Equal(t, "no, stop", agent.Streams()[1].Query)
		assert.Equal(t, "Okay, not deleting.", r.texts(key)[2])
	})
}

// Foreign, concurrent double and replayed clicks decide once and answer
// the agent once.
func TestApprovalClicks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		r := startScenario(t, be, approvalFlow)
		defer r.close()
		key := engKey("1")
		cardRef, a := pendingApproval(t, r.rig, key)

		// Unknown id.
		assert.Equal(t, "This approval request is unknown or no longer available.", click(r.rig, "nope", "U1", chat.Approve).Notice)
		assert.Equal(t, 1, r.metrics.count("approval:unknown"), "counted as the README's outcome unknown")

		// Foreign click: notice, card untouched, nothing decided.
		before := len(r.p.Records())
		res := click(r.rig, a.ID, "U2", chat.Approve)
		assert.False(t, res.Accepted)
		assert.Contains(t, res.Notice, "not allowed")
		settle()
		assert.Len(t, r.p.Records(), before, "card untouched")
		assert.Equal(t, 3, r.p.ButtonCount(cardRef), "approve, deny, deny with reason")
		assert.Equal(t, 1, r.metrics.count("approval:unauthorized"))

		// A click from another platform with the requester's id is foreign too.
		res, err := r.b.HandleAction(t.Context(), chat.Action{Platform: "discord", Kind: chat.Approve, Target: a.ID, User: chat.User{ID: "U1"}})
		require.NoError(t, err)
		assert.False(t, res.Accepted)

		// Double click by concurrent clickers: exactly one decides.
		var wg sync.WaitGroup
		results := make([]chat.ActionResult, 8)
		for i := range results {
			wg.Go(func() { results[i] = click(r.rig, a.ID, "U1", chat.Approve) })
		}
		wg.Wait()
		accepted := 0
		for _, res := range results {
			if res.Accepted {
				accepted++
			} else {
				assert.Equal(t, "Already approved by name-U1", res.Notice)
			}
		}
		assert.Equal(t, 1, accepted)
		time.Sleep(2 * time.Second)
		settle()
		assert.Equal(t, "Deleted the branch.", r.texts(key)[2])

		// A replayed click after the continuation ran changes nothing.
		before = len(r.p.Records())
		res = click(r.rig, a.ID, "U1", chat.Deny)
		assert.Equal(t, chat.ActionResult{Notice: "Already approved by name-U1"}, res)
		settle()
		assert.Len(t, r.p.Records(), before)
		calls := r.streams(t)
		require.Len(t, calls, 2, "the agent was answered once")
		assert.Equal(t, "approve", calls[1].Query)
		assert.Equal(t, 8, r.metrics.count("approval:duplicate"))
	})
}

// Text typed in the thread is never taken as an approval, even when it is
// exactly the query the agent treats as the answer.
func TestTypedApprovalTextIsNotADecision(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(approvalScript)
		r := startRig(t, agent)
		defer r.stop()
		key := engKey("1")
		cardRef, a := pendingApproval(t, r, key)
		for _, text := range []string{"approve", " Approve ", "DENY"} {
			m := r.msg(key, "U1", text)
			m.Mentioned = false
			require.NoError(t, r.b.HandleMessage(t.Context(), m))
		}
		settle()
		assert.Len(t, agent.Streams(), 1, "the agent never received the typed text")
		texts := r.texts(key)
		require.Len(t, texts, 5)
		assert.Contains(t, texts[4], "typed messages are never taken as a decision")
		stored, err := r.store.GetApproval(t.Context(), a.ID)
		require.NoError(t, err)
		assert.Equal(t, chat.ApprovalPending, stored.State)
		assert.Equal(t, 3, r.p.ButtonCount(cardRef), "approve, deny, deny with reason")

		// Ordinary follow-ups still reach the agent.
		r.send(key, "U1", "approve it only if safe")
		settle()
		assert.Len(t, agent.Streams(), 2)
	})
}

func TestApprovalPolicies(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*bridge.Config)
		allowed []string
		refused []string
	}{
		{"approvers", func(c *bridge.Config) {
			c.Approvals.Policy = bridge.PolicyApprovers
			c.Approvals.Approvers = []string{"slack:U7", "discord:U8"}
		}, []string{"U7"}, []string{"U1", "U8"}},
		{"anyone", func(c *bridge.Config) { c.Approvals.Policy = bridge.PolicyAnyone }, []string{"U5"}, nil},
		{"route override", func(c *bridge.Config) {
			c.Routes.Channels = []bridge.Route{{Platform: "slack", Channel: "C1",
				RouteTarget: bridge.RouteTarget{Approvals: &bridge.RouteApprovals{Policy: bridge.PolicyApprovers, Approvers: []string{"slack:U9"}}}}}
		}, []string{"U9"}, []string{"U1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := startRig(t, newFakeAgent(approvalScript), withConfig(tt.edit))
				defer r.stop()
				_, a := pendingApproval(t, r, engKey("1"))
				for _, u := range tt.refused {
					assert.Contains(t, click(r, a.ID, u, chat.Approve).Notice, "not allowed", u)
				}
				for _, u := range tt.allowed {
					assert.True(t, click(r, a.ID, u, chat.Approve).Accepted, u)
				}
				settle()
			})
		})
	}
}

// The card expires, the agent is told the deny query, and a late click gets
// the expiry notice.
func TestApprovalExpiry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		r := startScenario(t, be, approvalFlow)
		defer r.close()
		key := engKey("1")
		cardRef, a := pendingApproval(t, r.rig, key)
		time.Sleep(31 * time.Minute)
		settle()
		card := r.p.Current(cardRef).Approval
		assert.Equal(t, chat.ApprovalExpired, card.State)
		assert.Zero(t, r.p.ButtonCount(cardRef))
		assert.Contains(t, r.p.Text(cardRef), "Expired")
		calls := r.streams(t)
		require.Len(t, calls, 2)
		assert.Equal(t, "deny", calls[1].Query, "the agent is told deny")
		assert.Equal(t, "Okay, not deleting.", r.texts(key)[2])
		assert.Equal(t, 1, r.metrics.count("approval:expired"))

		// A click on the expired card.
		assert.Equal(t, "This approval request has expired.", click(r.rig, a.ID, "U1", chat.Approve).Notice)
	})
}

// A click after the expiry time but before the sweeper ran expires the request itself.
func TestApprovalExpiredClickBeforeSweep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(approvalScript)
		r := startRig(t, agent, withConfig(func(c *bridge.Config) { c.Approvals.Timeout = 13 * time.Second }))
		defer r.stop()
		key := engKey("1")
		// The card is posted at about 2 s and expires at about 15 s; sweeps run every 15 s from the start.
		r.send(key, "U1", "clean up")
		time.Sleep(2*time.Second + 100*time.Millisecond)
		synctest.Wait()
		msgs := r.p.Messages(key)
		require.Len(t, msgs, 2)
		a, err := r.store.GetApproval(t.Context(), msgs[1].Message.Approval.ID)
		require.NoError(t, err)
		time.Sleep(time.Until(a.Expires) + 100*time.Millisecond)
		require.Less(t, time.Since(a.Expires), time.Second)
		res := click(r, a.ID, "U1", chat.Approve)
		assert.Equal(t, chat.ActionResult{Notice: "This approval request has expired."}, res)
		settle()
		assert.Equal(t, chat.ApprovalExpired, r.p.Current(msgs[1].Ref).Approval.State)
		assert.Equal(t, "deny", agent.Streams()[1].Query)
		assert.Equal(t, 1, r.metrics.count("approval:expired"))
	})
}

func TestApprovalWithoutButtons(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits(), bridgetest.WithoutButtons())
		r := startRig(t, newFakeAgent(approvalScript), withPlatform(p))
		defer r.stop()
		cardRef, a := pendingApproval(t, r, engKey("1"))
		body := p.Current(cardRef).Body
		assert.Contains(t, body, a.ID)
		assert.True(t, strings.Contains(body, "approve") && strings.Contains(body, "deny"))
	})
}

// Buttons keep working after a restart: the state is only in the store. A
// second bridge process (on backend=client a new client of the same API)
// continues the session.
func TestApprovalButtonsSurviveRestart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		w := newAgentWorld(be, approvalFlow)
		defer w.close()
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		st := bridgetest.NewMemStore()
		first := w.start(t, withPlatform(p), withStore(st))
		key := engKey("1")
		cardRef, a := pendingApproval(t, first.rig, key)
		require.NoError(t, first.b.Shutdown(t.Context()))
		res := click(first.rig, a.ID, "U1", chat.Approve)
		assert.Equal(t, chat.ActionResult{Notice: "The bridge is restarting; nothing was decided. Please click again in a minute."}, res)
		first.close()

		second := w.start(t, withPlatform(p), withStore(st))
		defer second.close()
		assert.True(t, click(second.rig, a.ID, "U1", chat.Approve).Accepted)
		time.Sleep(2 * time.Second)
		settle()
		assert.Equal(t, chat.ApprovalApproved, p.Current(cardRef).Approval.State)
		assert.Equal(t, "Deleted the branch.", second.texts(key)[2])
		calls := w.streams(t)
		require.Len(t, calls, 2)
		assert.Equal(t, streamRequest{Token: calls[0].Token, Query: "approve"}, calls[1])
		if be == backendFake {
			assert.Equal(t, streamCall{"agent-1", "tok-1", "approve"}, w.fake.Streams()[1])
		}
	})
}
