package discord

import (
	"context"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// The transport's bot-wide budget, shared by replicas: with shared budgets
// (ShareBudgets), every REST call but interaction callbacks draws from one
// bucket in the store with the transport's figures (restRate, restBurst),
// so the replicas together stay under Discord's 50 requests a second, and
// a global 429 met by one pauses them all. Route gates (a bucket whose
// X-RateLimit-Remaining reached 0) stay in the process: a channel's
// conversations are run by one replica.

// restBudgetKey names the shared bucket of the transport's budget.
const restBudgetKey = Name + ":rest"

// restBudgetRate is the transport's budget as a chat.Rate.
var restBudgetRate = chat.Rate{Count: restRate, Per: time.Second, Burst: restBurst}

// sharedRESTTimeout bounds one call to the shared budgets; a slower store
// counts as unreachable.
const sharedRESTTimeout = time.Second

var _ chat.BudgetSharing = (*Adapter)(nil)

// ShareBudgets implements chat.BudgetSharing: the transport's bot-wide
// REST budget is drawn from b, shared with the other replicas. (The
// outbox's bot-wide budget of writes, chat.Limits.GlobalRate, is shared by
// the bridge itself.) Call it before Run.
func (a *Adapter) ShareBudgets(b chat.SharedBudgets) {
	a.limit.mu.Lock()
	defer a.limit.mu.Unlock()
	a.limit.shared = b
}

// drawShared draws one token of the shared REST budget, leaving keep
// tokens in it: wait is zero when drawn, else how long until one may be.
// When the store cannot be reached, the call is metered by this replica's
// bucket alone. err is only ctx's.
func (l *restLimiter) drawShared(ctx context.Context, shared chat.SharedBudgets, keep int) (time.Duration, error) {
	tctx, cancel := context.WithTimeout(ctx, sharedRESTTimeout)
	ok, states, err := shared.TakeBudget(tctx, []chat.BudgetTake{{Key: restBudgetKey, Rate: restBudgetRate, Keep: keep}})
	cancel()
	switch {
	case err != nil && ctx.Err() != nil:
		return 0, ctx.Err()
	case err != nil:
		l.log.Debug("shared REST budget unavailable; metering this replica's calls alone", "error", err)
		l.mu.Lock()
		defer l.mu.Unlock()
		now := l.now()
		if at := l.tat.Add(-l.tolerance + time.Duration(keep)*l.interval); at.After(now) {
			return at.Sub(now), nil
		}
		l.tat = maxTime(l.tat, now).Add(l.interval)
		return 0, nil
	case ok:
		return 0, nil
	}
	iv := chat.BudgetInterval(restBudgetRate)
	wait := max(states[0].Paused, states[0].Backlog-time.Duration(restBurst-1-keep)*iv)
	return max(wait, time.Millisecond), nil
}

// sharePause pauses the shared REST budget after a global 429, for every
// replica; it does nothing without shared budgets.
func (l *restLimiter) sharePause(d time.Duration) {
	l.mu.Lock()
	shared := l.shared
	l.mu.Unlock()
	if shared == nil {
		return
	}
	if d <= 0 {
		d = time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := shared.PauseBudget(ctx, restBudgetKey, d); err != nil {
		l.log.Warn("could not share a global rate limit pause with the other replicas", "error", err)
	}
}
