package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// Notices shown only to the presser of a Stop or Retry button.
const (
	noticeUnknownRun     = "This run is unknown or no longer available; nothing was changed."
	noticeStopNotAllowed = "You are not allowed to stop this run; it goes on."
	noticeRunEnded       = "This run has already ended; nothing was changed."
)

// stopLabel and retryLabel are the texts of the run buttons.
const (
	stopLabel  = "Stop"
	retryLabel = "Retry"
)

// errStopped is the cause a run is cancelled with when its Stop is pressed.
var errStopped = errors.New("run stopped")

// registerRuns makes runs users of the action registry: a run's Stop button
// stops it and a failure notice's Retry button runs its turn again.
func (b *Bridge) registerRuns() {
	b.onAction(chat.Stop, b.stopRun)
	b.onAction(chat.Retry, b.retryRun)
	b.onAction(chat.StopConversation, b.stopConversation)
}

// noticeNoRun answers a conversation's stop when no run is under way there.
const noticeNoRun = "No run is under way here; nothing was stopped."

// stopConversation applies a platform's own stop control, which names the
// conversation: the run under way there is stopped exactly like a press on
// its Stop button (same policy, same compare-and-set).
func (b *Bridge) stopConversation(ctx context.Context, act chat.Action) (chat.ActionResult, error) {
	key, err := chat.ParseConversationKey(act.Target)
	if err != nil {
		return chat.ActionResult{Notice: noticeUnknownRun}, nil
	}
	h, ok := b.active.byConversation(key)
	if !ok && b.shared != nil {
		// The run may be under way on another replica.
		if r, err := b.shared.store.GetRun(ctx, key); err == nil && r.RunID != "" {
			act.Kind, act.Target = chat.Stop, r.RunID
			return b.stopRun(ctx, act)
		}
	}
	if !ok {
		b.log.Info("conversation stop with no run under way", "platform", key.Platform, "conversation", key.String(),
			"user", act.User.ID)
		// Nothing to stop is the state the stop asks for: accepted, with a
		// notice (the platform may then clear its own "working" state).
		return chat.ActionResult{Accepted: true, Notice: noticeNoRun}, nil
	}
	act.Kind, act.Target = chat.Stop, h.id
	return b.stopRun(ctx, act)
}

// stopButton is the Stop button of run id.
func stopButton(id string) chat.Button {
	return chat.Button{Kind: chat.Stop, Target: id, Label: stopLabel}
}

// stopRun applies a press on a run's Stop button (act.Target is the run id).
// The stop is decided by the store's compare-and-set on the run record, so
// exactly one press (or the run's own end) wins:
//   - a running run is moved to stopped and its turn cancelled; the run
//     itself then shows "Stopped by X" on its live message;
//   - a waiting run is stopped through its pending approval (decided as
//     stopped, the same compare-and-set a card click uses); the live
//     message and the card are edited here, on a worker.
//
// Like every action handler it touches only the store on the caller's
// goroutine.
func (b *Bridge) stopRun(ctx context.Context, act chat.Action) (chat.ActionResult, error) {
	if b.isClosing() {
		return chat.ActionResult{Notice: noticeRestarting}, nil
	}
	rec, err := b.store.GetRunRecord(ctx, act.Target)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		b.log.Info("stop press on an unknown run", "platform", act.Platform, "user", act.User.ID)
		return chat.ActionResult{Notice: noticeUnknownRun}, nil
	case err != nil:
		return chat.ActionResult{}, fmt.Errorf("bridge: load run: %w", err)
	}
	log := b.log.With("platform", rec.Key.Platform, "conversation", rec.Key.String(), "run", rec.ID)
	if !b.cfg.routeFor(rec.Key).mayStop(b.cfg.Runs.StopPolicy, rec, act.Platform, act.User) {
		log.Info("stop refused: not allowed", "user", act.User.ID, "from_platform", act.Platform)
		return chat.ActionResult{Notice: noticeStopNotAllowed}, nil
	}
	now := time.Now()
	move := chat.RunMove{To: chat.RunStopped, By: act.User.ID, ByName: act.User.Display(), At: now}
	switch rec.State {
	case chat.RunRunning:
		got, ok, err := b.store.MoveRun(ctx, rec.ID, []chat.RunState{chat.RunRunning}, move)
		if err != nil {
			return chat.ActionResult{}, fmt.Errorf("bridge: stop run: %w", err)
		}
		if !ok {
			// The run began to wait or ended meanwhile: answer as for that state.
			return b.stopLost(ctx, act, got)
		}
		log.Info("run stopped", "by", act.User.ID, "by_name", act.User.Display())
		if !b.cancelRun(rec.ID, fmt.Errorf("%w by %s", errStopped, act.User.Display())) {
			// The turn is over (its end is being delivered), the run
			// belongs to a previous process, or, with a shared store, it
			// is under way on another replica, which is told to cancel
			// it. Whoever finalises it finds the stopped record and
			// shows it.
			log.Debug("stopped run had no turn under way here")
			if b.shared != nil {
				b.publishStop(ctx, rec.ID)
			}
		}
		return chat.ActionResult{Accepted: true}, nil
	case chat.RunWaiting:
		return b.stopWaiting(ctx, act, rec, move, log)
	}
	return chat.ActionResult{Notice: runEndedText(rec)}, nil
}

// stopLost answers a Stop whose compare-and-set found the run no longer
// running: a waiting run is still stoppable, an ended one is not.
func (b *Bridge) stopLost(ctx context.Context, act chat.Action, rec chat.RunRecord) (chat.ActionResult, error) {
	if rec.State == chat.RunWaiting {
		log := b.log.With("platform", rec.Key.Platform, "conversation", rec.Key.String(), "run", rec.ID)
		move := chat.RunMove{To: chat.RunStopped, By: act.User.ID, ByName: act.User.Display(), At: time.Now()}
		return b.stopWaiting(ctx, act, rec, move, log)
	}
	return chat.ActionResult{Notice: runEndedText(rec)}, nil
}

// stopWaiting stops a run that waits for its approval request: the request
// is decided as stopped (so exactly one of a Stop and a card click wins),
// then the run record follows and the messages are edited on a worker.
func (b *Bridge) stopWaiting(ctx context.Context, act chat.Action, rec chat.RunRecord, move chat.RunMove, log *slog.Logger) (chat.ActionResult, error) {
	a, ok, err := b.store.DecideApproval(ctx, rec.Approval, chat.ApprovalStopped, move.By, move.ByName, move.At)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		log.Warn("waiting run without its approval request", "approval", rec.Approval)
		return chat.ActionResult{Notice: noticeUnknownRun}, nil
	case err != nil:
		return chat.ActionResult{}, fmt.Errorf("bridge: stop run: decide approval: %w", err)
	case !ok:
		return chat.ActionResult{Notice: "This run already went on: " + alreadyText(a) + "."}, nil
	}
	got, moved, err := b.store.MoveRun(ctx, rec.ID, []chat.RunState{chat.RunWaiting}, move)
	if err != nil {
		log.Warn("stopped run not recorded", "err", err)
		got = chat.ApplyRunMove(rec, move)
	} else if !moved {
		log.Warn("waiting run left its state before its stop was recorded", "state", got.State)
	}
	b.metrics.Approval(a.Key.Platform, string(chat.ApprovalStopped), move.At.Sub(a.Created))
	// The run reported outcome "approval" when it began to wait; its
	// continuation, which would have ended it, never comes.
	b.metrics.RunFinished(rec.Key.Platform, outcomeStopped, move.At.Sub(rec.Created))
	log.Info("waiting run stopped", "approval", a.ID, "by", move.By, "by_name", move.ByName)
	b.afterStop(got, a)
	return chat.ActionResult{Accepted: true}, nil
}

// afterStop edits the live message of a stopped waiting run and its
// approval card, on a worker. The card of a request decided while it was
// being posted has no ref yet: requestApproval closes it.
func (b *Bridge) afterStop(rec chat.RunRecord, a chat.Approval) {
	ps, ok := b.platform(rec.Key.Platform)
	if !ok {
		return
	}
	started := b.workers.Go(func() {
		if rec.Live.ID != "" {
			msg := stoppedMessage(ps.mentions, rec.Steps, rec.DecidedByName, rec.DecidedBy)
			if _, err := ps.out.Live(rec.Live).Finish(b.life, []chat.Message{msg}, chat.Message{}); err != nil {
				b.log.Warn("stopped run's message not updated", "run", rec.ID, "err", err)
			}
		}
		if a.Card.ID != "" {
			if _, err := ps.out.Live(a.Card).Finish(b.life, []chat.Message{cardMessage(a, false)}, chat.Message{}); err != nil {
				b.log.Warn("approval card not updated", "approval", a.ID, "err", err)
			}
		}
	})
	if !started {
		b.log.Warn("shutting down: stopped run's messages not updated", "run", rec.ID)
	}
}

// stoppedMessage is the last state of a stopped run's live message: the
// steps seen so far under "⏹ Stopped by <name>", the name made safe with
// the platform's mentions rule.
func stoppedMessage(mentions func(string) string, steps []chat.Step, byName, by string) chat.Message {
	if byName == "" {
		byName = by
	}
	m := chat.Message{Kind: chat.KindStatus, Status: "⏹ Stopped by " + agentText(mentions, byName, 80), Final: true}
	if len(steps) > 0 {
		m.Steps = append([]chat.Step(nil), steps...)
	}
	return m
}

// runEndedText tells a late presser what became of the run.
func runEndedText(rec chat.RunRecord) string {
	by := rec.DecidedByName
	if by == "" {
		by = rec.DecidedBy
	}
	switch rec.State {
	case chat.RunStopped:
		return "Already stopped by " + by + "; nothing was changed."
	case chat.RunRetried:
		return "Already retried by " + by + "; nothing was changed."
	}
	return noticeRunEnded
}
