package bridge_test

import (
	"context"
	"strings"
	"sync/atomic"
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

const autoNote = "✓ jira.create_issue auto-approved (granted by name-U1)"

// ticketAgent asks to create a ticket on every ordinary turn, and asks
// again after each of the first `again` approvals of a turn before it
// answers.
func ticketAgent(again int) *fakeAgent {
	var approvals atomic.Int32
	ask := step{Type: promptev.EventApprovalRequired, Out: "Create a ticket?", Tool: "jira.create_issue", Args: `{"n":1}`}
	return newFakeAgent(func(c streamCall) []step {
		switch c.Query {
		case "approve":
			if int(approvals.Add(1))%(again+1) != 0 {
				return []step{{Type: promptev.EventProcessing, Out: "Creating ticket"}, ask}
			}
			return []step{{Type: promptev.EventDone, Out: "Created the tickets."}}
		case "deny":
			return []step{{Type: promptev.EventDone, Out: "Not created."}}
		}
		return []step{{Type: promptev.EventProcessing, Out: "Looking"}, ask}
	})
}

func withGrants(c *bridge.Config) { c.Approvals.AllowConversationGrants = true }

// grantIn asks in key and presses "Approve all" on the card as U1.
func grantIn(t *testing.T, r *rig, key chat.ConversationKey) chat.MessageRef {
	t.Helper()
	r.send(key, "U1", "file tickets")
	settle()
	var card chat.MessageRef
	for _, m := range r.p.Messages(key) {
		if m.Message.Approval != nil {
			card = m.Ref
		}
	}
	require.NotEmpty(t, card.ID, "a card")
	btn, ok := buttonOf(r.p, card, chat.ApproveConversation)
	require.True(t, ok, "the card offers Approve all")
	require.True(t, press(t, r, btn, "U1").Accepted)
	return card
}

// countIn counts the messages of key whose text contains s.
func countIn(r *rig, key chat.ConversationKey, s string) int {
	n := 0
	for _, txt := range r.texts(key) {
		if strings.Contains(txt, s) {
			n++
		}
	}
	return n
}

// TestGrantAutoApprovesTwice: after "Approve all", the next two requests
// for the tool in the conversation are approved without a card, each with
// an audit note, a log line and a count; another conversation still gets a
// card.
func TestGrantAutoApprovesTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := ticketAgent(2)
		r := startRig(t, agent, withConfig(withGrants))
		defer r.stop()
		key := engKey("1")
		card := grantIn(t, r, key)
		time.Sleep(time.Minute)
		settle()
		assert.Contains(t, r.p.Text(card), "Approved for this conversation by name-U1")
		assert.Equal(t, 2, countIn(r, key, autoNote), "two automatic approvals: %q", r.texts(key))
		assert.Equal(t, 1, countIn(r, key, "Tool: jira.create_issue"), "one card only")
		assert.Equal(t, 1, countIn(r, key, "Created the tickets."))
		assert.Equal(t, 2, r.metrics.count("approval:auto"))
		assert.Len(t, agent.Streams(), 4, "the turn, then one continuation per approval")
		assertNoStopLeft(t, r, key)

		other := engKey("2")
		r.send(other, "U1", "file tickets")
		settle()
		assert.Equal(t, 1, countIn(r, other, "Tool: jira.create_issue"), "a grant never crosses conversations")
		assert.Zero(t, countIn(r, other, "auto-approved"))
	})
}

// TestGrantSurvivesRestartAndRevoke: a grant made before a restart still
// approves after it; once revoked, the tool gets a card again.
func TestGrantSurvivesRestartAndRevoke(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := ticketAgent(0)
		store := bridgetest.NewMemStore()
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		key := engKey("1")
		first := startRig(t, agent, withConfig(withGrants), withStore(store), withPlatform(p))
		grantIn(t, first, key)
		time.Sleep(time.Minute)
		settle()
		first.stop()

		second := startRig(t, agent, withConfig(withGrants), withStore(store), withPlatform(p))
		second.msgSeq = 100 // new message ids: the dedupe ledger survived too
		second.send(key, "U1", "one more ticket")
		time.Sleep(time.Minute)
		settle()
		assert.Equal(t, 1, countIn(second, key, autoNote), "%q", second.texts(key))
		assert.Equal(t, 1, countIn(second, key, "Tool: jira.create_issue"), "still the first card only")

		grants, err := store.ListGrants(context.Background())
		require.NoError(t, err)
		require.Len(t, grants, 1)
		require.NoError(t, store.DeleteGrant(context.Background(), key, "jira.create_issue"))
		second.send(key, "U1", "and another")
		time.Sleep(time.Minute)
		settle()
		assert.Equal(t, 2, countIn(second, key, "Tool: jira.create_issue"), "revoked: a card again")
		assert.Equal(t, 1, countIn(second, key, autoNote))
		second.stop()
	})
}

// TestGrantsOffByDefault: without approvals.allow_conversation_grants the
// card has no "Approve all" and a forged press changes nothing.
func TestGrantsOffByDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, ticketAgent(0))
		defer r.stop()
		key := engKey("1")
		cardRef, a := pendingApproval(t, r, key)
		_, ok := buttonOf(r.p, cardRef, chat.ApproveConversation)
		assert.False(t, ok)
		res := press(t, r, chat.Action{Platform: "slack", Kind: chat.ApproveConversation, Target: a.ID}, "U1")
		assert.False(t, res.Accepted)
		assert.Equal(t, "Approving a tool for the whole conversation is turned off; nothing was changed.", res.Notice)
		grants, err := r.store.ListGrants(context.Background())
		require.NoError(t, err)
		assert.Empty(t, grants)
	})
}

// TestGrantRefusedForOthers: a foreign "Approve all" is refused like any
// click: no grant, the card stays pending.
func TestGrantRefusedForOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, ticketAgent(0), withConfig(withGrants))
		defer r.stop()
		key := engKey("1")
		cardRef, _ := pendingApproval(t, r, key)
		btn, ok := buttonOf(r.p, cardRef, chat.ApproveConversation)
		require.True(t, ok)
		res := press(t, r, btn, "U2")
		assert.False(t, res.Accepted)
		assert.Contains(t, res.Notice, "not allowed")
		grants, err := r.store.ListGrants(context.Background())
		require.NoError(t, err)
		assert.Empty(t, grants)
	})
}
