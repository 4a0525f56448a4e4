package outbox

import (
	"container/heap"
	"context"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// Budgets shared with other replicas (Options.Shared). The outbox keeps
// its scheduling as it is: its own copy of each bucket decides which write
// is next and when. The copy is refreshed from the store's answer to each
// take, so it also counts the other replicas' writes; a write the copy
// allows is granted only once the store has drawn its tokens (scope and
// bot-wide, all or none, with the class's reserve). A write another replica
// beat to the tokens goes back to the head of its class and waits for the
// time the store's answer gives. The store is asked on a goroutine of the
// outbox, one write at a time: the dispatcher never waits on it.

// sharePauseTimeout bounds the call that shares a 429's pause.
const sharePauseTimeout = 5 * time.Second

// sharedTakeTimeout bounds one take: every grant of the outbox waits for
// it, so a store slower than this counts as unreachable (the write is
// metered by the replica's own copy) rather than holding up finals.
const sharedTakeTimeout = time.Second

// newRate builds the bucket of r. With shared budgets its interval is the
// store's (chat.BudgetInterval), so the copy and the store agree on when a
// token is back.
func (o *Outbox) newRate(r chat.Rate) gcra {
	g := newGCRA(r)
	if o.shared != nil && g.interval > 0 {
		burst := g.burst()
		g.interval = chat.BudgetInterval(r)
		g.tolerance = time.Duration(burst-1) * g.interval
	}
	return g
}

// sharedKey names the shared bucket of a budget: the platform, the
// operation and the scope.
func (o *Outbox) sharedKey(k budgetKey) string {
	return o.name + ":" + k.op + ":" + k.workspace + ":" + k.channel
}

// globalKey names the shared bot-wide bucket (Limits.GlobalRate).
func (o *Outbox) globalKey() string { return o.name + ":global" }

// startTakeLocked asks the shared budgets for the tokens of w, the head of
// b, on a goroutine; it reports false when w draws from no limited bucket
// (and is granted at once).
func (o *Outbox) startTakeLocked(b *budget, w *waiter) bool {
	var takes []chat.BudgetTake
	if b.rate.interval > 0 {
		takes = append(takes, chat.BudgetTake{Key: o.sharedKey(b.key), Rate: b.r, Keep: b.rate.keep(scopeClass(w))})
	}
	if o.global.interval > 0 {
		takes = append(takes, chat.BudgetTake{Key: o.globalKey(), Rate: o.limits.GlobalRate, Keep: o.global.keep(w.pri)})
	}
	if len(takes) == 0 {
		return false
	}
	o.taking = true
	b.taking = w
	o.wg.Add(1)
	go o.takeShared(b, w, takes)
	return true
}

// takeShared draws w's tokens from the shared budgets, refreshes the
// copies of the buckets from the answer, and grants w or puts it back at
// the head of its class. When the store cannot be reached, w is metered by
// this replica's copy alone (what one replica would send), rather than
// every answer waiting for the store.
func (o *Outbox) takeShared(b *budget, w *waiter, takes []chat.BudgetTake) {
	defer o.wg.Done()
	ctx, cancel := context.WithTimeout(o.runCtx, sharedTakeTimeout)
	taken, states, err := o.shared.TakeBudget(ctx, takes)
	cancel()
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.taking = false
	b.taking = nil
	if o.isStopped {
		o.dropLocked(w)
		return
	}
	o.markDirtyLocked(b)
	switch {
	case err == nil:
		if o.sharedDown {
			o.sharedDown = false
			o.log.Info("shared rate budgets reachable again")
		}
		o.learnLocked(b, states, now)
	case o.runCtx.Err() != nil:
		taken = false // stopping: w waits in its queue for the stop
	default:
		if !o.sharedDown {
			o.sharedDown = true
			o.log.Warn("shared rate budgets unreachable; metering this replica's writes alone until they answer", "error", err)
		}
		b.rate.take(now)
		o.global.take(now)
		taken = true
	}
	switch {
	case w.cancelled:
		// Withdrawn meanwhile (a final past its deadline): the tokens
		// drawn are spent, as if it had gone.
	case taken:
		o.grantLocked(w, now)
	case w.giveUp != nil && o.finalHopelessLocked(w.lm, now, w.deadline):
		// Other replicas took the tokens a final counted on, and the
		// answer shows none comes before its deadline: it is posted now
		// rather than at the deadline.
		w.cancelled = true
		close(w.giveUp)
	default:
		o.requeueFrontLocked(b, w)
	}
}

// learnLocked refreshes the copies of b's bucket and of the bot-wide one
// from the store's answer (states in startTakeLocked's order).
func (o *Outbox) learnLocked(b *budget, states []chat.BudgetState, now time.Time) {
	i := 0
	if b.rate.interval > 0 && i < len(states) {
		b.rate.tat = now.Add(states[i].Backlog)
		if until := now.Add(states[i].Paused); until.After(b.pausedUntil) {
			b.pausedUntil = until
		}
		i++
	}
	if o.global.interval > 0 && i < len(states) {
		o.global.tat = now.Add(states[i].Backlog)
		if until := now.Add(states[i].Paused); until.After(o.globalPaused) {
			o.globalPaused = until
		}
	}
}

// requeueFrontLocked puts w back at the head of its class in b, before the
// head b offered meanwhile (w arrived first).
func (o *Outbox) requeueFrontLocked(b *budget, w *waiter) {
	if b.head != nil {
		heap.Remove(&o.heads, b.headIdx)
		b.queues[b.head.pri] = append([]*waiter{b.head}, b.queues[b.head.pri]...)
		b.waiting++
		b.head = nil
	}
	b.queues[w.pri] = append([]*waiter{w}, b.queues[w.pri]...)
	b.waiting++
}

// dropLocked drops w, whose tokens were asked for when the outbox stopped:
// a caller waiting for it is released by the stop; a live state is dropped.
func (o *Outbox) dropLocked(w *waiter) {
	if w.grant != nil || w.cancelled {
		return
	}
	if w.live && w.lm.pending != nil {
		w.lm.pending = nil
		w.lm.queued = nil
	}
	o.metrics.Edit(o.name, "dropped")
}

// sharePause pauses the shared bucket of key after a 429, for every
// replica: the bot-wide bucket when the platform's bot-wide limit was hit
// and the outbox has one. It is called without the outbox's mutex; a
// failure is logged (this replica pauses its copy anyway).
func (o *Outbox) sharePause(key budgetKey, rl *chat.RateLimitError) {
	if o.shared == nil {
		return
	}
	d := rl.RetryAfter
	if d <= 0 {
		d = time.Second
	}
	k := o.sharedKey(key)
	if rl.Global && o.global.interval > 0 {
		k = o.globalKey()
	}
	ctx, cancel := context.WithTimeout(o.runCtx, sharePauseTimeout)
	defer cancel()
	if err := o.shared.PauseBudget(ctx, k, d); err != nil && o.runCtx.Err() == nil {
		o.log.Warn("could not share a rate limit pause with the other replicas", "budget", k, "error", err)
	}
}
