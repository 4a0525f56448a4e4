package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/store/postgres"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

// benchConversations is how many conversations the lookups pick from.
const benchConversations = 10_000

// benchGoroutines is how many callers share the store at once, as the
// conversations of a busy replica do.
const benchGoroutines = 4

func benchKey(i int) chat.ConversationKey {
	return chat.ConversationKey{Platform: "slack", Workspace: "T0BENCH", Channel: "C0BENCH", Thread: fmt.Sprintf("1700000000.%06d", i)}
}

// latencies runs call b.N times over benchGoroutines goroutines, each call
// with its own index, and reports the calls' p50 and p99 in microseconds
// and the calls per second.
func latencies(b *testing.B, call func(ctx context.Context, i int) error) {
	b.Helper()
	latenciesN(b, benchGoroutines, call)
}

// latenciesN is latencies with the given number of goroutines.
func latenciesN(b *testing.B, goroutines int, call func(ctx context.Context, i int) error) {
	b.Helper()
	ctx := context.Background()
	var next atomic.Int64
	lats := make([][]time.Duration, goroutines)
	var wg sync.WaitGroup
	b.ResetTimer()
	for g := range goroutines {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				err := call(ctx, i)
				lats[g] = append(lats[g], time.Since(t0))
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	all := slices.Concat(lats...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(float64(pct(all, 50).Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(pct(all, 99).Nanoseconds())/1e3, "p99-µs")
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(float64(len(sorted)-1)*p/100)]
}

// BenchmarkReplicaStoreOps measures the store operations every replica
// makes per message and per turn, on the test PostgreSQL server, with
// benchGoroutines callers at once (lookups also with one and two): a conversation lookup, a message's
// dedupe marks, a message queued with its marks, a conversation lease
// taken and renewed, and a queued turn started under its lease's fence.
func BenchmarkReplicaStoreOps(b *testing.B) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, postgrestest.DSN(b), postgres.Options{MaxConns: 10})
	require.NoError(b, err)
	b.Cleanup(func() { _ = s.Close() })
	now := time.Now()
	for i := range benchConversations {
		require.NoError(b, s.PutConversation(ctx, chat.Conversation{
			Key: benchKey(i), AgentID: "agent-bench", Mode: chat.ModeStream, SessionToken: fmt.Sprintf("st-%040d", i),
			Visitor: "slack:T0BENCH:U0BENCH", Created: now, LastActive: now, Turns: 3,
		}))
	}
	// round keeps the keys of each sub-benchmark run apart: b.Run calls
	// its function again for every b.N it tries.
	var round atomic.Int64
	const ttl = 15 * time.Second

	for _, n := range []int{1, 2, benchGoroutines} {
		b.Run(fmt.Sprintf("GetConversation/goroutines=%d", n), func(b *testing.B) {
			latenciesN(b, n, func(ctx context.Context, i int) error {
				_, err := s.GetConversation(ctx, benchKey(rand.IntN(benchConversations)))
				return err
			})
		})
	}

	b.Run(fmt.Sprintf("SeenOrMark/goroutines=%d", benchGoroutines), func(b *testing.B) {
		r := round.Add(1)
		latencies(b, func(ctx context.Context, i int) error {
			// A message's two keys, both new: the common case.
			keys := []string{fmt.Sprintf("slack:ev:%d:%d", r, i), fmt.Sprintf("slack:msg:%d:%d", r, i)}
			seen, err := s.SeenOrMark(ctx, keys, time.Hour, now)
			if err == nil && seen {
				err = fmt.Errorf("keys %q seen", keys)
			}
			return err
		})
	})

	b.Run(fmt.Sprintf("AcceptQueued/goroutines=%d", benchGoroutines), func(b *testing.B) {
		r := round.Add(1)
		latencies(b, func(ctx context.Context, i int) error {
			keys := []string{fmt.Sprintf("slack:ev:q%d:%d", r, i), fmt.Sprintf("slack:msg:q%d:%d", r, i)}
			q := chat.Queued{Key: benchKey(i % benchConversations), User: chat.User{ID: "U0BENCH"}, Query: "is prod down?", InboundID: keys[1], Received: now}
			_, _, err := s.AcceptQueued(ctx, keys, time.Hour, now, q, 0)
			return err
		})
	})

	b.Run(fmt.Sprintf("AcquireLease/goroutines=%d", benchGoroutines), func(b *testing.B) {
		r := round.Add(1)
		latencies(b, func(ctx context.Context, i int) error {
			_, ok, err := s.AcquireLease(ctx, fmt.Sprintf("conv:bench/%d/%d", r, i), "replica-bench", ttl)
			if err == nil && !ok {
				err = fmt.Errorf("lease %d not taken", i)
			}
			return err
		})
	})

	b.Run(fmt.Sprintf("RenewLease/goroutines=%d", benchGoroutines), func(b *testing.B) {
		r := round.Add(1)
		held := make([]chat.Lease, 1000)
		for i := range held {
			l, ok, err := s.AcquireLease(ctx, fmt.Sprintf("conv:renew/%d/%d", r, i), "replica-bench", ttl)
			require.NoError(b, err)
			require.True(b, ok)
			held[i] = l
		}
		latencies(b, func(ctx context.Context, i int) error {
			_, err := s.RenewLease(ctx, held[i%len(held)], ttl)
			return err
		})
	})

	b.Run(fmt.Sprintf("StartQueued/goroutines=%d", benchGoroutines), func(b *testing.B) {
		// Each turn in a conversation of its own, queued and leased
		// beforehand; started under its lease's fence, as the owner does.
		r := round.Add(1)
		type prepared struct {
			ctx context.Context
			seq int64
			key chat.ConversationKey
		}
		turns := make([]prepared, b.N)
		for i := range turns {
			key := chat.ConversationKey{Platform: "slack", Workspace: "T0BENCH", Channel: fmt.Sprintf("CS%d", r), Thread: fmt.Sprintf("%d.000001", i)}
			_, _, err := s.AcceptQueued(ctx, nil, 0, now, chat.Queued{Key: key, User: chat.User{ID: "U0BENCH"}, Query: "go", Received: now}, 0)
			require.NoError(b, err)
			q, err := s.NextQueued(ctx, key)
			require.NoError(b, err)
			l, ok, err := s.AcquireLease(ctx, chat.ConversationLease(key), "replica-bench", time.Hour)
			require.NoError(b, err)
			require.True(b, ok)
			turns[i] = prepared{ctx: chat.WithFence(ctx, chat.Fence{Name: l.Name, Token: l.Token}), seq: q.Seq, key: key}
		}
		latencies(b, func(_ context.Context, i int) error {
			t := turns[i]
			return s.StartQueued(t.ctx, t.seq, chat.InFlightRun{
				Key: t.key, Placeholder: chat.MessageRef{Key: t.key, ID: "1700000001.000001"}, InboundID: "m", RunID: fmt.Sprintf("run-%d-%d", r, i), Started: now,
			})
		})
	})
}
