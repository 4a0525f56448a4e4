package bridge

import (
	"context"

	"github.com/promptev/promptev-bridge/chat"
)

// noticeUnknownAction answers a click on a button this bridge has no handler
// for (a button of a newer version, after a rollback).
const noticeUnknownAction = "This button is not supported by this version of the bridge; nothing was changed."

// actionHandler applies one kind of button press. Like HandleAction, it
// touches only the store on the caller's goroutine: message edits and agent
// runs go to workers.
type actionHandler func(ctx context.Context, act chat.Action) (chat.ActionResult, error)

// onAction registers h for kind. It is called only from New (the registry
// is read without a lock afterwards); a kind registered twice is a
// programming error.
func (b *Bridge) onAction(kind chat.ActionKind, h actionHandler) {
	if !kind.Valid() {
		panic("bridge: invalid action kind " + string(kind))
	}
	if _, dup := b.actions[kind]; dup {
		panic("bridge: action kind " + string(kind) + " registered twice")
	}
	b.actions[kind] = h
}

// HandleAction applies a button press with the handler registered for its
// kind (approvals register approve and deny). A kind without a handler gets
// a notice for the clicker and changes nothing.
func (b *Bridge) HandleAction(ctx context.Context, act chat.Action) (chat.ActionResult, error) {
	h, ok := b.actions[act.Kind]
	if !ok {
		b.log.Info("click on an unknown action", "platform", act.Platform, "kind", act.Kind,
			"target", act.Target, "user", act.User.ID)
		return chat.ActionResult{Notice: noticeUnknownAction}, nil
	}
	return h(ctx, act)
}
