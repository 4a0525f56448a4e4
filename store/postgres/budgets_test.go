package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/store/postgres"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

// slowRate refills one token an hour: within a test, a bucket of it holds
// only its burst.
func slowRate(burst int) chat.Rate { return chat.Rate{Count: 1, Per: time.Hour, Burst: burst} }

// takeN draws from take until it is refused, at most limit times, and
// returns how many were drawn and the refusal's states.
func takeN(t *testing.T, s *postgres.Store, limit int, takes ...chat.BudgetTake) (int, []chat.BudgetState) {
	t.Helper()
	for n := range limit {
		ok, states, err := s.TakeBudget(t.Context(), takes)
		require.NoError(t, err)
		require.Len(t, states, len(takes))
		if !ok {
			return n, states
		}
	}
	return limit, nil
}

func TestTakeBudgetBurstReserveAndAllOrNone(t *testing.T) {
	dsn := postgrestest.DSN(t)
	s := open(t, dsn)
	tests := []struct {
		name  string
		rate  chat.Rate
		keeps []int // takes with each keep in turn, each until refused
		want  []int // tokens drawn by each
	}{
		{"the burst, then nothing", slowRate(3), []int{0}, []int{3}},
		{"a burst of zero is one", slowRate(0), []int{0}, []int{1}},
		{"live edits leave half, finals take the rest", slowRate(5), []int{2, 0}, []int{3, 2}},
		{"tidy-ups leave all but one", slowRate(5), []int{4, 2, 0}, []int{1, 2, 2}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("test:edit:W%d:", i)
			for j, keep := range tc.keeps {
				n, states := takeN(t, s, 10, chat.BudgetTake{Key: key, Rate: tc.rate, Keep: keep})
				assert.Equal(t, tc.want[j], n, "keep %d", keep)
				missing := max(tc.rate.Burst, 1) - keep
				assert.InDelta(t, float64(time.Duration(missing)*time.Hour), float64(states[0].Backlog), float64(time.Minute),
					"the refusal says the bucket is %d tokens short", missing)
				assert.Zero(t, states[0].Paused)
			}
		})
	}

	t.Run("all or none", func(t *testing.T) {
		full := chat.BudgetTake{Key: "test:global", Rate: slowRate(2)}
		spent := chat.BudgetTake{Key: "test:write:G:C", Rate: slowRate(1)}
		n, _ := takeN(t, s, 5, spent)
		require.Equal(t, 1, n)
		ok, states, err := s.TakeBudget(t.Context(), []chat.BudgetTake{spent, full})
		require.NoError(t, err)
		assert.False(t, ok)
		assert.Greater(t, states[0].Backlog, 59*time.Minute, "the spent bucket is in takes' order")
		assert.Zero(t, states[1].Backlog, "the full bucket is untouched")
		n, _ = takeN(t, s, 5, full)
		assert.Equal(t, 2, n, "the refused take drew nothing from the full bucket")
	})
}

func TestTakeBudgetRejectsBadTakes(t *testing.T) {
	s := open(t, postgrestest.DSN(t))
	ok := chat.BudgetTake{Key: "k", Rate: slowRate(2)}
	tests := []struct {
		name  string
		takes []chat.BudgetTake
		want  string
	}{
		{"none", nil, "no buckets"},
		{"empty key", []chat.BudgetTake{{Rate: slowRate(1)}}, "empty key"},
		{"twice", []chat.BudgetTake{ok, ok}, "given twice"},
		{"unlimited", []chat.BudgetTake{{Key: "u", Rate: chat.Rate{Burst: 3}}}, "must be limited"},
		{"keep the whole burst", []chat.BudgetTake{{Key: "k", Rate: slowRate(2), Keep: 2}}, "keep must be between 0 and burst-1 (1)"},
		{"negative keep", []chat.BudgetTake{{Key: "k", Rate: slowRate(2), Keep: -1}}, "keep must be"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.TakeBudget(t.Context(), tc.takes)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	assert.ErrorContains(t, s.PauseBudget(t.Context(), "k", 0), "must be positive")
	assert.ErrorContains(t, s.PauseBudget(t.Context(), "", time.Second), "empty key")
}

// TestPauseBudgetIsShared pauses a bucket from one pool: the others are
// refused for the pause's length, and a shorter pause keeps the longer one.
func TestPauseBudgetIsShared(t *testing.T) {
	dsn := postgrestest.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	take := chat.BudgetTake{Key: "slack:edit:T1:", Rate: chat.Rate{Count: 40, Per: time.Minute, Burst: 5}}
	require.NoError(t, a.PauseBudget(t.Context(), take.Key, time.Hour))
	require.NoError(t, a.PauseBudget(t.Context(), take.Key, time.Second))
	ok, states, err := b.TakeBudget(t.Context(), []chat.BudgetTake{take})
	require.NoError(t, err)
	assert.False(t, ok, "paused by the other replica")
	assert.InDelta(t, float64(time.Hour), float64(states[0].Paused), float64(time.Minute), "the longer pause holds")
	assert.Zero(t, states[0].Backlog, "a pause draws no token")

	// A pause of a bucket in use keeps its tokens spent.
	other := chat.BudgetTake{Key: "slack:edit:T2:", Rate: slowRate(3)}
	n, _ := takeN(t, b, 1, other)
	require.Equal(t, 1, n)
	require.NoError(t, b.PauseBudget(t.Context(), other.Key, time.Hour))
	ok, states, err = a.TakeBudget(t.Context(), []chat.BudgetTake{other})
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Greater(t, states[0].Backlog, 59*time.Minute)
	assert.Greater(t, states[0].Paused, 59*time.Minute)
}

// TestTakeBudgetAcrossPools hammers one bucket from three pools, standing
// in for three replicas: the tokens drawn never exceed the burst plus the
// rate over the time the calls took (the calls' span is longer than the
// server's), and the burst is always drawn.
func TestTakeBudgetAcrossPools(t *testing.T) {
	dsn := postgrestest.DSN(t)
	stores := []*postgres.Store{open(t, dsn), open(t, dsn), open(t, dsn)}
	rate := chat.Rate{Count: 20, Per: time.Second, Burst: 5}
	take := []chat.BudgetTake{{Key: "discord:write:G:C1", Rate: rate}, {Key: "discord:global", Rate: chat.Rate{Count: 44, Per: time.Second, Burst: 4}}}
	var mu sync.Mutex
	drawn, calls := 0, 0
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 12 {
		wg.Go(func() {
			s := stores[i%len(stores)]
			for time.Since(start) < 1500*time.Millisecond {
				mu.Lock()
				calls++
				mu.Unlock()
				ok, _, err := s.TakeBudget(context.Background(), take)
				if !assert.NoError(t, err) {
					return
				}
				if ok {
					mu.Lock()
					drawn++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	most := rate.Burst + int(elapsed*time.Duration(rate.Count)/rate.Per)
	t.Logf("%d tokens drawn in %s by %d calls (at most %d allowed)", drawn, elapsed, calls, most)
	assert.LessOrEqual(t, drawn, most)
	assert.GreaterOrEqual(t, drawn, rate.Burst)
}

// TestTakeBudgetSweepsIdleBuckets checks that a take creating a bucket
// deletes up to 16 idle ones, and never a paused one.
func TestTakeBudgetSweepsIdleBuckets(t *testing.T) {
	dsn := postgrestest.DSN(t)
	s := open(t, dsn)
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	_, err = conn.Exec(t.Context(), `INSERT INTO budgets (key, tat, paused_until)
		SELECT 'idle:' || i, now() - interval '2 minutes', '-infinity' FROM generate_series(1, 20) AS i`)
	require.NoError(t, err)
	_, err = conn.Exec(t.Context(), `INSERT INTO budgets (key, tat, paused_until) VALUES
		('paused', now() - interval '1 hour', now() + interval '1 hour'),
		('busy', now() + interval '1 hour', '-infinity')`)
	require.NoError(t, err)
	count := func() (idle int) {
		require.NoError(t, conn.QueryRow(t.Context(), "SELECT count(*) FROM budgets WHERE key LIKE 'idle:%'").Scan(&idle))
		return idle
	}

	n, _ := takeN(t, s, 1, chat.BudgetTake{Key: "busy", Rate: slowRate(1)})
	require.Zero(t, n, "busy is spent")
	assert.Equal(t, 20, count(), "a take of an existing bucket sweeps nothing")
	n, _ = takeN(t, s, 1, chat.BudgetTake{Key: "new", Rate: slowRate(1)})
	require.Equal(t, 1, n)
	assert.Equal(t, 4, count(), "a new bucket sweeps 16 idle ones")
	takeN(t, s, 1, chat.BudgetTake{Key: "new2", Rate: slowRate(1)})
	assert.Zero(t, count())
	var left []string
	rows, err := conn.Query(t.Context(), "SELECT key FROM budgets ORDER BY key")
	require.NoError(t, err)
	left, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{"busy", "new", "new2", "paused"}, left)
}
