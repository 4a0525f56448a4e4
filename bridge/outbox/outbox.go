package outbox

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/promptev/promptev-bridge/chat"
)

// Outbox errors.
var (
	// errOutboxStopped is returned for writes waiting when the outbox's run ended.
	errOutboxStopped = errors.New("outbox: outbox stopped")
	// errMessageTooLong is returned for a message whose Body exceeds the platform limit.
	errMessageTooLong = errors.New("outbox: message body over the platform limit")
	// errFinished is returned by a second finish of one live message.
	errFinished = errors.New("outbox: live message already finished")
	// errFinalDeadline is the internal signal that a final edit found no budget in time.
	errFinalDeadline = errors.New("outbox: final edit deadline passed")
)

// defaultFinalDeadline is how long a final edit may wait for edit budget.
const defaultFinalDeadline = 2 * time.Second

// Options configures an outbox.
type Options struct {
	// FinalDeadline (default 2s) is how long a final edit may wait for edit
	// budget before the answer is posted as new replies instead.
	FinalDeadline time.Duration
	Logger        *slog.Logger
	Metrics       Metrics
	// Shared, when set, holds the budgets this outbox shares with the
	// other replicas of the bridge (a store shared by several processes):
	// every write also draws its tokens there, and a 429 pauses the budget
	// for them all. Nil keeps the budgets in this process alone.
	Shared chat.SharedBudgets
}

// outbox is the rate-aware sender of one platform. It meters posts and edits
// with token-bucket budgets per scope (from the platform's Limits), shares an
// edit budget fairly between the live messages of different conversations
// (round robin), keeps a per-message minimum edit interval, serves final edits
// and approval cards before live edits, and pauses a budget for Retry-After
// when the platform answers 429.
//
// One dispatcher goroutine (run) decides which write goes next; it never waits
// on the platform. Posts and final edits are performed by their callers once
// granted; live and tidy edits are sent by goroutines the outbox owns.
type Outbox struct {
	p       chat.Platform
	name    string
	limits  chat.Limits
	opts    Options
	log     *slog.Logger
	metrics Metrics
	shared  chat.SharedBudgets // Options.Shared

	wake    chan struct{} // buffered(1): the dispatcher has work
	stopped chan struct{} // closed when run ends

	mu      sync.Mutex
	budgets map[budgetKey]*budget
	// global is the bot-wide budget (Limits.GlobalRate) and globalPaused the
	// end of a bot-wide 429 pause; both apply to every budget.
	global       gcra
	globalPaused time.Time
	// heads are the budgets whose next write waits only for the bot-wide
	// budget, in the order it grants them; globalWakeAt is their pending
	// timer entry (zero when none). seq numbers writes in arrival order.
	heads        headHeap
	globalWakeAt time.Time
	seq          uint64
	dirty        []*budget
	spare        []*budget
	timers       wakeHeap
	started      bool
	isStopped    bool
	runCtx       context.Context
	wg           sync.WaitGroup // edits sent and shared takes made by the outbox's own goroutines
	// taking is true while the shared budgets are asked for a write's
	// tokens (one write at a time); sharedDown while they cannot be reached.
	taking     bool
	sharedDown bool
}

// New builds the sender for one platform: token-bucket budgets per scope
// from p.Limits() (edit scope: workspace or channel; post scope; SharedBudget),
// fair sharing between the live messages of different conversations in one
// scope (round robin, not FIFO of a busy one), a per-message MinEditInterval,
// and a pause of the whole budget on *RateLimitError for RetryAfter.
func New(p chat.Platform, opts Options) *Outbox {
	if opts.FinalDeadline <= 0 {
		opts.FinalDeadline = defaultFinalDeadline
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = nopMetrics{}
	}
	o := &Outbox{
		p:       p,
		name:    p.Name(),
		limits:  p.Limits(),
		opts:    opts,
		log:     opts.Logger.With("platform", p.Name(), "subsystem", "outbox"),
		metrics: opts.Metrics,
		shared:  opts.Shared,
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
		budgets: make(map[budgetKey]*budget),
	}
	o.global = o.newRate(o.limits.GlobalRate)
	return o
}

// run owns the outbox's goroutines; it returns after ctx ends and its
// goroutines have exited. Writes still waiting then fail with an error, and
// live states not yet sent are dropped. run may be called once.
func (o *Outbox) Run(ctx context.Context) {
	o.mu.Lock()
	if o.started {
		o.mu.Unlock()
		o.log.Error("outbox run called twice")
		return
	}
	o.started = true
	o.runCtx = ctx
	o.mu.Unlock()

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		now := time.Now()
		if next := o.dispatch(now); !next.IsZero() {
			timer.Reset(next.Sub(now))
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			o.stop()
			return
		case <-o.wake:
		case <-timer.C:
		}
	}
}

// stop ends the outbox: waiting callers are released with errOutboxStopped,
// pending live states are dropped, and the outbox's own sends are awaited.
func (o *Outbox) stop() {
	o.mu.Lock()
	o.isStopped = true
	close(o.stopped)
	for _, b := range o.budgets {
		if b.head != nil {
			b.queues[b.head.pri] = append(b.queues[b.head.pri], b.head)
			b.head = nil
		}
		for _, q := range b.queues {
			for _, w := range q {
				if w.grant == nil && !w.cancelled {
					if w.live && w.lm.pending != nil {
						w.lm.pending = nil
						w.lm.queued = nil
					}
					o.metrics.Edit(o.name, "dropped")
				}
			}
		}
	}
	o.budgets = make(map[budgetKey]*budget)
	o.dirty = nil
	o.heads = nil
	o.timers = nil
	o.mu.Unlock()
	o.wg.Wait()
}

// dispatch processes the budgets that changed or whose timer is due, and
// returns when it must run next (zero: only when woken).
func (o *Outbox) dispatch(now time.Time) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(o.timers) > 0 && !o.timers[0].at.After(now) {
		e := heap.Pop(&o.timers).(wakeEntry)
		if e.b == nil { // the bot-wide budget: its heads are looked at below
			if o.globalWakeAt.Equal(e.at) {
				o.globalWakeAt = time.Time{}
			}
			continue
		}
		if e.b.removed || !e.b.wakeAt.Equal(e.at) {
			continue // stale entry
		}
		e.b.wakeAt = time.Time{}
		if !e.b.dirty {
			e.b.dirty = true
			o.dirty = append(o.dirty, e.b)
		}
	}
	for {
		o.processDirtyLocked(now)
		if !o.grantHeadsLocked(now) {
			break
		}
	}
	if len(o.timers) == 0 {
		return time.Time{}
	}
	return o.timers[0].at
}

// processDirtyLocked processes the budgets marked dirty, until none is.
func (o *Outbox) processDirtyLocked(now time.Time) {
	for len(o.dirty) > 0 {
		batch := o.dirty
		o.dirty = o.spare[:0]
		for i, b := range batch {
			batch[i] = nil
			b.dirty = false
			if !b.removed {
				o.processLocked(b, now)
			}
		}
		o.spare = batch[:0]
	}
}

// post sends a new message through the post budget (waiting for budget and 429
// pauses, by Priority), retrying only after a 429; returns the platform's ref.
// Messages longer than the limit are an error (the caller splits first).
func (o *Outbox) Post(ctx context.Context, key chat.ConversationKey, msg chat.Message, pri Priority) (chat.MessageRef, error) {
	if err := o.checkLength(msg); err != nil {
		return chat.MessageRef{}, err
	}
	bk := o.postKey(key)
	// The post keeps its place in arrival order across its retries, and
	// after a thread creation it takes that write's place: a mention's
	// thread and placeholder are not put behind later mentions' threads.
	seq, err := o.awaitThreadStart(ctx, key, pri)
	if err != nil {
		return chat.MessageRef{}, fmt.Errorf("outbox: post: %w", err)
	}
	front := false
	for {
		w := &waiter{pri: pri, grant: make(chan struct{}), seq: seq}
		o.mu.Lock()
		o.enqueueLocked(bk, w, front)
		seq = w.seq
		o.mu.Unlock()
		if err := o.await(ctx, w, nil); err != nil {
			return chat.MessageRef{}, fmt.Errorf("outbox: post: %w", err)
		}
		if err := chat.CheckFence(ctx); err != nil {
			return chat.MessageRef{}, fmt.Errorf("outbox: post: %w", err)
		}
		ref, err := o.p.Post(ctx, key, msg)
		var rl *chat.RateLimitError
		if errors.As(err, &rl) {
			o.metrics.RateLimited(o.name, "post")
			o.log.Debug("post rate limited", "conversation", key.String(), "retry_after", rl.RetryAfter)
			o.sharePause(bk, rl)
			o.mu.Lock()
			o.pauseLocked(bk, rl, time.Now())
			o.mu.Unlock()
			front = true
			continue
		}
		if err != nil {
			return chat.MessageRef{}, fmt.Errorf("outbox: post: %w", err)
		}
		return ref, nil
	}
}

// awaitThreadStart waits for a write of the parent channel's budget (and a
// bot-wide token) when the post into key will create its thread first
// (chat.ThreadStarter with Limits.ThreadScope): the creation is a write on
// the parent, the post one on the thread. It returns the creation's place
// in arrival order (zero when there is none).
func (o *Outbox) awaitThreadStart(ctx context.Context, key chat.ConversationKey, pri Priority) (uint64, error) {
	ts, ok := o.p.(chat.ThreadStarter)
	if !ok || !o.limits.ThreadScope || key.Thread == "" || !ts.NeedsThread(key) {
		return 0, nil
	}
	parent := key
	parent.Thread = ""
	w := &waiter{pri: pri, grant: make(chan struct{})}
	o.mu.Lock()
	o.enqueueLocked(o.postKey(parent), w, false)
	seq := w.seq
	o.mu.Unlock()
	return seq, o.await(ctx, w, nil)
}

// postAll posts msgs in order at high Priority and returns the refs of those
// posted.
func (o *Outbox) postAll(ctx context.Context, key chat.ConversationKey, msgs []chat.Message) ([]chat.MessageRef, error) {
	refs := make([]chat.MessageRef, 0, len(msgs))
	for _, m := range msgs {
		ref, err := o.Post(ctx, key, m, PrioHigh)
		if err != nil {
			return refs, err
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// await waits until w is granted. It returns an error when ctx ends, the
// outbox stops or deadline fires first; w is then withdrawn. A write granted
// at the same moment is reported as granted, so a grant is never wasted
// silently.
func (o *Outbox) await(ctx context.Context, w *waiter, deadline <-chan time.Time) error {
	var err error
	select {
	case <-w.grant:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-o.stopped:
		err = errOutboxStopped
	case <-deadline:
		err = errFinalDeadline
	case <-w.giveUp:
		err = errFinalDeadline
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if w.granted {
		return nil
	}
	w.cancelled = true
	return err
}

// checkLength rejects a message whose Body exceeds Limits.MaxMessageChars.
func (o *Outbox) checkLength(msg chat.Message) error {
	if o.limits.MaxMessageChars <= 0 {
		return nil
	}
	if n := utf8.RuneCountInString(msg.Body); n > o.limits.MaxMessageChars {
		return fmt.Errorf("%w: %d runes, limit %d", errMessageTooLong, n, o.limits.MaxMessageChars)
	}
	return nil
}

// tooOld reports whether lm is past the platform's edit age.
func (o *Outbox) tooOld(lm *LiveMessage, now time.Time) bool {
	return o.limits.MaxEditAge > 0 && now.Sub(lm.posted) >= o.limits.MaxEditAge
}

// cloneMessage copies msg so later changes to the caller's slices and cards do
// not reach a pending state.
func cloneMessage(m chat.Message) chat.Message {
	if m.Steps != nil {
		m.Steps = append([]chat.Step(nil), m.Steps...)
	}
	if m.Approval != nil {
		a := *m.Approval
		m.Approval = &a
	}
	if m.Buttons != nil {
		m.Buttons = append([]chat.Button(nil), m.Buttons...)
	}
	return m
}

// isZeroMessage reports whether m is the zero Message.
func isZeroMessage(m chat.Message) bool {
	return m.Kind == 0 && m.Status == "" && m.Thought == "" && len(m.Steps) == 0 &&
		m.Body == "" && m.Approval == nil && !m.Final && len(m.Buttons) == 0
}
