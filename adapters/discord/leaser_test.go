package discord

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// memLeaser is chat.Leaser in memory, with the semantics of the PostgreSQL
// store: expiry on its own clock (now), a new token for every new holder and
// for a holder coming back to its own expired lease, a renewal keeps it.
type memLeaser struct {
	mu     sync.Mutex
	now    func() time.Time
	leases map[string]chat.Lease
	token  int64
}

var _ chat.Leaser = (*memLeaser)(nil)

func newMemLeaser(now func() time.Time) *memLeaser {
	return &memLeaser{now: now, leases: map[string]chat.Lease{}}
}

func (m *memLeaser) AcquireLease(_ context.Context, name, owner string, ttl time.Duration) (chat.Lease, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	l, held := m.leases[name]
	live := held && l.Expires.After(now)
	if live && l.Owner != owner {
		return l, false, nil
	}
	if !live {
		m.token++
		l = chat.Lease{Name: name, Owner: owner, Token: m.token}
	}
	l.Expires = now.Add(ttl)
	m.leases[name] = l
	return l, true, nil
}

func (m *memLeaser) RenewLease(_ context.Context, l chat.Lease, ttl time.Duration) (chat.Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.leases[l.Name]
	if !ok || cur.Owner != l.Owner || cur.Token != l.Token {
		return chat.Lease{}, fmt.Errorf("renew %s: %w", l.Name, chat.ErrLeaseLost)
	}
	cur.Expires = m.now().Add(ttl)
	m.leases[l.Name] = cur
	return cur, nil
}

func (m *memLeaser) ReleaseLease(_ context.Context, l chat.Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if cur, ok := m.leases[l.Name]; ok && cur.Owner == l.Owner && cur.Token == l.Token && cur.Expires.After(now) {
		cur.Expires = now
		m.leases[l.Name] = cur
	}
	return nil
}

func (m *memLeaser) ListLeases(_ context.Context, prefix string) ([]chat.Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []chat.Lease
	for name, l := range m.leases {
		if strings.HasPrefix(name, prefix) {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b chat.Lease) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (m *memLeaser) SweepLeases(_ context.Context, age time.Duration, limit int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for name, l := range m.leases {
		if n < limit && l.Expires.Before(m.now().Add(-age)) {
			delete(m.leases, name)
			n++
		}
	}
	return n, nil
}

// steal gives name to owner with a new token, as a takeover does.
func (m *memLeaser) steal(name, owner string, ttl time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.token++
	m.leases[name] = chat.Lease{Name: name, Owner: owner, Token: m.token, Expires: m.now().Add(ttl)}
}

// holder returns name's live holder ("" for none).
func (m *memLeaser) holder(name string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.leases[name]; ok && l.Expires.After(m.now()) {
		return l.Owner
	}
	return ""
}

// errUnreachable is what a cut leaser answers.
var errUnreachable = errors.New("store unreachable")

// cutLeaser is one replica's way to a shared leaser; cut makes every call
// fail, as a partition or a dead process does.
type cutLeaser struct {
	l   chat.Leaser
	cut atomic.Bool
}

var _ chat.Leaser = (*cutLeaser)(nil)

func (c *cutLeaser) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (chat.Lease, bool, error) {
	if c.cut.Load() {
		return chat.Lease{}, false, errUnreachable
	}
	return c.l.AcquireLease(ctx, name, owner, ttl)
}

func (c *cutLeaser) RenewLease(ctx context.Context, l chat.Lease, ttl time.Duration) (chat.Lease, error) {
	if c.cut.Load() {
		return chat.Lease{}, errUnreachable
	}
	return c.l.RenewLease(ctx, l, ttl)
}

func (c *cutLeaser) ReleaseLease(ctx context.Context, l chat.Lease) error {
	if c.cut.Load() {
		return errUnreachable
	}
	return c.l.ReleaseLease(ctx, l)
}

func (c *cutLeaser) ListLeases(ctx context.Context, prefix string) ([]chat.Lease, error) {
	if c.cut.Load() {
		return nil, errUnreachable
	}
	return c.l.ListLeases(ctx, prefix)
}

// manualClock is a clock that moves only when told.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func newManualClock() *manualClock { return &manualClock{t: time.Unix(1764331200, 0)} }

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// offsetClock is the real clock plus an offset that moves when told: a
// store whose leases expire on their own for short ttls and jump for long
// ones.
type offsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *offsetClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *offsetClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func (c *cutLeaser) SweepLeases(ctx context.Context, age time.Duration, limit int) (int, error) {
	if c.cut.Load() {
		return 0, errUnreachable
	}
	return c.l.SweepLeases(ctx, age, limit)
}
