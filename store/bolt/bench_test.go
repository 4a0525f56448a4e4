package bolt

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

// benchConversations is the size of the warm file the lookup and write
// benchmarks run on.
const benchConversations = 100_000

// buildBenchFile writes benchConversations conversations in transactions of
// 10,000 (fsync off) to build the fixture quickly.
func buildBenchFile(b *testing.B, path string) {
	b.Helper()
	s, err := Open(path, Options{NoSync: true})
	require.NoError(b, err)
	fillConversations(b, s, 0, benchConversations)
	require.NoError(b, s.Close())
}

// percentile returns the p-th percentile (0..100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

// BenchmarkStore100k builds one 100,000-conversation file and measures, on it,
// lookups, conversation writes (fsync on) and the file size.
func BenchmarkStore100k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.db")
	start := time.Now()
	buildBenchFile(b, path)
	b.Logf("built %d conversations in %s", benchConversations, time.Since(start).Round(time.Millisecond))
	ctx := context.Background()

	b.Run("FileSize", func(b *testing.B) {
		info, err := os.Stat(path)
		require.NoError(b, err)
		s, err := OpenReadOnly(path, Options{SkipCheck: true})
		require.NoError(b, err)
		var inUse int64
		require.NoError(b, s.db.View(func(tx *bbolt.Tx) error {
			free := s.db.Stats().FreePageN + s.db.Stats().PendingPageN
			inUse = tx.Size() - int64(free)*int64(s.db.Info().PageSize)
			return nil
		}))
		require.NoError(b, s.Close())
		for b.Loop() {
		}
		b.ReportMetric(float64(info.Size())/(1<<20), "file-MiB/100k")
		b.ReportMetric(float64(inUse)/(1<<20), "in-use-MiB/100k")
		b.ReportMetric(float64(inUse)/benchConversations, "in-use-bytes/conversation")
	})

	b.Run("GetConversation", func(b *testing.B) {
		start := time.Now()
		s, err := Open(path, Options{})
		require.NoError(b, err)
		b.Logf("open with consistency check: %s", time.Since(start).Round(time.Millisecond))
		defer s.Close()
		for i := range benchConversations { // warm: every page touched once
			_, err := s.GetConversation(ctx, convKey(i))
			require.NoError(b, err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		lat := make([]time.Duration, 0, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			k := convKey(rng.IntN(benchConversations))
			t := time.Now()
			_, err := s.GetConversation(ctx, k)
			lat = append(lat, time.Since(t))
			if err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(percentile(lat, 50).Nanoseconds())/1e3, "p50-µs")
		b.ReportMetric(float64(percentile(lat, 99).Nanoseconds())/1e3, "p99-µs")
		b.ReportMetric(float64(percentile(lat, 99.9).Nanoseconds())/1e3, "p99.9-µs")
	})

	b.Run("GetConversationParallel", func(b *testing.B) {
		s, err := Open(path, Options{SkipCheck: true})
		require.NoError(b, err)
		defer s.Close()
		var seed atomic.Uint64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(seed.Add(1), 7))
			for pb.Next() {
				if _, err := s.GetConversation(ctx, convKey(rng.IntN(benchConversations))); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
	})

	// Writes with fsync on, updating existing conversations: a lone writer
	// (one commit per write) and concurrent writers (batched commits).
	for _, writers := range []int{1, 8, 32, 128} {
		b.Run(fmt.Sprintf("PutConversation/writers=%d", writers), func(b *testing.B) {
			s, err := Open(path, Options{SkipCheck: true}) // fsync on
			require.NoError(b, err)
			defer s.Close()
			var next atomic.Int64
			lat := make([]time.Duration, b.N)
			b.ResetTimer()
			var wg sync.WaitGroup
			for range writers {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						c := conversation((i * 7919) % benchConversations)
						c.Turns = i
						t := time.Now()
						if err := s.PutConversation(ctx, c); err != nil {
							b.Error(err)
							return
						}
						lat[i] = time.Since(t)
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
			b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1e3, "p50-ms")
			b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1e3, "p99-ms")
		})
	}
}

// benchMarks marks b.N new deliveries (keys(i) each) from callers
// goroutines on a fresh store with fsync on, and reports them per second.
func benchMarks(b *testing.B, callers int, unit string, keys func(i int64) []string) {
	ctx := context.Background()
	s, err := Open(filepath.Join(b.TempDir(), "dedupe.db"), Options{}) // fsync on
	require.NoError(b, err)
	defer s.Close()
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				seen, err := s.SeenOrMark(ctx, keys(i), 10*time.Minute, t0)
				if err != nil || seen {
					b.Errorf("seen=%v err=%v", seen, err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

// BenchmarkSeenOrMark measures the dedupe ledger with fsync on: marking new
// keys from concurrent callers (each a write), one key per call ("new") and
// the two keys of a Slack message per call ("message"), and hits (a read).
func BenchmarkSeenOrMark(b *testing.B) {
	ctx := context.Background()
	for _, callers := range []int{1, 8, 32, 128} {
		b.Run(fmt.Sprintf("new/callers=%d", callers), func(b *testing.B) {
			benchMarks(b, callers, "marks/s", func(i int64) []string { return []string{fmt.Sprintf("slack:Ev%012d", i)} })
		})
	}
	// The keys of one Slack message (event id and channel+ts) in one call, as
	// the bridge marks them: one commit per message.
	for _, callers := range []int{1, 32} {
		b.Run(fmt.Sprintf("message/callers=%d", callers), func(b *testing.B) {
			benchMarks(b, callers, "messages/s", func(i int64) []string {
				return []string{fmt.Sprintf("slack:event:Ev%012d", i), fmt.Sprintf("slack:msg:C1:%d.000100", i)}
			})
		})
	}
	b.Run("hit", func(b *testing.B) {
		s, err := Open(filepath.Join(b.TempDir(), "dedupe.db"), Options{NoSync: true})
		require.NoError(b, err)
		defer s.Close()
		const keys = 1000
		for i := range keys {
			_, err := s.SeenOrMark(ctx, []string{fmt.Sprintf("slack:Ev%012d", i)}, time.Hour, t0)
			require.NoError(b, err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				seen, err := s.SeenOrMark(ctx, []string{fmt.Sprintf("slack:Ev%012d", i%keys)}, time.Hour, t0)
				if err != nil || !seen {
					b.Errorf("seen=%v err=%v", seen, err)
					return
				}
				i++
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hits/s")
	})
}

// BenchmarkSweepDedupe measures sweeping 1,000 expired entries from a ledger
// of 100,000 live ones (fsync on): the expiry index keeps it independent of
// the live entries.
func BenchmarkSweepDedupe(b *testing.B) {
	ctx := context.Background()
	s, err := Open(filepath.Join(b.TempDir(), "sweep.db"), Options{NoSync: true})
	require.NoError(b, err)
	defer s.Close()
	require.NoError(b, s.db.Update(func(tx *bbolt.Tx) error {
		for i := range 100_000 {
			exp := t0.Add(24 * time.Hour)
			k := []byte(fmt.Sprintf("live%08d", i))
			if err := bucketDedupe.in(tx).Put(k, timeStamp(exp)); err != nil {
				return err
			}
			if err := bucketDedupeExp.in(tx).Put(indexKey(exp, k), nil); err != nil {
				return err
			}
		}
		return nil
	}))
	for b.Loop() {
		b.StopTimer()
		s.db.NoSync = true
		require.NoError(b, s.db.Update(func(tx *bbolt.Tx) error {
			for i := range 1000 {
				exp := t0.Add(time.Minute)
				k := []byte(fmt.Sprintf("old%08d", i))
				if err := bucketDedupe.in(tx).Put(k, timeStamp(exp)); err != nil {
					return err
				}
				if err := bucketDedupeExp.in(tx).Put(indexKey(exp, k), nil); err != nil {
					return err
				}
			}
			return nil
		}))
		s.db.NoSync = false
		b.StartTimer()
		n, err := s.SweepDedupe(ctx, t0.Add(time.Hour), 1000)
		if err != nil || n != 1000 {
			b.Fatalf("swept %d: %v", n, err)
		}
	}
}
