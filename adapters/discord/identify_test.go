package discord

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
)

// identifyTimes has each (adapter, shard) wait for its turn to identify at
// once and returns when each got it, from the start.
func identifyTimes(t *testing.T, plan shardPlan, turns []struct {
	a  *Adapter
	id int
},
) []time.Duration {
	t.Helper()
	start := time.Now()
	out := make([]time.Duration, len(turns))
	var wg sync.WaitGroup
	for i, turn := range turns {
		s, err := turn.a.newShard(turn.id, plan)
		require.NoError(t, err)
		wg.Go(func() {
			require.True(t, turn.a.awaitIdentify(t.Context(), s))
			out[i] = time.Since(start)
		})
		synctest.Wait() // in order
	}
	wg.Wait()
	return out
}

func TestIdentifySpacing(t *testing.T) {
	t.Parallel()
	type turn = struct {
		a  *Adapter
		id int
	}
	newA := func(t *testing.T, l chat.Leaser) *Adapter {
		opts := []Option{}
		if l != nil {
			opts = append(opts, WithLeaser(l))
		}
		a, err := New(testConfig(), slog.New(slog.DiscardHandler), opts...)
		require.NoError(t, err)
		return a
	}
	tests := []struct {
		name  string
		plan  shardPlan
		turns func(t *testing.T) []turn
		want  []time.Duration
	}{
		{
			name: "one shard never waits",
			plan: shardPlan{count: 1, concurrency: 1},
			turns: func(t *testing.T) []turn {
				a := newA(t, nil)
				return []turn{{a, 0}, {a, 0}}
			},
			want: []time.Duration{0, 0},
		},
		{
			name: "one bucket: 5 s apart",
			plan: shardPlan{count: 3, concurrency: 1},
			turns: func(t *testing.T) []turn {
				a := newA(t, nil)
				return []turn{{a, 0}, {a, 1}, {a, 2}}
			},
			want: []time.Duration{0, 5 * time.Second, 10 * time.Second},
		},
		{
			name: "max_concurrency 2: two buckets side by side",
			plan: shardPlan{count: 4, concurrency: 2},
			turns: func(t *testing.T) []turn {
				a := newA(t, nil)
				return []turn{{a, 0}, {a, 1}, {a, 2}, {a, 3}}
			},
			want: []time.Duration{0, 0, 5 * time.Second, 5 * time.Second},
		},
		{
			name: "two replicas share a bucket through the store",
			plan: shardPlan{count: 2, concurrency: 1},
			turns: func(t *testing.T) []turn {
				l := newMemLeaser(time.Now)
				return []turn{{newA(t, l), 0}, {newA(t, l), 1}}
			},
			want: []time.Duration{0, 5 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				got := identifyTimes(t, tt.plan, tt.turns(t))
				for i := range got {
					// The store's turns are polled a tenth of the spacing apart.
					assert.InDelta(t, tt.want[i], got[i], float64(IdentifySpacing/10), "turn %d", i)
					assert.GreaterOrEqual(t, got[i], tt.want[i], "turn %d", i)
				}
			})
		})
	}
}

func TestIdentifyTurnEndsWithContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		a, err := New(testConfig(), slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		plan := shardPlan{count: 2, concurrency: 1}
		s0, err := a.newShard(0, plan)
		require.NoError(t, err)
		s1, err := a.newShard(1, plan)
		require.NoError(t, err)
		require.True(t, a.awaitIdentify(t.Context(), s0))
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		assert.False(t, a.awaitIdentify(ctx, s1), "a stopped shard stops waiting")
	})
}
