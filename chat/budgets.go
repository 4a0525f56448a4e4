package chat

import (
	"context"
	"time"
)

// SharedBudgets is the ability of a store shared by several replicas
// (PostgreSQL) to keep the platforms' rate budgets in one place: token
// buckets (GCRA) that every replica draws from, so the replicas together
// send no more than one replica would. Expiry and pauses are kept on the
// store's clock; answers are durations from the store's now, so replicas'
// clocks need not agree.
type SharedBudgets interface {
	// TakeBudget draws one token from each bucket of takes, all or none: it
	// draws them when no bucket is paused and each one, after the draw,
	// still holds the Keep tokens its take must leave. states describes
	// each bucket (in the order of takes) after the draw, or as it is when
	// nothing was drawn. A bucket never used is full.
	TakeBudget(ctx context.Context, takes []BudgetTake) (taken bool, states []BudgetState, err error)
	// PauseBudget pauses the bucket named key for d from the store's now
	// (after a 429): no token is drawn from it until then. A longer pause
	// already set is kept.
	PauseBudget(ctx context.Context, key string, d time.Duration) error
}

// BudgetSharing is implemented by platforms that keep rate budgets of their
// own beside the outbox's (the Slack adapter's lanes: stream and session
// calls per workspace). With a store that shares budgets, the bridge hands
// it to them before Run, as it hands it to the outbox.
type BudgetSharing interface {
	ShareBudgets(b SharedBudgets)
}

// BudgetTake names one bucket of a TakeBudget and how much of it a write
// may use.
type BudgetTake struct {
	// Key names the bucket: the platform, the operation and its scope.
	Key string
	// Rate is the bucket's size and refill: Burst tokens, one back every
	// BudgetInterval(Rate). Every taker of one key must give the same Rate.
	Rate Rate
	// Keep is how many tokens the draw must leave in the bucket: the reserve
	// a lower class of writes leaves to higher ones (0 for finals).
	Keep int
}

// BudgetState is a shared bucket as TakeBudget saw it.
type BudgetState struct {
	// Backlog is how far the bucket's theoretical arrival time lies ahead
	// of the store's now: zero for a full bucket, BudgetInterval(rate) per
	// token missing from it.
	Backlog time.Duration
	// Paused is how long the bucket stays paused (zero when it is not).
	Paused time.Duration
}

// BudgetInterval is the time one token of r takes to come back in a shared
// bucket: Per/Count rounded up to the microsecond (the store's resolution),
// so a bucket is never faster than r. It is zero when r is unlimited.
func BudgetInterval(r Rate) time.Duration {
	if r.Count <= 0 || r.Per <= 0 {
		return 0
	}
	d := (r.Per + time.Duration(r.Count) - 1) / time.Duration(r.Count)
	return (d + time.Microsecond - 1).Truncate(time.Microsecond)
}
