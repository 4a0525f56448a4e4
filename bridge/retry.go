package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// Notices of the Retry button.
const (
	noticeRetryNotAllowed = "Only the person who asked can retry this run."
	noticeRetryNotFailed  = "This run did not fail; there is nothing to retry."
)

// retryButton is the Retry button of the failed run id.
func retryButton(id string) chat.Button {
	return chat.Button{Kind: chat.Retry, Target: id, Label: retryLabel}
}

// failureMessage is a failure notice; with a run id it carries that run's
// Retry button.
func failureMessage(text, runID string) chat.Message {
	m := noticeMessage(text)
	if runID != "" {
		m.Buttons = []chat.Button{retryButton(runID)}
	}
	return m
}

// retryRun applies a press on a failure notice's Retry button (act.Target is
// the run id): for the person who asked, the failed turn's query is sent
// again in the same conversation (and agent session), once: the run
// record's compare-and-set from failed to retried admits one press, also
// across restarts. Anyone else is refused.
func (b *Bridge) retryRun(ctx context.Context, act chat.Action) (chat.ActionResult, error) {
	if b.isClosing() {
		return chat.ActionResult{Notice: noticeRestarting}, nil
	}
	rec, err := b.store.GetRunRecord(ctx, act.Target)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		b.log.Info("retry press on an unknown run", "platform", act.Platform, "user", act.User.ID)
		return chat.ActionResult{Notice: noticeUnknownRun}, nil
	case err != nil:
		return chat.ActionResult{}, fmt.Errorf("bridge: load run: %w", err)
	}
	log := b.log.With("platform", rec.Key.Platform, "conversation", rec.Key.String(), "run", rec.ID)
	if !b.cfg.routeFor(rec.Key).mayStop(PolicyRequester, rec, act.Platform, act.User) {
		log.Info("retry refused: not allowed", "user", act.User.ID, "from_platform", act.Platform)
		return chat.ActionResult{Notice: noticeRetryNotAllowed}, nil
	}
	if rec.State != chat.RunFailed {
		return chat.ActionResult{Notice: retryLateText(rec)}, nil
	}
	now := time.Now()
	got, ok, err := b.store.MoveRun(ctx, rec.ID, []chat.RunState{chat.RunFailed},
		chat.RunMove{To: chat.RunRetried, By: act.User.ID, ByName: act.User.Display(), At: now})
	if err != nil {
		return chat.ActionResult{}, fmt.Errorf("bridge: retry run: %w", err)
	}
	if !ok {
		return chat.ActionResult{Notice: retryLateText(got)}, nil
	}
	log.Info("failed run retried", "by", act.User.ID)
	ps, known := b.platform(rec.Key.Platform)
	if !known {
		return chat.ActionResult{Accepted: true}, nil
	}
	j := job{
		key:       rec.Key,
		user:      act.User,
		query:     rec.Query,
		inboundID: "retry:" + rec.ID,
		received:  now,
	}
	started := b.workers.Go(func() {
		if got.Live.ID != "" {
			msg := noticeMessage(got.Notice + "\n↻ Retried by " + agentText(ps.mentions, act.User.Display(), 80))
			if _, err := ps.out.Live(got.Live).Finish(b.life, []chat.Message{msg}, chat.Message{}); err != nil {
				log.Warn("retried failure notice not updated", "err", err)
			}
		}
		if err := b.enqueue(j, true); err != nil {
			log.Warn("retry not started", "err", err)
		}
	})
	if !started {
		log.Warn("shutting down: retry not started")
	}
	return chat.ActionResult{Accepted: true}, nil
}

// retryLateText tells a presser why the run is not retried.
func retryLateText(rec chat.RunRecord) string {
	if rec.State == chat.RunRetried {
		return runEndedText(rec)
	}
	return noticeRetryNotFailed
}
