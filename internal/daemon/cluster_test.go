package daemon

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/promptev/promptev-bridge/adapters/console"
	"github.com/promptev/promptev-bridge/adapters/discord"
	"github.com/promptev/promptev-bridge/chat"
)

// The Discord adapter is a leaseUser: a store that hands out leases
// reaches it.
var _ leaseUser = (*discord.Adapter)(nil)

// leasingAdapter records the leaser it was given.
type leasingAdapter struct {
	chat.Adapter
	got   chat.Leaser
	owner string
	ttl   time.Duration
}

func (a *leasingAdapter) SetLeaser(l chat.Leaser, owner string, ttl time.Duration) {
	a.got, a.owner, a.ttl = l, owner, ttl
}

// stubLeaser is a store that hands out leases (its answers are not used).
type stubLeaser struct{}

func (stubLeaser) AcquireLease(context.Context, string, string, time.Duration) (chat.Lease, bool, error) {
	return chat.Lease{}, false, nil
}
func (stubLeaser) RenewLease(context.Context, chat.Lease, time.Duration) (chat.Lease, error) {
	return chat.Lease{}, nil
}
func (stubLeaser) ReleaseLease(context.Context, chat.Lease) error { return nil }
func (stubLeaser) ListLeases(context.Context, string) ([]chat.Lease, error) {
	return nil, nil
}

func (stubLeaser) SweepLeases(context.Context, time.Duration, int) (int, error) { return 0, nil }

func TestShareLeaser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		store any
		want  chat.Leaser
	}{
		{name: "a shared store's leases reach the adapter", store: stubLeaser{}, want: stubLeaser{}},
		{name: "a store without leases leaves it alone", store: struct{}{}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			leasing := &leasingAdapter{Adapter: console.New(console.Options{In: eofReader{}, Out: io.Discard})}
			plain := console.New(console.Options{In: eofReader{}, Out: io.Discard})
			n := shareLeaser(tt.store, []chat.Adapter{plain, leasing}, "replica-1", 20*time.Second)
			assert.Equal(t, tt.want, leasing.got)
			if tt.want != nil {
				assert.Equal(t, 1, n, "only the adapter that uses leases")
				assert.Equal(t, "replica-1", leasing.owner, "the bridge's replica name")
				assert.Equal(t, 20*time.Second, leasing.ttl)
			} else {
				assert.Zero(t, n)
			}
		})
	}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
