package bridge

import (
	"context"
	"fmt"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// runRecordTTL is how long the records of ended runs are kept: a Retry or
// a late Stop on a message older than this is answered as unknown.
const runRecordTTL = 7 * 24 * time.Hour

// record stores the run's RunRecord (state running) before its placeholder
// is posted, so a Stop on the placeholder always finds it. When the store
// fails the run goes on without Stop and Retry buttons.
func (r *run) record() {
	rec := chat.RunRecord{
		ID:        r.handle.id,
		Key:       r.job.key,
		Requester: r.job.user.ID,
		Query:     r.job.query,
		State:     chat.RunRunning,
		Created:   r.started,
	}
	if err := r.b.store.PutRunRecord(r.life, rec); err != nil {
		r.log.Warn("run record not stored: no Stop or Retry for this run", "run", r.handle.id, "err", err)
		return
	}
	r.tracked = true
}

// recordLive records the run's live message on its record, for a Stop or
// Retry handled after the run's turn (a waiting run, a restart).
func (r *run) recordLive(ref chat.MessageRef) {
	if !r.tracked {
		return
	}
	_, _, err := r.b.store.MoveRun(context.WithoutCancel(r.life), r.handle.id,
		[]chat.RunState{chat.RunRunning}, chat.RunMove{To: chat.RunRunning, Live: ref})
	if err != nil {
		r.log.Warn("run's live message not recorded", "err", err)
	}
}

// withStop adds the run's Stop button to a live state of its message.
func (r *run) withStop(m chat.Message) chat.Message {
	if r.tracked && r.ps.buttons {
		m.Buttons = []chat.Button{stopButton(r.handle.id)}
	}
	return m
}

// settle moves the run record out of running to the state res calls for
// (done: finished; a failure: failed, so its notice's Retry works). The
// move is a compare-and-set against Stop: when a Stop won first, res
// becomes the stopped result, whatever the turn produced. An approval
// request is settled by requestApproval (waiting).
func (r *run) settle(res *result) {
	if !r.tracked {
		return
	}
	m := chat.RunMove{To: chat.RunFinished}
	switch res.outcome {
	case outcomeApproval:
		return
	case outcomeError, outcomeInterrupted:
		m = chat.RunMove{To: chat.RunFailed, Notice: res.notice}
	}
	// The move must land even while the bridge stops: the record decides
	// what a later press does.
	rec, ok, err := r.b.store.MoveRun(context.WithoutCancel(r.life), r.handle.id,
		[]chat.RunState{chat.RunRunning, chat.RunWaiting}, m)
	switch {
	case err != nil:
		r.log.Warn("run record not settled", "to", m.To, "err", err)
	case !ok && rec.State == chat.RunStopped:
		by := rec.DecidedByName
		if by == "" {
			by = rec.DecidedBy
		}
		*res = result{outcome: outcomeStopped, stoppedBy: by, err: res.err}
	}
}

// stoppedBy returns who stopped the run: by when known, else the name on
// its record.
func (r *run) stoppedBy(by string) string {
	if by != "" || !r.tracked {
		return by
	}
	rec, err := r.b.store.GetRunRecord(context.WithoutCancel(r.life), r.handle.id)
	if err != nil {
		return ""
	}
	if rec.DecidedByName != "" {
		return rec.DecidedByName
	}
	return rec.DecidedBy
}

// beginWait is called once the run's approval request a is stored and
// before its card is posted: the record moves to waiting with the
// request's id and the steps shown so far, so a Stop from now on decides
// the request. It reports false when a Stop won first.
func (r *run) beginWait(a chat.Approval) bool {
	if !r.tracked {
		return true
	}
	steps := r.view.message(r.ps.limits.MaxMessageChars).Steps
	for i := range steps {
		steps[i].Done = true
	}
	rec, ok, err := r.b.store.MoveRun(context.WithoutCancel(r.life), r.handle.id, []chat.RunState{chat.RunRunning},
		chat.RunMove{To: chat.RunWaiting, Approval: a.ID, Steps: steps})
	switch {
	case err != nil:
		r.log.Warn("waiting run not recorded: its Stop will not reach the request", "err", err)
	case !ok && rec.State == chat.RunStopped:
		return false
	}
	return true
}

// showWaiting ends the live message of a run whose approval card is out
// with "Waiting for approval" and its Stop button. A Stop handled while
// this edit was on its way edited the message first: the record then says
// stopped and the message is edited again, so Stopped is what stays.
func (r *run) showWaiting() error {
	m := r.withStop(r.view.message(r.ps.limits.MaxMessageChars))
	m.Status, m.Final = waitingApproval, true
	if err := r.finish(m); err != nil {
		return fmt.Errorf("finish placeholder: %w", err)
	}
	if !r.tracked {
		return nil
	}
	rec, err := r.b.store.GetRunRecord(context.WithoutCancel(r.life), r.handle.id)
	if err == nil && rec.State == chat.RunStopped {
		return r.finish(stoppedMessage(r.ps.mentions, rec.Steps, rec.DecidedByName, rec.DecidedBy))
	}
	return nil
}

// sweepRunRecords deletes the records of runs that ended long ago.
func (b *Bridge) sweepRunRecords(ctx context.Context, now time.Time) {
	for ctx.Err() == nil {
		n, err := b.store.SweepRunRecords(ctx, now.Add(-runRecordTTL), sweepBatch)
		if err != nil {
			b.log.Warn("run record sweep failed", "err", err)
			return
		}
		if n < sweepBatch {
			return
		}
	}
}
