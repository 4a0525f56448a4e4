package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

var _ chat.SharedBudgets = (*Store)(nil)

// TakeBudget draws one token from each bucket of takes, all or none, in one
// call of the budget_take function (migration 0005): the buckets are locked
// in key order, checked and drawn from on the server's clock in one
// transaction, so replicas drawing from one bucket at once never overdraw
// it.
func (s *Store) TakeBudget(ctx context.Context, takes []chat.BudgetTake) (bool, []chat.BudgetState, error) {
	if err := s.check(ctx); err != nil {
		return false, nil, err
	}
	if len(takes) == 0 {
		return false, nil, errors.New("postgres: take budget: no buckets")
	}
	keys := make([]string, len(takes))
	intervals := make([]int64, len(takes))
	bursts := make([]int32, len(takes))
	keeps := make([]int32, len(takes))
	seen := make(map[string]bool, len(takes))
	for i, t := range takes {
		iv := chat.BudgetInterval(t.Rate)
		burst := max(t.Rate.Burst, 1)
		switch {
		case t.Key == "":
			return false, nil, errors.New("postgres: take budget: empty key")
		case seen[t.Key]:
			return false, nil, fmt.Errorf("postgres: take budget: key %q given twice", t.Key)
		case iv <= 0:
			return false, nil, fmt.Errorf("postgres: take budget %q: the rate must be limited, got %d per %s", t.Key, t.Rate.Count, t.Rate.Per)
		case t.Keep < 0 || t.Keep >= burst:
			return false, nil, fmt.Errorf("postgres: take budget %q: keep must be between 0 and burst-1 (%d), got %d", t.Key, burst-1, t.Keep)
		}
		seen[t.Key] = true
		keys[i], intervals[i], bursts[i], keeps[i] = t.Key, iv.Microseconds(), int32(burst), int32(t.Keep)
	}
	var taken bool
	var backlog, paused []int64
	err := s.pool.QueryRow(ctx, "SELECT taken, backlog_us, paused_us FROM budget_take($1, $2, $3, $4)",
		keys, intervals, bursts, keeps).Scan(&taken, &backlog, &paused)
	if err != nil {
		return false, nil, s.err("take budget", err)
	}
	if len(backlog) != len(takes) || len(paused) != len(takes) {
		return false, nil, fmt.Errorf("postgres: take budget: %d states for %d buckets", len(backlog), len(takes))
	}
	states := make([]chat.BudgetState, len(takes))
	for i := range states {
		states[i] = chat.BudgetState{Backlog: time.Duration(backlog[i]) * time.Microsecond, Paused: time.Duration(paused[i]) * time.Microsecond}
	}
	return taken, states, nil
}

// PauseBudget pauses the bucket named key for d from the server's now,
// keeping a longer pause already set.
func (s *Store) PauseBudget(ctx context.Context, key string, d time.Duration) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if key == "" {
		return errors.New("postgres: pause budget: empty key")
	}
	if d <= 0 {
		return fmt.Errorf("postgres: pause budget %q: the pause must be positive, got %s", key, d)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO budgets AS b (key, tat, paused_until)
		VALUES ($1, '-infinity', clock_timestamp() + $2 * interval '1 microsecond')
		ON CONFLICT (key) DO UPDATE SET paused_until = greatest(b.paused_until, EXCLUDED.paused_until)`,
		key, (d + time.Microsecond - 1).Microseconds())
	if err != nil {
		return s.err("pause budget", err)
	}
	return nil
}
