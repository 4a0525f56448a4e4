package bridge

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/promptev/promptev-bridge/chat"
)

// errRunCancelled is the cause a run is cancelled with when the caller
// names none.
var errRunCancelled = errors.New("run cancelled")

// runHandle is a running agent turn as the rest of the engine reaches it:
// by its id (which a button can carry) or by its conversation.
type runHandle struct {
	// id is random and opaque: 26 characters, short enough for any
	// platform's button id.
	id  string
	key chat.ConversationKey
	// ctx is the turn's context; cancel ends it with a cause, which closes
	// the agent stream (cancelling its HTTP request).
	ctx       context.Context
	cancel    context.CancelCauseFunc
	cancelled atomic.Bool
}

// cancelCause returns the cause the run was cancelled with through its
// handle, or nil when it was not (a shutdown's interruption is not a
// cancellation through the handle).
func (h *runHandle) cancelCause() error {
	if !h.cancelled.Load() {
		return nil
	}
	return context.Cause(h.ctx)
}

// activeRuns indexes the runs whose agent turn is under way. A
// conversation runs one turn at a time, so each key has at most one.
type activeRuns struct {
	mu    sync.Mutex
	byID  map[string]*runHandle
	byKey map[chat.ConversationKey]*runHandle
}

// start gives a new run of key its id and cancel handle, derived from
// parent, and makes it reachable until done is called. done is idempotent.
func (a *activeRuns) start(parent context.Context, key chat.ConversationKey) (h *runHandle, done func()) {
	ctx, cancel := context.WithCancelCause(parent)
	h = &runHandle{id: rand.Text(), key: key, ctx: ctx, cancel: cancel}
	a.mu.Lock()
	if a.byID == nil {
		a.byID = make(map[string]*runHandle)
		a.byKey = make(map[chat.ConversationKey]*runHandle)
	}
	a.byID[h.id] = h
	a.byKey[key] = h
	a.mu.Unlock()
	var once sync.Once
	return h, func() {
		once.Do(func() {
			a.mu.Lock()
			delete(a.byID, h.id)
			if a.byKey[key] == h {
				delete(a.byKey, key)
			}
			a.mu.Unlock()
			cancel(nil) // release the context; a cause given earlier stays
		})
	}
}

// byRunID returns the run with the given id, if its turn is under way.
func (a *activeRuns) byRunID(id string) (*runHandle, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h, ok := a.byID[id]
	return h, ok
}

// byConversation returns the run of key, if its turn is under way.
func (a *activeRuns) byConversation(key chat.ConversationKey) (*runHandle, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h, ok := a.byKey[key]
	return h, ok
}

// len returns how many runs are reachable (for tests: no leaks).
func (a *activeRuns) len() (byID, byKey int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.byID), len(a.byKey)
}

// cancelRun cancels the run with the given id with cause (errRunCancelled
// when nil) and reports whether this call cancelled it. A run that is
// unknown, whose turn has ended, or that was already cancelled (or is being
// interrupted by a shutdown) is left alone and false is reported. A
// cancelled run ends through its failure path: the agent stream is closed
// (its HTTP request cancelled) and the placeholder ends with a notice.
func (b *Bridge) cancelRun(id string, cause error) bool {
	h, ok := b.active.byRunID(id)
	if !ok {
		b.log.Debug("cancel: no such run under way", "run", id)
		return false
	}
	return b.cancelHandle(h, cause)
}

// cancelConversation cancels the run under way in key, like cancelRun.
func (b *Bridge) cancelConversation(key chat.ConversationKey, cause error) bool {
	h, ok := b.active.byConversation(key)
	if !ok {
		b.log.Debug("cancel: no run under way", "platform", key.Platform, "conversation", key.String())
		return false
	}
	return b.cancelHandle(h, cause)
}

func (b *Bridge) cancelHandle(h *runHandle, cause error) bool {
	log := b.log.With("platform", h.key.Platform, "conversation", h.key.String(), "run", h.id)
	if h.ctx.Err() != nil || !h.cancelled.CompareAndSwap(false, true) {
		log.Debug("cancel: run already cancelled or interrupted")
		return false
	}
	if cause == nil {
		cause = errRunCancelled
	}
	log.Info("cancelling run", "cause", cause)
	h.cancel(cause)
	return true
}
