package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/metrics"
)

// flakyDB is a pinger whose answer the test sets; a ping of an unreachable
// database may also hang until its deadline.
type flakyDB struct {
	mu    sync.Mutex
	err   error
	hang  bool
	pings atomic.Int32
}

func (f *flakyDB) set(err error, hang bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err, f.hang = err, hang
}

func (f *flakyDB) Ping(ctx context.Context) error {
	f.pings.Add(1)
	f.mu.Lock()
	err, hang := f.err, f.hang
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStoreWatchDrivesReadiness: the store check of /readyz follows the
// database's pings, refused or hanging, and back; a store that cannot be
// pinged (bbolt) is not watched.
func TestStoreWatchDrivesReadiness(t *testing.T) {
	assert.Nil(t, watchStore(struct{}{}, time.Second, slog.New(slog.DiscardHandler)), "a local store is not pinged")

	synctest.Test(t, func(t *testing.T) {
		db := &flakyDB{}
		var logs syncBuffer
		w := watchStore(db, storePingEvery, slog.New(slog.NewTextHandler(&logs, nil)))
		require.NotNil(t, w)
		var storeOpen, stopping atomic.Bool
		storeOpen.Store(true)
		checks := readinessChecks(&storeOpen, &stopping, w, nil, metrics.New(metrics.Options{NoRuntimeCollectors: true}))
		require.Len(t, checks, 1)
		store := func() string {
			if err := checks[0].Ready(); err != nil {
				return err.Error()
			}
			return "ok"
		}
		assert.Equal(t, "ok", store(), "an opened store is ready before its first ping")

		steps := []struct {
			name string
			err  error
			hang bool
			want string
		}{
			{"refused", errors.New("postgres: ping: connection refused"), false, "database unreachable: postgres: ping: connection refused"},
			{"back", nil, false, "ok"},
			{"hanging", nil, true, "database unreachable: context deadline exceeded"},
			{"back again", nil, false, "ok"},
		}
		for _, s := range steps {
			db.set(s.err, s.hang)
			time.Sleep(storePingEvery + storePingTimeout) // fake time: at least one whole ping
			synctest.Wait()
			assert.Equal(t, s.want, store(), s.name)
		}
		assert.Equal(t, 2, bytes.Count([]byte(logs.String()), []byte("database unreachable")), "each outage is logged once:\n%s", logs.String())
		assert.Equal(t, 2, bytes.Count([]byte(logs.String()), []byte("database reachable again")))

		stopping.Store(true)
		assert.Equal(t, "shutting down", store())
		w.stop()
		n := db.pings.Load()
		time.Sleep(10 * storePingEvery)
		assert.Equal(t, n, db.pings.Load(), "no ping after stop")
	})
}
