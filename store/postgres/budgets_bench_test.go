package postgres_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/store/postgres"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

// BenchmarkTakeBudget measures one TakeBudget round trip (a scope bucket
// and the bot-wide one, as a Discord write draws): p50 and p99 per call.
// Every outbox grant with shared budgets waits for one, and an outbox has
// one under way at a time: callers=1 per pool is three replicas' outboxes
// busy at once; callers=4 per pool is a stress of the bot-wide bucket's
// row lock, which every call takes.
func BenchmarkTakeBudget(b *testing.B) {
	for _, tc := range []struct{ pools, perPool int }{{1, 1}, {3, 1}, {1, 4}, {3, 4}} {
		pools := tc.pools
		b.Run(fmt.Sprintf("pools=%d/callers=%d", pools, pools*tc.perPool), func(b *testing.B) {
			dsn := postgrestest.DSN(b)
			stores := make([]*postgres.Store, pools)
			for i := range stores {
				s, err := postgres.Open(b.Context(), dsn, postgres.Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = s.Close() })
				stores[i] = s
			}
			rate := chat.Rate{Count: 1_000_000, Per: time.Second, Burst: 1000}
			var mu sync.Mutex
			lat := make([]time.Duration, 0, b.N)
			var wg sync.WaitGroup
			callers := tc.perPool * pools
			b.ResetTimer()
			for c := range callers {
				wg.Go(func() {
					s := stores[c%pools]
					takes := []chat.BudgetTake{{Key: fmt.Sprintf("bench:write:G:C%d", c), Rate: rate}, {Key: "bench:global", Rate: rate}}
					for i := c; i < b.N; i += callers {
						start := time.Now()
						if _, _, err := s.TakeBudget(b.Context(), takes); err != nil {
							b.Error(err)
							return
						}
						d := time.Since(start)
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50_µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99_µs")
			}
		})
	}
}
