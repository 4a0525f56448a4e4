package bolt

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

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
			st, err := s.Stats(t.Context())
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
