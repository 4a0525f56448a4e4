package bridge

import (
	"context"
	"errors"

	"github.com/promptev/promptev-bridge/chat"
)

// recover finalises the runs a previous process left in flight: each
// placeholder is edited to say the run was interrupted, then its record is
// removed. A record whose conversation has started a new run meanwhile was
// already replaced by that run's own record and is left alone.
func (b *Bridge) recover(ctx context.Context, leftovers []chat.InFlightRun) {
	for _, r := range leftovers {
		if ctx.Err() != nil {
			return
		}
		b.recoverRun(ctx, r, false)
	}
}

// recoverRun finalises r, a run no process is running. owned says this
// replica holds r's conversation (ctx carries its fence): the record is
// then removed whatever else runs; otherwise only when the conversation
// has no run under way here. It reports whether r was finalised.
func (b *Bridge) recoverRun(ctx context.Context, r chat.InFlightRun, owned bool) bool {
	log := b.log.With("platform", r.Key.Platform, "conversation", r.Key.String())
	ps, ok := b.platform(r.Key.Platform)
	if !ok {
		log.Warn("interrupted run of a platform not configured: record kept")
		return false
	}
	if r.Placeholder.ID != "" {
		_, err := ps.out.LiveUnder(ctx, r.Placeholder).Finish(ctx, []chat.Message{b.interruptedMessage(ctx, ps, r)}, chat.Message{})
		if err != nil {
			log.Warn("interrupted run not finalised: record kept", "err", err)
			return false
		}
	}
	if ss, ok := ps.p.(chat.StatusSetter); ok && chat.CheckFence(ctx) == nil {
		// The run's "working" indicator would outlive it.
		sctx, cancel := context.WithTimeout(ctx, statusCallTimeout)
		if err := ss.SetStatus(sctx, r.Key, ""); err != nil {
			log.Debug("interrupted run's status indicator not cleared", "err", err)
		}
		cancel()
	}
	b.metrics.RunFinished(ps.name, outcomeInterrupted, 0)
	b.mu.Lock()
	_, active := b.convs[r.Key]
	if owned || !active {
		if err := b.store.DeleteRun(context.WithoutCancel(ctx), r.Key); err != nil {
			log.Warn("interrupted run record not removed", "err", err)
		}
	}
	b.mu.Unlock()
	log.Info("interrupted run finalised", "placeholder", r.Placeholder.ID, "started", r.Started)
	return true
}

// interruptedMessage is the last state of a run a previous process left in
// flight: the interrupted notice with a Retry button, or "Stopped by X"
// when a Stop was pressed on it before this start-up finalised it. The run
// record moves to failed first, so the Retry works once.
func (b *Bridge) interruptedMessage(ctx context.Context, ps *platformState, r chat.InFlightRun) chat.Message {
	if r.RunID == "" {
		return noticeMessage(interruptedText)
	}
	rec, ok, err := b.store.MoveRun(context.WithoutCancel(ctx), r.RunID, []chat.RunState{chat.RunRunning},
		chat.RunMove{To: chat.RunFailed, Notice: interruptedText})
	switch {
	case errors.Is(err, chat.ErrNotFound):
		return noticeMessage(interruptedText)
	case err != nil:
		b.log.Warn("interrupted run record not settled", "run", r.RunID, "err", err)
		return noticeMessage(interruptedText)
	case ok || rec.State == chat.RunFailed:
		return failureMessage(interruptedText, r.RunID)
	case rec.State == chat.RunStopped:
		return stoppedMessage(ps.mentions, nil, rec.DecidedByName, rec.DecidedBy)
	}
	return noticeMessage(interruptedText)
}
