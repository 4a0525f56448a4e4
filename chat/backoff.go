package chat

import (
	"context"
	"time"
)

// Backoff is the capped exponential delay adapters wait between reconnect
// attempts: Min first, then doubling up to Max. Set Min and Max before use;
// a Backoff is not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration
	next     time.Duration
}

// Next returns the delay to wait now and doubles the one after it.
func (b *Backoff) Next() time.Duration {
	d := max(b.next, b.Min)
	b.next = min(d*2, b.Max)
	return d
}

// Reset makes the next delay Min again (after a connection that lasted).
func (b *Backoff) Reset() { b.next = 0 }

// SleepContext waits for d, or until ctx ends; it reports whether the full
// wait elapsed.
func SleepContext(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
