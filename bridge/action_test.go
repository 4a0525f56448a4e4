package bridge_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
)

// TestActionUnknownKind clicks buttons whose kind has no handler (a button
// of a newer version, after a rollback) on a pending approval card: the
// clicker gets a notice, and nothing changes: the approval stays pending,
// the card keeps its buttons and no run starts. A click on one of the
// card's own buttons then still decides it.
func TestActionUnknownKind(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		r := startScenario(t, be, approvalFlow)
		defer r.close()
		key := engKey("1")
		cardRef, a := pendingApproval(t, r.rig, key)
		records := len(r.p.Records())
		streams := len(r.streams(t))

		for _, kind := range []chat.ActionKind{"snooze", "escalate", ""} {
			res, err := r.b.HandleAction(context.Background(), chat.Action{Platform: "slack", Kind: kind,
				Target: a.ID, User: chat.User{ID: "U1", Name: "name-U1"}, Card: cardRef})
			require.NoError(t, err, kind)
			assert.False(t, res.Accepted, kind)
			assert.Equal(t, "This button is not supported by this version of the bridge; nothing was changed.", res.Notice, kind)
		}
		time.Sleep(2 * time.Second)
		settle()
		got, err := r.store.GetApproval(context.Background(), a.ID)
		require.NoError(t, err)
		assert.Equal(t, a, got, "the approval is untouched")
		assert.Len(t, r.p.Records(), records, "no platform call")
		assert.Len(t, r.streams(t), streams, "no agent call")
		assert.Zero(t, r.metrics.count("approval:unauthorized")+r.metrics.count("approval:duplicate"))

		// The card's own buttons, as the platform shows them, still work.
		buttons := r.p.Buttons(cardRef)
		require.Len(t, buttons, 3)
		deny := buttons[1]
		require.Equal(t, chat.Deny, deny.Kind)
		assert.Equal(t, chat.Action{Platform: "slack", Kind: chat.Deny, Target: a.ID, Card: cardRef}, deny)
		deny.User = chat.User{ID: "U1", Name: "name-U1"}
		res, err := r.b.HandleAction(context.Background(), deny)
		require.NoError(t, err)
		assert.Equal(t, chat.ActionResult{Accepted: true}, res)
		time.Sleep(2 * time.Second)
		settle()
		assert.Contains(t, r.p.Text(cardRef), "Denied by name-U1")
		assert.Contains(t, r.texts(key)[2], "Okay, not deleting.")
	})
}
