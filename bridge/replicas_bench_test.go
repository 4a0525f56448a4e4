package bridge_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
)

// These benchmarks need PostgreSQL (PROMPTEV_BRIDGE_TEST_POSTGRES, see
// store/postgres/postgrestest); they report SKIP without it.

// BenchmarkReplicasAccept measures how many messages three replicas accept
// per second together: each message is a new conversation, handed to a
// replica in turn by 24 concurrent senders, and accepted once its dedupe
// marks and its queued turn are committed (the platform's acknowledgement
// waits for that). The turns run in the background, on a platform with
// ample budgets, against an agent that answers at once.
func BenchmarkReplicasAccept(b *testing.B) {
	p := bridgetest.NewPlatform("slack", benchLimits(), bridgetest.WithoutRecords())
	set := startReplicas(b, 3, replicaConf{ttl: benchTTL, platform: p}, replyWith("ok"))
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range 24 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				set.deliver(i%3, mention(benchKey(i), fmt.Sprint(i), "hello", true))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "accepted/s")
	poll(b, 5*time.Minute, func() bool { return set.ended() == int64(b.N) })
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "answered/s")
}

// benchTTL is the lease TTL of the benchmarks that do not measure
// failover: long enough that renewals stay out of the figures.
const benchTTL = time.Minute

// BenchmarkReplicasFailover measures the time from the death of a replica
// to the last of its runs' placeholders showing the interrupted notice,
// edited by a survivor, with the default lease TTL of 15 s. One, then ten
// conversations of one workspace are started through the dying replica,
// each waiting on its agent; those another replica picked up first are not
// counted ("runs" is how many were). The ten notices are edits of one
// workspace: they wait for its edit budget (40 a minute, one at a time).
// Run it with -benchtime=1x.
func BenchmarkReplicasFailover(b *testing.B) {
	for _, convs := range []int{1, 10} {
		b.Run(fmt.Sprintf("conversations=%d", convs), func(b *testing.B) { benchFailover(b, convs) })
	}
}

func benchFailover(b *testing.B, convs int) {
	hold := make(chan struct{})
	defer close(hold)
	for range b.N {
		b.StopTimer()
		set := startReplicas(b, 3, replicaConf{ttl: 15 * time.Second}, func(streamCall) []step {
			return []step{{Type: promptev.EventProcessing, Out: "Working"}, {Wait: hold, Type: promptev.EventDone, Out: "never"}}
		})
		keys := make([]chat.ConversationKey, convs)
		for i := range keys {
			keys[i] = engKey(fmt.Sprintf("f%d", i))
			set.deliver(0, mention(keys[i], fmt.Sprint(i), "long job", true))
		}
		for _, key := range keys {
			set.waitButton(key, chat.Stop)
		}
		// Any replica may have picked a queued turn up first: the dying
		// replica's conversations are those whose lease it holds.
		keys = slices.DeleteFunc(keys, func(k chat.ConversationKey) bool { return set.owner(k) != 0 })
		if len(keys) == 0 {
			b.Fatal("the dying replica runs no conversation")
		}
		b.StartTimer()
		killed := time.Now()
		set.rs[0].b.Halt()
		set.rs[0].stop(b)
		var first, last time.Duration
		deadline := time.Now().Add(time.Minute)
		poll(b, 2*time.Minute, func() bool {
			if time.Now().After(deadline) {
				for _, key := range keys {
					b.Logf("%s: %q", key, set.texts(key))
				}
				b.FailNow()
			}
			done := 0
			for _, key := range keys {
				if txt := set.texts(key); len(txt) == 1 && strings.HasPrefix(txt[0], interrupted) {
					done++
				}
			}
			if done > 0 && first == 0 {
				first = time.Since(killed)
			}
			return done == len(keys)
		})
		last = time.Since(killed)
		b.StopTimer()
		b.ReportMetric(first.Seconds(), "first-notice-s")
		b.ReportMetric(last.Seconds(), "last-notice-s")
		b.ReportMetric(float64(len(keys)), "runs")
		for _, r := range set.rs {
			r.stop(b)
		}
	}
}

// BenchmarkReplicasRoundTrips counts the database round trips of one
// replica per turn: a mention opening a conversation, and a follow-up in
// it. Renewals and sweeps are kept out by a long lease TTL; a
// transaction's BEGIN and COMMIT count as round trips of their own.
func BenchmarkReplicasRoundTrips(b *testing.B) {
	var tr countingTracer
	p := bridgetest.NewPlatform("slack", benchLimits(), bridgetest.WithoutRecords())
	set := startReplicas(b, 1, replicaConf{ttl: benchTTL, platform: p, tracer: &tr}, replyWith("ok"))
	// Let start-up statements (the first sweep, LISTEN) pass.
	waitQuiet(&tr)
	var firsts, follows []int64
	b.ResetTimer()
	for i := range b.N {
		key := engKey(fmt.Sprintf("rt%d", i))
		before := tr.n.Load()
		set.deliver(0, mention(key, fmt.Sprintf("%d.0", i), "hello", true))
		poll(b, time.Minute, func() bool { return set.ended() == int64(2*i+1) })
		waitQuiet(&tr)
		firsts = append(firsts, tr.n.Load()-before)
		before = tr.n.Load()
		set.deliver(0, mention(key, fmt.Sprintf("%d.1", i), "again", false))
		poll(b, time.Minute, func() bool { return set.ended() == int64(2*i+2) })
		waitQuiet(&tr)
		follows = append(follows, tr.n.Load()-before)
	}
	b.StopTimer()
	slices.Sort(firsts)
	slices.Sort(follows)
	b.ReportMetric(float64(firsts[len(firsts)/2]), "round-trips/first-turn")
	b.ReportMetric(float64(follows[len(follows)/2]), "round-trips/follow-up")
}

// waitQuiet waits until the tracer saw no statement for 50 ms: the turn's
// last writes (after its final edit) are in.
func waitQuiet(tr *countingTracer) {
	last := tr.n.Load()
	for {
		time.Sleep(50 * time.Millisecond)
		now := tr.n.Load()
		if now == last {
			return
		}
		last = now
	}
}

// countingTracer counts the round trips to the database: a statement, or
// a batch (a fenced write sends its fence check and its statement as one).
type countingTracer struct{ n atomic.Int64 }

var (
	_ pgx.QueryTracer = (*countingTracer)(nil)
	_ pgx.BatchTracer = (*countingTracer)(nil)
)

func (c *countingTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *countingTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (c *countingTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (c *countingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *countingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
