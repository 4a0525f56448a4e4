package bridgetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// MemBudgets is an in-memory chat.SharedBudgets: the rate budgets that the
// outboxes of several bridges in one test share, as replicas share them in
// a store. It keeps time with time.Now, so it runs inside synctest
// bubbles. It is safe for concurrent use.
type MemBudgets struct {
	mu      sync.Mutex
	buckets map[string]*memBucket
	fail    error
	latency time.Duration
	takes   int
}

// memBucket is one bucket: the theoretical arrival time of its next
// request (GCRA) and the end of its pause.
type memBucket struct {
	tat, paused time.Time
}

var _ chat.SharedBudgets = (*MemBudgets)(nil)

// NewMemBudgets returns empty shared budgets (every bucket full).
func NewMemBudgets() *MemBudgets {
	return &MemBudgets{buckets: map[string]*memBucket{}}
}

// FailWith makes every call fail with err from now on, as a store that
// cannot be reached; nil makes them succeed again.
func (m *MemBudgets) FailWith(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = err
}

// SetLatency makes every TakeBudget call take d (or until its context
// ends), as a slow store.
func (m *MemBudgets) SetLatency(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.latency = d
}

// Takes returns how many TakeBudget calls were answered.
func (m *MemBudgets) Takes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.takes
}

// TakeBudget implements chat.SharedBudgets.
func (m *MemBudgets) TakeBudget(ctx context.Context, takes []chat.BudgetTake) (bool, []chat.BudgetState, error) {
	if err := ctx.Err(); err != nil {
		return false, nil, err
	}
	if err := checkTakes(takes); err != nil {
		return false, nil, err
	}
	m.mu.Lock()
	latency := m.latency
	m.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false, nil, ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return false, nil, m.fail
	}
	m.takes++
	now := time.Now()
	taken := true
	for _, t := range takes {
		iv := chat.BudgetInterval(t.Rate)
		b := m.bucket(t.Key)
		spare := time.Duration(max(t.Rate.Burst, 1)-1-t.Keep) * iv
		if b.paused.After(now) || b.tat.Add(-spare).After(now) {
			taken = false
		}
	}
	states := make([]chat.BudgetState, len(takes))
	for i, t := range takes {
		b := m.bucket(t.Key)
		if taken {
			b.tat = later(b.tat, now).Add(chat.BudgetInterval(t.Rate))
		}
		states[i] = chat.BudgetState{Backlog: later(b.tat, now).Sub(now), Paused: later(b.paused, now).Sub(now)}
	}
	return taken, states, nil
}

// PauseBudget implements chat.SharedBudgets.
func (m *MemBudgets) PauseBudget(ctx context.Context, key string, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if key == "" {
		return errors.New("membudgets: pause budget: empty key")
	}
	if d <= 0 {
		return fmt.Errorf("membudgets: pause budget %q: the pause must be positive, got %s", key, d)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	b := m.bucket(key)
	b.paused = later(b.paused, time.Now().Add(d))
	return nil
}

func (m *MemBudgets) bucket(key string) *memBucket {
	b, ok := m.buckets[key]
	if !ok {
		b = &memBucket{}
		m.buckets[key] = b
	}
	return b
}

// checkTakes applies the rules every chat.SharedBudgets enforces.
func checkTakes(takes []chat.BudgetTake) error {
	if len(takes) == 0 {
		return errors.New("membudgets: take budget: no buckets")
	}
	seen := map[string]bool{}
	for _, t := range takes {
		burst := max(t.Rate.Burst, 1)
		switch {
		case t.Key == "":
			return errors.New("membudgets: take budget: empty key")
		case seen[t.Key]:
			return fmt.Errorf("membudgets: take budget: key %q given twice", t.Key)
		case chat.BudgetInterval(t.Rate) <= 0:
			return fmt.Errorf("membudgets: take budget %q: the rate must be limited", t.Key)
		case t.Keep < 0 || t.Keep >= burst:
			return fmt.Errorf("membudgets: take budget %q: keep must be between 0 and burst-1 (%d), got %d", t.Key, burst-1, t.Keep)
		}
		seen[t.Key] = true
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
