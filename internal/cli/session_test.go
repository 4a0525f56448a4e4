package cli

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/chat"
)

// answers records the decisions the tracker gave the console.
type answers struct{ got []chat.ActionKind }

func (a *answers) AnswerPending(d chat.ActionKind) int { a.got = append(a.got, d); return 1 }

// handler accepts or refuses every message.
type handler struct{ err error }

func (h handler) HandleMessage(context.Context, chat.InboundMessage) error { return h.err }
func (handler) HandleAction(context.Context, chat.Action) (chat.ActionResult, error) {
	return chat.ActionResult{}, nil
}

func stopped(t *idleTracker) bool {
	select {
	case <-t.stop:
		return true
	default:
		return false
	}
}

func TestIdleTrackerStopsAfterTheLastRun(t *testing.T) {
	var a answers
	tr := newIdleTracker(&a, false)
	h := tr.wrap(handler{})
	key := chat.ConversationKey{Platform: "console", Channel: "tty"}
	require.NoError(t, h.HandleMessage(context.Background(), chat.InboundMessage{Key: key}))
	require.NoError(t, h.HandleMessage(context.Background(), chat.InboundMessage{Key: key}))
	tr.inputEnded()
	assert.Equal(t, []chat.ActionKind{chat.Deny}, a.got, "nobody is left to answer pending approvals")
	assert.False(t, stopped(tr), "two runs are still going")

	tr.runEnded(key, bridge.OutcomeDone)
	tr.runEnded(key, bridge.OutcomeApproval)
	assert.Equal(t, []chat.ActionKind{chat.Deny, chat.Deny}, a.got, "an approval after the input ended is denied")
	assert.False(t, stopped(tr), "an approval is not an end: its continuation is")
	tr.runEnded(key, bridge.OutcomeDone)
	assert.True(t, stopped(tr))
}

func TestIdleTrackerAutoApproves(t *testing.T) {
	var a answers
	tr := newIdleTracker(&a, true)
	h := tr.wrap(handler{})
	key := chat.ConversationKey{Platform: "console", Channel: "tty"}
	require.NoError(t, h.HandleMessage(context.Background(), chat.InboundMessage{Key: key}))
	tr.runEnded(key, bridge.OutcomeApproval)
	assert.Equal(t, []chat.ActionKind{chat.Approve}, a.got)
	tr.inputEnded()
	assert.Equal(t, []chat.ActionKind{chat.Approve}, a.got, "auto-approve never denies")
	tr.runEnded(key, bridge.OutcomeBusy)
	assert.True(t, stopped(tr))
}

func TestIdleTrackerRefusedMessageIsNotPending(t *testing.T) {
	tr := newIdleTracker(&answers{}, false)
	h := tr.wrap(handler{err: errors.New("closing")})
	assert.Error(t, h.HandleMessage(context.Background(), chat.InboundMessage{}))
	tr.inputEnded()
	assert.True(t, stopped(tr))
}
