package bolt

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

func TestSeenOrMark(t *testing.T) {
	ctx := context.Background()
	ks := func(keys ...string) []string { return keys }
	type call struct {
		keys     []string
		ttl      time.Duration
		at       time.Duration // after t0
		wantSeen bool
		wantErr  string
	}
	tests := []struct {
		name  string
		calls []call
	}{
		{name: "first is new, second seen", calls: []call{
			{keys: ks("slack:Ev1"), ttl: 10 * time.Minute, wantSeen: false},
			{keys: ks("slack:Ev1"), ttl: 10 * time.Minute, at: time.Minute, wantSeen: true},
		}},
		{name: "keys are independent", calls: []call{
			{keys: ks("slack:Ev1"), ttl: time.Minute},
			{keys: ks("slack:Ev2"), ttl: time.Minute},
			{keys: ks("slack:C1:1.2"), ttl: time.Minute},
		}},
		{name: "seen just before expiry", calls: []call{
			{keys: ks("k"), ttl: time.Minute},
			{keys: ks("k"), ttl: time.Minute, at: time.Minute - time.Nanosecond, wantSeen: true},
		}},
		{name: "expired at exactly ttl: new again, re-marked", calls: []call{
			{keys: ks("k"), ttl: time.Minute},
			{keys: ks("k"), ttl: time.Minute, at: time.Minute},
			{keys: ks("k"), ttl: time.Minute, at: time.Minute + 30*time.Second, wantSeen: true},
			{keys: ks("k"), ttl: time.Minute, at: 2 * time.Minute},
		}},
		{name: "a hit does not extend the mark", calls: []call{
			{keys: ks("k"), ttl: time.Minute},
			{keys: ks("k"), ttl: time.Hour, at: 30 * time.Second, wantSeen: true},
			{keys: ks("k"), ttl: time.Minute, at: time.Minute},
		}},
		{name: "twin: one id new, the other seen: seen, and the new id is marked", calls: []call{
			{keys: ks("slack:event:Ev1", "slack:msg:C1:1.2"), ttl: 10 * time.Minute},
			{keys: ks("slack:event:Ev2", "slack:msg:C1:1.2"), ttl: 10 * time.Minute, at: time.Second, wantSeen: true},
			{keys: ks("slack:event:Ev2"), ttl: 10 * time.Minute, at: 2 * time.Second, wantSeen: true},
			{keys: ks("slack:event:Ev3", "slack:msg:C1:1.3"), ttl: 10 * time.Minute, at: 3 * time.Second},
		}},
		{name: "all keys new: every key is marked", calls: []call{
			{keys: ks("a", "b", "c"), ttl: time.Minute},
			{keys: ks("a"), ttl: time.Minute, wantSeen: true},
			{keys: ks("b"), ttl: time.Minute, wantSeen: true},
			{keys: ks("c"), ttl: time.Minute, wantSeen: true},
		}},
		{name: "expired key beside a live one is re-marked", calls: []call{
			{keys: ks("old"), ttl: time.Minute},
			{keys: ks("live"), ttl: time.Hour},
			{keys: ks("old", "live"), ttl: time.Hour, at: 2 * time.Minute, wantSeen: true},
			{keys: ks("old"), ttl: time.Minute, at: 30 * time.Minute, wantSeen: true},
		}},
		{name: "a hit among several keys does not extend the live mark", calls: []call{
			{keys: ks("k"), ttl: time.Minute},
			{keys: ks("k", "j"), ttl: time.Hour, at: 30 * time.Second, wantSeen: true},
			{keys: ks("k"), ttl: time.Minute, at: time.Minute},
			{keys: ks("j"), ttl: time.Minute, at: time.Minute, wantSeen: true},
		}},
		{name: "a key repeated in one call is new once", calls: []call{
			{keys: ks("k", "k"), ttl: time.Minute},
			{keys: ks("k"), ttl: time.Minute, wantSeen: true},
		}},
		{name: "no keys", calls: []call{{keys: nil, ttl: time.Minute, wantErr: "no keys"}}},
		{name: "empty key among others marks nothing", calls: []call{
			{keys: ks("k", ""), ttl: time.Minute, wantErr: "empty key"},
			{keys: ks("k"), ttl: time.Minute},
		}},
		{name: "empty key", calls: []call{{keys: ks(""), ttl: time.Minute, wantErr: "empty key"}}},
		{name: "zero ttl", calls: []call{{keys: ks("k"), ttl: 0, wantErr: "ttl must be positive"}}},
		{name: "negative ttl", calls: []call{{keys: ks("k"), ttl: -time.Second, wantErr: "ttl must be positive"}}},
	}
	// The bbolt store and bridgetest.MemStore (which the bridge's tests run
	// on) answer alike.
	impls := map[string]func(t *testing.T) chat.Store{
		"bbolt":    func(t *testing.T) chat.Store { return openTemp(t) },
		"memstore": func(*testing.T) chat.Store { return bridgetest.NewMemStore() },
	}
	for _, tt := range tests {
		for impl, open := range impls {
			t.Run(impl+"/"+tt.name, func(t *testing.T) {
				s := open(t)
				for i, c := range tt.calls {
					seen, err := s.SeenOrMark(ctx, c.keys, c.ttl, t0.Add(c.at))
					if c.wantErr != "" {
						require.ErrorContains(t, err, c.wantErr)
						continue
					}
					require.NoError(t, err)
					assert.Equal(t, c.wantSeen, seen, "call %d", i)
				}
			})
		}
	}
}

// TestSeenOrMark_OneWriteTransaction checks that the keys of one message
// cost one commit: new keys one write transaction in all, a full hit none.
func TestSeenOrMark_OneWriteTransaction(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	txid := func() int {
		var id int
		require.NoError(t, s.view(func(tx *bbolt.Tx) error { id = tx.ID(); return nil }))
		return id
	}
	tests := []struct {
		name      string
		keys      []string
		wantSeen  bool
		wantWrite int
	}{
		{name: "two new keys", keys: []string{"slack:event:Ev1", "slack:msg:C1:1.2"}, wantWrite: 1},
		{name: "twin: one new, one seen", keys: []string{"slack:event:Ev2", "slack:msg:C1:1.2"}, wantSeen: true, wantWrite: 1},
		{name: "full hit: read only", keys: []string{"slack:event:Ev2", "slack:msg:C1:1.2"}, wantSeen: true, wantWrite: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := txid()
			seen, err := s.SeenOrMark(ctx, tt.keys, time.Hour, t0)
			require.NoError(t, err)
			assert.Equal(t, tt.wantSeen, seen)
			assert.Equal(t, tt.wantWrite, txid()-before, "write transactions")
		})
	}
	assert.Equal(t, 3, countBucket(t, s, bucketDedupe))
	assert.Equal(t, 3, countBucket(t, s, bucketDedupeExp), "index and ledger stay in step")
}

func TestSweepDedupe(t *testing.T) {
	ctx := context.Background()
	// Keys k0..k9 marked at t0 with ttl (i+1) min: ki expires at t0+(i+1)min.
	setup := func(t *testing.T) *Store {
		s := openTemp(t)
		for i := range 10 {
			seen, err := s.SeenOrMark(ctx, []string{fmt.Sprintf("k%d", i)}, time.Duration(i+1)*time.Minute, t0)
			require.NoError(t, err)
			require.False(t, seen)
		}
		return s
	}
	tests := []struct {
		name      string
		now       time.Duration
		limit     int
		wantSwept int
		wantLeft  int
	}{
		{name: "nothing expired", now: 30 * time.Second, limit: 100, wantSwept: 0, wantLeft: 10},
		{name: "expiry equal to now is swept", now: time.Minute, limit: 100, wantSwept: 1, wantLeft: 9},
		{name: "some expired", now: 4 * time.Minute, limit: 100, wantSwept: 4, wantLeft: 6},
		{name: "bounded batch", now: time.Hour, limit: 3, wantSwept: 3, wantLeft: 7},
		{name: "zero limit uses default", now: time.Hour, limit: 0, wantSwept: 10, wantLeft: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := setup(t)
			n, err := s.SweepDedupe(ctx, t0.Add(tt.now), tt.limit)
			require.NoError(t, err)
			assert.Equal(t, tt.wantSwept, n)
			st, err := s.Stats()
			require.NoError(t, err)
			assert.Equal(t, tt.wantLeft, st.DedupeEntries)
			assert.Equal(t, tt.wantLeft, countBucket(t, s, bucketDedupeExp), "index and ledger stay in step")
			// The soonest-expiring keys go first: the survivors are still seen.
			for i := 10 - tt.wantLeft; i < 10; i++ {
				seen, err := s.SeenOrMark(ctx, []string{fmt.Sprintf("k%d", i)}, time.Minute, t0)
				require.NoError(t, err)
				assert.True(t, seen, "k%d", i)
			}
		})
	}
}

func TestSweepDedupe_InBatchesUntilDone(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	for i := range 25 {
		_, err := s.SeenOrMark(ctx, []string{fmt.Sprintf("k%02d", i)}, time.Minute, t0)
		require.NoError(t, err)
	}
	var batches []int
	for {
		n, err := s.SweepDedupe(ctx, t0.Add(time.Hour), 10)
		require.NoError(t, err)
		batches = append(batches, n)
		if n < 10 {
			break
		}
	}
	assert.Equal(t, []int{10, 10, 5}, batches)
}

func TestSweepDedupe_KeepsReMarkedKey(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	_, err := s.SeenOrMark(ctx, []string{"k"}, time.Minute, t0)
	require.NoError(t, err)
	// Expired, then marked again until t0+1h: the old index entry is replaced.
	seen, err := s.SeenOrMark(ctx, []string{"k"}, time.Hour, t0.Add(2*time.Minute))
	require.NoError(t, err)
	require.False(t, seen)
	assert.Equal(t, 1, countBucket(t, s, bucketDedupeExp))

	n, err := s.SweepDedupe(ctx, t0.Add(10*time.Minute), 100)
	require.NoError(t, err)
	assert.Zero(t, n)
	seen, err = s.SeenOrMark(ctx, []string{"k"}, time.Minute, t0.Add(10*time.Minute))
	require.NoError(t, err)
	assert.True(t, seen)
}

func TestSweepDedupe_TouchesOnlyExpired(t *testing.T) {
	// Many live entries and a few expired: a sweep deletes exactly the
	// expired ones, walking the index from its start.
	ctx := context.Background()
	s := openTemp(t)
	for i := range 200 {
		_, err := s.SeenOrMark(ctx, []string{fmt.Sprintf("live%03d", i)}, time.Hour, t0)
		require.NoError(t, err)
	}
	for i := range 5 {
		_, err := s.SeenOrMark(ctx, []string{fmt.Sprintf("old%d", i)}, time.Minute, t0.Add(-time.Hour))
		require.NoError(t, err)
	}
	n, err := s.SweepDedupe(ctx, t0, 1000)
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	assert.Equal(t, 200, countBucket(t, s, bucketDedupe))
}
