package bridgetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
)

// RunBudgetsConformance is the contract suite of chat.SharedBudgets. open
// returns three handles on one fresh, empty set of budgets (for a database,
// three connection pools on one schema), standing in for three replicas.
// The suite runs in real time; the only figure it derives from the clock is
// an upper bound, so a slow machine cannot fail it.
func RunBudgetsConformance(t *testing.T, open func(t *testing.T) [3]chat.SharedBudgets) {
	t.Run("BurstAndReserves", func(t *testing.T) { testBudgetsBurstAndReserves(t, open(t)[0]) })
	t.Run("AllOrNone", func(t *testing.T) { testBudgetsAllOrNone(t, open(t)[0]) })
	t.Run("RejectsBadTakes", func(t *testing.T) { testBudgetsRejectsBadTakes(t, open(t)[0]) })
	t.Run("PauseIsShared", func(t *testing.T) { testBudgetsPauseIsShared(t, open(t)) })
	t.Run("NeverOverdrawnAcrossReplicas", func(t *testing.T) { testBudgetsAcrossReplicas(t, open(t)) })
}

// slowRate refills one token an hour: within a test, a bucket of it holds
// its burst and nothing more.
func slowRate(burst int) chat.Rate { return chat.Rate{Count: 1, Per: time.Hour, Burst: burst} }

// takeUntilRefused draws from takes until refused, at most limit times, and
// returns how many were drawn and the refusal's states.
func takeUntilRefused(t *testing.T, s chat.SharedBudgets, limit int, takes ...chat.BudgetTake) (int, []chat.BudgetState) {
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

func testBudgetsBurstAndReserves(t *testing.T, s chat.SharedBudgets) {
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
				n, states := takeUntilRefused(t, s, 10, chat.BudgetTake{Key: key, Rate: tc.rate, Keep: keep})
				assert.Equal(t, tc.want[j], n, "keep %d", keep)
				require.Len(t, states, 1)
				missing := max(tc.rate.Burst, 1) - keep
				assert.InDelta(t, float64(time.Duration(missing)*time.Hour), float64(states[0].Backlog), float64(time.Minute),
					"the refusal says the bucket is %d tokens short", missing)
				assert.Zero(t, states[0].Paused)
			}
		})
	}
}

func testBudgetsAllOrNone(t *testing.T, s chat.SharedBudgets) {
	full := chat.BudgetTake{Key: "test:global", Rate: slowRate(2)}
	spent := chat.BudgetTake{Key: "test:write:G:C", Rate: slowRate(1)}
	n, _ := takeUntilRefused(t, s, 5, spent)
	require.Equal(t, 1, n)
	ok, states, err := s.TakeBudget(t.Context(), []chat.BudgetTake{spent, full})
	require.NoError(t, err)
	assert.False(t, ok)
	require.Len(t, states, 2)
	assert.Greater(t, states[0].Backlog, 59*time.Minute, "states come in the order of the takes")
	assert.Zero(t, states[1].Backlog, "the full bucket is untouched")
	n, _ = takeUntilRefused(t, s, 5, full)
	assert.Equal(t, 2, n, "the refused take drew nothing from the full bucket")
}

func testBudgetsRejectsBadTakes(t *testing.T, s chat.SharedBudgets) {
	good := chat.BudgetTake{Key: "k", Rate: slowRate(2)}
	tests := []struct {
		name  string
		takes []chat.BudgetTake
		want  string
	}{
		{"none", nil, "no buckets"},
		{"empty key", []chat.BudgetTake{{Rate: slowRate(1)}}, "empty key"},
		{"twice", []chat.BudgetTake{good, good}, "given twice"},
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
	n, _ := takeUntilRefused(t, s, 5, good)
	assert.Equal(t, 2, n, "bad takes drew nothing")
}

// testBudgetsPauseIsShared pauses a bucket from one replica: the others are
// refused for the pause's length, and a shorter pause keeps the longer one.
func testBudgetsPauseIsShared(t *testing.T, hs [3]chat.SharedBudgets) {
	take := chat.BudgetTake{Key: "chat:edit:W1:", Rate: chat.Rate{Count: 40, Per: time.Minute, Burst: 5}}
	require.NoError(t, hs[0].PauseBudget(t.Context(), take.Key, time.Hour))
	require.NoError(t, hs[1].PauseBudget(t.Context(), take.Key, time.Second))
	ok, states, err := hs[2].TakeBudget(t.Context(), []chat.BudgetTake{take})
	require.NoError(t, err)
	assert.False(t, ok, "paused by another replica")
	require.Len(t, states, 1)
	assert.InDelta(t, float64(time.Hour), float64(states[0].Paused), float64(time.Minute), "the longer pause holds")
	assert.Zero(t, states[0].Backlog, "a paused bucket gives no token")

	// A pause of a bucket in use keeps its spent tokens spent.
	other := chat.BudgetTake{Key: "chat:edit:W2:", Rate: slowRate(3)}
	n, _ := takeUntilRefused(t, hs[1], 1, other)
	require.Equal(t, 1, n)
	require.NoError(t, hs[1].PauseBudget(t.Context(), other.Key, time.Hour))
	ok, states, err = hs[0].TakeBudget(t.Context(), []chat.BudgetTake{other})
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Greater(t, states[0].Backlog, 59*time.Minute)
	assert.Greater(t, states[0].Paused, 59*time.Minute)

	// A pause of the bot-wide bucket holds back takes of every scope.
	global := chat.BudgetTake{Key: "chat:global", Rate: chat.Rate{Count: 44, Per: time.Second, Burst: 4}}
	require.NoError(t, hs[0].PauseBudget(t.Context(), global.Key, time.Hour))
	ok, _, err = hs[2].TakeBudget(t.Context(), []chat.BudgetTake{{Key: "chat:write:G:C9", Rate: slowRate(4)}, global})
	require.NoError(t, err)
	assert.False(t, ok)
}

// testBudgetsAcrossReplicas hammers one scope and the bot-wide bucket from
// three replicas for 1.5 s: the tokens drawn never exceed the burst plus
// the rate over the time the calls took (longer than the time the budgets
// saw them), and the burst is always drawn.
func testBudgetsAcrossReplicas(t *testing.T, hs [3]chat.SharedBudgets) {
	rate := chat.Rate{Count: 20, Per: time.Second, Burst: 5}
	takes := []chat.BudgetTake{{Key: "chat:write:G:C1", Rate: rate}, {Key: "chat:global", Rate: chat.Rate{Count: 44, Per: time.Second, Burst: 4}}}
	var mu sync.Mutex
	drawn, calls := 0, 0
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 12 {
		wg.Go(func() {
			s := hs[i%len(hs)]
			for time.Since(start) < 1500*time.Millisecond {
				ok, _, err := s.TakeBudget(context.Background(), takes)
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				calls++
				if ok {
					drawn++
				}
				mu.Unlock()
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
