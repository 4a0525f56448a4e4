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
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
)

// denyReasonFlow answers any deny query by echoing it.
var denyReasonFlow = agentScript{
	turn: func(q string) []turnEvent {
		if strings.HasPrefix(q, "deny") {
			return []turnEvent{{Type: promptev.EventDone, Out: "Agent heard: " + q}}
		}
		return approvalFlow.turn(q)
	},
	onDeny: []turnEvent{{Type: promptev.EventDone, Out: "Agent heard: {{query}}"}},
}

// TestDenyWithReason: the card's third button asks for a reason; the
// answer denies the request with it (cut to 500 characters, mentions
// neutralised), the card shows "Denied by X: <reason>", and the agent gets
// the deny_with_reason_query with the reason.
func TestDenyWithReason(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		r := startScenario(t, be, denyReasonFlow)
		defer r.close()
		key := engKey("1")
		cardRef, a := pendingApproval(t, r.rig, key)
		btn, ok := buttonOf(r.p, cardRef, chat.DenyWithReason)
		require.True(t, ok, "the card has a Deny with reason button")
		assert.True(t, r.p.Current(cardRef).Approval.DenyWithReason)

		// Someone else may not even open the form.
		res := press(t, r.rig, btn, "U2")
		assert.Nil(t, res.Prompt)
		assert.Equal(t, "You are not allowed to decide this approval request.", res.Notice)

		res = press(t, r.rig, btn, "U1")
		require.NotNil(t, res.Prompt)
		assert.False(t, res.Accepted, "asking decides nothing")
		assert.Equal(t, chat.Deny, res.Prompt.Kind)
		assert.Equal(t, a.ID, res.Prompt.Target)
		assert.Equal(t, 500, res.Prompt.MaxChars)
		got, err := r.store.GetApproval(context.Background(), a.ID)
		require.NoError(t, err)
		assert.Equal(t, chat.ApprovalPending, got.State)

		reason := "wrong project <!channel> @everyone " + strings.Repeat("x", 600)
		res = press(t, r.rig, chat.Action{Platform: "slack", Kind: res.Prompt.Kind, Target: res.Prompt.Target, Text: reason}, "U1")
		require.True(t, res.Accepted)
		time.Sleep(10 * time.Second)
		settle()
		got, err = r.store.GetApproval(context.Background(), a.ID)
		require.NoError(t, err)
		assert.Equal(t, chat.ApprovalDenied, got.State)
		assert.Equal(t, 500, len([]rune(got.Reason)))
		assert.NotContains(t, got.Reason, "<!channel>")
		assert.NotContains(t, got.Reason, "@everyone")
		card := r.p.Current(cardRef).Approval
		assert.Equal(t, got.Reason, card.Reason)
		assert.Contains(t, r.p.Text(cardRef), "Denied by name-U1: wrong project")
		streams := r.streams(t)
		require.Len(t, streams, 2)
		assert.Equal(t, "deny: "+got.Reason, streams[1].Query)
		assert.Contains(t, r.texts(key)[2], "Agent heard: deny: wrong project")

		// A second form submitted late changes nothing and says so.
		res = press(t, r.rig, chat.Action{Platform: "slack", Kind: chat.Deny, Target: a.ID, Text: "another"}, "U1")
		assert.False(t, res.Accepted)
		assert.Equal(t, "Already denied by name-U1; your reason was not sent.", res.Notice)
	})
}

// TestDenyWithReasonAfterApproval: a reason submitted after someone else
// approved changes nothing and tells the submitter.
func TestDenyWithReasonAfterApproval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startScenario(t, backendFake, denyReasonFlow, withConfig(func(c *bridge.Config) { c.Approvals.Policy = bridge.PolicyAnyone }))
		defer r.close()
		key := engKey("1")
		cardRef, a := pendingApproval(t, r.rig, key)
		btn, _ := buttonOf(r.p, cardRef, chat.DenyWithReason)
		res := press(t, r.rig, btn, "U2")
		require.NotNil(t, res.Prompt)
		require.True(t, click(r.rig, a.ID, "U1", chat.Approve).Accepted)
		res = press(t, r.rig, chat.Action{Platform: "slack", Kind: chat.Deny, Target: a.ID, Text: "no"}, "U2")
		assert.False(t, res.Accepted)
		assert.Equal(t, "Already approved by name-U1; your reason was not sent.", res.Notice)
		time.Sleep(10 * time.Second)
		settle()
		got, err := r.store.GetApproval(context.Background(), a.ID)
		require.NoError(t, err)
		assert.Equal(t, chat.ApprovalApproved, got.State)
		assert.Empty(t, got.Reason)
	})
}

// TestDenyWithReasonQueryValidation: the template is checked at load with
// its YAML path.
func TestDenyWithReasonQueryValidation(t *testing.T) {
	tests := []struct {
		query, problem string
	}{
		{"", "must not be empty"},
		{"deny: {{.Reason", "is not a valid template"},
		{"deny: {{.Why}}", "cannot be run"},
		{"deny", "must contain {{.Reason}}"},
	}
	for _, tt := range tests {
		c := testConfig()
		c.Approvals.DenyWithReasonQuery = tt.query
		err := c.Validate().Error()
		assert.Contains(t, err, "approvals.deny_with_reason_query: "+tt.problem, tt.query)
	}
	c := testConfig()
	c.Approvals.DenyWithReasonQuery = "The user denied this because: {{.Reason}}"
	assert.NoError(t, c.Validate().Err())
}
