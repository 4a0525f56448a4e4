package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// LiveMessage is the coalescing editor of one posted message: it holds at most
// one pending state (the latest), sends it when the message's edit interval
// and the scope's budget allow, and delivers the final state with Priority.
// Its fields are guarded by the outbox's mutex.
type LiveMessage struct {
	o       *Outbox
	r       chat.MessageRef
	editKey budgetKey
	// posted is when the message was posted (for MaxEditAge).
	posted time.Time
	// lastWrite is when the message was last written (post or edit).
	lastWrite time.Time
	// pending is the latest state not yet sent, nil when none.
	pending *chat.Message
	// queued is the message's live waiter while one is in a budget queue.
	queued   *waiter
	inFlight bool
	finished bool
	// under is the context whose fence (chat.WithFence) every edit of the
	// message is checked against; nil when unfenced.
	under context.Context
}

// live returns the coalescing editor of one posted message. Call it once per
// message, right after posting it.
func (o *Outbox) Live(ref chat.MessageRef) *LiveMessage {
	now := time.Now()
	posted := ref.Posted
	if posted.IsZero() || posted.After(now) {
		posted = now
	}
	return &LiveMessage{o: o, r: ref, editKey: o.editKey(ref), posted: posted, lastWrite: posted}
}

// LiveUnder is Live for a message whose edits are made under ctx's fence
// (chat.WithFence): once the fence's lease is lost, no edit is sent. Only
// ctx's values are used.
func (o *Outbox) LiveUnder(ctx context.Context, ref chat.MessageRef) *LiveMessage {
	l := o.Live(ref)
	if _, ok := chat.FenceFrom(ctx); ok {
		l.under = ctx
	}
	return l
}

// fenced returns the error of the message's fence, nil when it has none
// or its lease is held.
func (l *LiveMessage) fenced() error {
	if l.under == nil {
		return nil
	}
	return chat.CheckFence(l.under)
}

// ref returns the message's ref.
func (l *LiveMessage) Ref() chat.MessageRef { return l.r }

// set replaces the pending state (latest wins, never queued); it never blocks.
// The edit is sent when the message's interval and the scope budget allow;
// older pending states are dropped and counted as "coalesced" in Metrics.Edit.
// Calls after finish, or after the outbox stopped, are ignored.
func (l *LiveMessage) Set(msg chat.Message) {
	msg = cloneMessage(msg)
	o := l.o
	o.mu.Lock()
	defer o.mu.Unlock()
	if l.finished || o.isStopped {
		return
	}
	if l.pending != nil {
		o.metrics.Edit(o.name, "coalesced")
	}
	l.pending = &msg
	if l.queued == nil && !l.inFlight {
		l.queued = &waiter{pri: PrioNormal, lm: l, live: true}
		o.enqueueLocked(l.editKey, l.queued, false)
	}
}

// finish delivers the final state with Priority and is never lost: chunks[0]
// replaces the live message, chunks[1:] are posted in order. If chunks[0]
// cannot be sent as an edit within FinalDeadline (budget exhausted, 429
// pause), all chunks are posted as new replies instead and the live message is
// edited to tidy later at low Priority (if tidy is the zero Message, it is
// edited to chunks[0]). Messages older than Limits.MaxEditAge are never
// edited: chunks are posted. Returns the refs of the messages that now hold the
// chunks (refs[0] is the live message's ref when the edit path was used).
// After finish the LiveMessage accepts no more set calls.
//
// Posts are retried after 429s until ctx ends; any other platform error ends
// finish with that error and the refs posted so far.
func (l *LiveMessage) Finish(ctx context.Context, chunks []chat.Message, tidy chat.Message) ([]chat.MessageRef, error) {
	o := l.o
	tooOld, err := l.end(ctx, chunks)
	if err != nil {
		return nil, fmt.Errorf("outbox: finish: %w", err)
	}
	if tooOld {
		return o.postAll(ctx, l.r.Key, chunks)
	}
	edited, err := l.finalEdit(ctx, chunks[0], false)
	if err != nil {
		return nil, err
	}
	if edited {
		more, err := o.postAll(ctx, l.r.Key, chunks[1:])
		return append([]chat.MessageRef{l.r}, more...), err
	}
	refs, err := o.postAll(ctx, l.r.Key, chunks)
	switch {
	case err == nil && !isZeroMessage(tidy):
		o.tidy(l, tidy)
	case err == nil || len(refs) == 0:
		// Posted: tidy the placeholder to the answer. Nothing posted: the
		// answer can still land in the placeholder, late.
		o.tidy(l, chunks[0])
	}
	return refs, err
}

// Replace delivers msg as the last state of the message by editing it in
// place. Unlike Finish it never posts msg elsewhere: it waits for edit
// budget (at high Priority, retrying after 429s) for as long as ctx allows,
// so the conversation shows msg once, where the message was. It is for
// notices that replace a message nobody else will finish (an interrupted
// run's). A message too old to edit (Limits.MaxEditAge) gets msg as a new
// reply instead. After Replace the LiveMessage accepts no more set calls.
func (l *LiveMessage) Replace(ctx context.Context, msg chat.Message) error {
	tooOld, err := l.end(ctx, []chat.Message{msg})
	if err != nil {
		return fmt.Errorf("outbox: replace: %w", err)
	}
	if tooOld {
		_, err := l.o.postAll(ctx, l.r.Key, []chat.Message{msg})
		return err
	}
	edited, err := l.finalEdit(ctx, msg, true)
	if err != nil {
		return err
	}
	if !edited {
		return errors.New("outbox: replace: the platform refused the edit")
	}
	return nil
}

// end checks the final chunks and ends the live message: no more set
// calls, its pending state dropped. It reports whether the message is too
// old to be edited.
func (l *LiveMessage) end(ctx context.Context, chunks []chat.Message) (tooOld bool, err error) {
	o := l.o
	if len(chunks) == 0 {
		return false, errors.New("no chunks")
	}
	if err := errors.Join(l.fenced(), chat.CheckFence(ctx)); err != nil {
		return false, err
	}
	for i, c := range chunks {
		if err := o.checkLength(c); err != nil {
			return false, fmt.Errorf("chunk %d: %w", i, err)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if l.finished {
		return false, errFinished
	}
	l.finished = true
	if l.pending != nil {
		l.pending = nil
		o.metrics.Edit(o.name, "coalesced")
	}
	if l.queued != nil {
		l.queued.cancelled = true
		l.queued = nil
	}
	return o.tooOld(l, time.Now()), nil
}

// finalEdit tries to replace the live message with msg within FinalDeadline.
// It reports false when the caller must post instead (the budget cannot make
// it in time, the deadline passed, or the edit failed for a reason other than
// a 429); an error only when ctx ended or the outbox stopped.
// A patient edit has no deadline: it waits for budget as long as ctx
// allows, and reports false only when the platform refused it.
func (l *LiveMessage) finalEdit(ctx context.Context, msg chat.Message, patient bool) (bool, error) {
	o := l.o
	deadlineAt := time.Now().Add(o.opts.FinalDeadline)
	var deadline <-chan time.Time
	if !patient {
		t := time.NewTimer(o.opts.FinalDeadline)
		defer t.Stop()
		deadline = t.C
	}
	front := false
	var seq uint64 // a retry keeps the write's place in arrival order
	for {
		w := &waiter{pri: PrioHigh, lm: l, msg: msg, grant: make(chan struct{}), seq: seq,
			giveUp: make(chan struct{}), deadline: deadlineAt}
		o.mu.Lock()
		if !patient && o.finalHopelessLocked(l, time.Now(), deadlineAt) {
			o.mu.Unlock()
			o.log.Debug("edit budget cannot take the final in time; posting instead", "conversation", l.r.Key.String())
			return false, nil
		}
		o.enqueueLocked(l.editKey, w, front)
		seq = w.seq
		o.mu.Unlock()
		if err := o.await(ctx, w, deadline); err != nil {
			if errors.Is(err, errFinalDeadline) {
				o.log.Debug("final edit found no budget in time; posting instead", "conversation", l.r.Key.String())
				return false, nil
			}
			return false, fmt.Errorf("outbox: final edit: %w", err)
		}
		err := errors.Join(l.fenced(), chat.CheckFence(ctx))
		if err == nil {
			err = o.p.Edit(ctx, l.r, msg)
		} else {
			o.editDone(w, msg, err)
			return false, fmt.Errorf("outbox: final edit: %w", err)
		}
		if o.editDone(w, msg, err) {
			return true, nil
		}
		var rl *chat.RateLimitError
		if !errors.As(err, &rl) {
			return false, nil
		}
		front = true
	}
}

// finalHopelessLocked reports whether a high-Priority edit of lm, queued now,
// certainly cannot be granted by deadline: the budget (or the bot-wide one)
// is paused past it, or its tokens (after the high-Priority writes already
// waiting) come later. The final is then posted at once instead of waiting
// for the deadline. An edit of lm still in flight is not counted: its end is
// unknown. The message's edit interval does not hold a final back.
func (o *Outbox) finalHopelessLocked(lm *LiveMessage, now, deadline time.Time) bool {
	at := o.globalNextLocked(PrioHigh, now)
	if b, ok := o.budgets[lm.editKey]; ok {
		if b.pausedUntil.After(at) {
			at = b.pausedUntil
		}
		if g := b.rate; g.interval > 0 {
			ahead := 0
			if b.head != nil && b.head.pri == PrioHigh && !b.head.cancelled {
				ahead++
			}
			for _, w := range b.queues[PrioHigh] {
				if !w.cancelled {
					ahead++
				}
			}
			tat := g.tat
			if tat.Before(now) {
				tat = now
			}
			if t := tat.Add(time.Duration(ahead)*g.interval - g.tolerance); t.After(at) {
				at = t
			}
		}
	}
	return at.After(deadline)
}

// tidy edits lm to msg at low Priority, after its final was posted elsewhere.
func (o *Outbox) tidy(lm *LiveMessage, msg chat.Message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.isStopped {
		return
	}
	o.enqueueLocked(lm.editKey, &waiter{pri: PrioLow, lm: lm, msg: cloneMessage(msg)}, false)
}

// sendEdit sends a live or tidy edit on a goroutine of the outbox.
func (o *Outbox) sendEdit(w *waiter, msg chat.Message) {
	defer o.wg.Done()
	err := w.lm.fenced()
	if err == nil {
		err = o.p.Edit(o.runCtx, w.lm.r, msg)
	}
	o.editDone(w, msg, err)
}

// editDone records the outcome of an edit of w.lm and reports whether it was
// sent. After a 429 the budget is paused and an outbox-driven edit is retried
// (a live one only when no newer state replaced it).
func (o *Outbox) editDone(w *waiter, msg chat.Message, err error) bool {
	lm := w.lm
	var rl *chat.RateLimitError
	if errors.As(err, &rl) {
		o.sharePause(lm.editKey, rl)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	lm.inFlight = false
	switch {
	case err == nil:
		o.metrics.Edit(o.name, "sent")
	case errors.As(err, &rl):
		o.metrics.RateLimited(o.name, "edit")
		o.pauseLocked(lm.editKey, rl, time.Now())
		if w.grant == nil && !o.isStopped {
			if !w.live {
				w.granted = false
				o.enqueueLocked(lm.editKey, w, true)
			} else if lm.pending == nil && !lm.finished {
				lm.pending = &msg
			}
		}
	case o.isStopped || o.runCtx.Err() != nil || errors.Is(err, chat.ErrLeaseLost) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		o.metrics.Edit(o.name, "dropped")
	default:
		o.metrics.Edit(o.name, "failed")
		o.log.Warn("edit failed", "conversation", lm.r.Key.String(), "error", err)
	}
	if w.live && lm.pending != nil && !lm.finished && lm.queued == nil && !o.isStopped {
		lm.queued = &waiter{pri: PrioNormal, lm: lm, live: true}
		o.enqueueLocked(lm.editKey, lm.queued, err != nil)
	}
	o.markKeyDirtyLocked(lm.editKey)
	return err == nil
}
