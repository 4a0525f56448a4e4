package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSeenOrMark(t *testing.T) {
	ctx := context.Background()
	type call struct {
		key      string
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
			{key: "slack:Ev1", ttl: 10 * time.Minute, wantSeen: false},
			{key: "slack:Ev1", ttl: 10 * time.Minute, at: time.Minute, wantSeen: true},
		}},
		{name: "keys are independent", calls: []call{
			{key: "slack:Ev1", ttl: time.Minute},
			{key: "slack:Ev2", ttl: time.Minute},
			{key: "slack:C1:1.2", ttl: time.Minute},
		}},
		{name: "seen just before expiry", calls: []call{
			{key: "k", ttl: time.Minute},
			{key: "k", ttl: time.Minute, at: time.Minute - time.Nanosecond, wantSeen: true},
		}},
		{name: "expired at exactly ttl: new again, re-marked", calls: []call{
			{key: "k", ttl: time.Minute},
			{key: "k", ttl: time.Minute, at: time.Minute},
			{key: "k", ttl: time.Minute, at: time.Minute + 30*time.Second, wantSeen: true},
			{key: "k", ttl: time.Minute, at: 2 * time.Minute},
		}},
		{name: "a hit does not extend the mark", calls: []call{
			{key: "k", ttl: time.Minute},
			{key: "k", ttl: time.Hour, at: 30 * time.Second, wantSeen: true},
			{key: "k", ttl: time.Minute, at: time.Minute},
		}},
		{name: "empty key", calls: []call{{key: "", ttl: time.Minute, wantErr: "empty key"}}},
		{name: "zero ttl", calls: []call{{key: "k", ttl: 0, wantErr: "ttl must be positive"}}},
		{name: "negative ttl", calls: []call{{key: "k", ttl: -time.Second, wantErr: "ttl must be positive"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t)
			for i, c := range tt.calls {
				seen, err := s.SeenOrMark(ctx, c.key, c.ttl, t0.Add(c.at))
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

func TestSweepDedupe(t *testing.T) {
	ctx := context.Background()
	// Keys k0..k9 marked at t0 with ttl (i+1) min: ki expires at t0+(i+1)min.
	setup := func(t *testing.T) *Store {
		s := openTemp(t)
		for i := range 10 {
			seen, err := s.SeenOrMark(ctx, fmt.Sprintf("k%d", i), time.Duration(i+1)*time.Minute, t0)
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
				seen, err := s.SeenOrMark(ctx, fmt.Sprintf("k%d", i), time.Minute, t0)
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
		_, err := s.SeenOrMark(ctx, fmt.Sprintf("k%02d", i), time.Minute, t0)
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
	_, err := s.SeenOrMark(ctx, "k", time.Minute, t0)
	require.NoError(t, err)
	// Expired, then marked again until t0+1h: the old index entry is replaced.
	seen, err := s.SeenOrMark(ctx, "k", time.Hour, t0.Add(2*time.Minute))
	require.NoError(t, err)
	require.False(t, seen)
	assert.Equal(t, 1, countBucket(t, s, bucketDedupeExp))

	n, err := s.SweepDedupe(ctx, t0.Add(10*time.Minute), 100)
	require.NoError(t, err)
	assert.Zero(t, n)
	seen, err = s.SeenOrMark(ctx, "k", time.Minute, t0.Add(10*time.Minute))
	require.NoError(t, err)
	assert.True(t, seen)
}

func TestSweepDedupe_TouchesOnlyExpired(t *testing.T) {
	// Many live entries and a few expired: a sweep deletes exactly the
	// expired ones, walking the index from its start.
	ctx := context.Background()
	s := openTemp(t)
	for i := range 200 {
		_, err := s.SeenOrMark(ctx, fmt.Sprintf("live%03d", i), time.Hour, t0)
		require.NoError(t, err)
	}
	for i := range 5 {
		_, err := s.SeenOrMark(ctx, fmt.Sprintf("old%d", i), time.Minute, t0.Add(-time.Hour))
		require.NoError(t, err)
	}
	n, err := s.SweepDedupe(ctx, t0, 1000)
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	assert.Equal(t, 200, countBucket(t, s, bucketDedupe))
}
