package discord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

const testTTL = 15 * time.Second

// claimReplica is a claimer whose gateways are recorded instead of opened.
type claimReplica struct {
	c    *claimer
	link *cutLeaser

	mu      sync.Mutex
	running map[int]bool
	starts  []int
	stops   []int
	claimed bool
}

func newClaimReplica(l chat.Leaser, owner string, now func() time.Time, count int) *claimReplica {
	r := &claimReplica{link: &cutLeaser{l: l}, running: map[int]bool{}}
	ids := make([]int, count)
	for i := range ids {
		ids[i] = i
	}
	r.c = &claimer{
		leaser: r.link, owner: owner, ttl: testTTL, count: count, ids: ids,
		log: slog.New(slog.DiscardHandler), now: now, held: map[int]heldShard{},
		start: func(id int) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.running[id] {
				return fmt.Errorf("shard %d started twice", id)
			}
			r.running[id] = true
			r.starts = append(r.starts, id)
			return nil
		},
		stop: func(id int) {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.running[id] {
				delete(r.running, id)
				r.stops = append(r.stops, id)
			}
		},
		claimed: func(ok bool) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.claimed = ok
		},
	}
	return r
}

func (r *claimReplica) shards() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []int
	for id := range r.running {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (r *claimReplica) record() (starts, stops []int, claimed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.starts), slices.Clone(r.stops), r.claimed
}

// rounds runs n rounds of each replica in turn, the clock moving one
// interval after each sweep.
func rounds(t *testing.T, clock *manualClock, n int, rs ...*claimReplica) {
	t.Helper()
	for range n {
		for _, r := range rs {
			r.c.round(t.Context())
		}
		clock.advance(testTTL / 3)
	}
}

func TestClaimSplitsShardsBetweenReplicas(t *testing.T) {
	t.Parallel()
	tests := []struct {
		shards, replicas int
		wantMax          int
	}{
		{shards: 1, replicas: 1, wantMax: 1},
		{shards: 1, replicas: 3, wantMax: 1},
		{shards: 2, replicas: 2, wantMax: 1},
		{shards: 2, replicas: 3, wantMax: 1},
		{shards: 3, replicas: 1, wantMax: 3},
		{shards: 5, replicas: 3, wantMax: 2},
		{shards: 8, replicas: 3, wantMax: 3},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d shards %d replicas", tt.shards, tt.replicas), func(t *testing.T) {
			t.Parallel()
			clock := newManualClock()
			l := newMemLeaser(clock.now)
			var rs []*claimReplica
			for i := range tt.replicas {
				rs = append(rs, newClaimReplica(l, fmt.Sprintf("r%d", i), clock.now, tt.shards))
			}
			rounds(t, clock, 1, rs...)
			for _, r := range rs {
				assert.Empty(t, r.shards(), "the first round only announces the replica")
			}
			rounds(t, clock, 6, rs...)

			owner := map[int]string{}
			starts := 0
			for _, r := range rs {
				assert.LessOrEqual(t, len(r.shards()), tt.wantMax, "%s holds more than its share", r.c.owner)
				for _, id := range r.shards() {
					require.NotContains(t, owner, id, "shard %d runs in two replicas", id)
					owner[id] = r.c.owner
					assert.Equal(t, r.c.owner, l.holder(shardLeaseName(id)))
				}
				s, stops, claimed := r.record()
				starts += len(s)
				assert.Empty(t, stops)
				assert.True(t, claimed)
			}
			assert.Len(t, owner, tt.shards, "every shard runs")
			assert.Equal(t, tt.shards, starts, "replicas started together open each shard once")
		})
	}
}

func TestClaimRebalancesWhenAReplicaJoins(t *testing.T) {
	t.Parallel()
	clock := newManualClock()
	l := newMemLeaser(clock.now)
	a := newClaimReplica(l, "a", clock.now, 3)
	rounds(t, clock, 2, a)
	require.Equal(t, []int{0, 1, 2}, a.shards(), "alone, a replica runs every shard")

	b := newClaimReplica(l, "b", clock.now, 3)
	rounds(t, clock, 3, b, a)
	assert.Equal(t, []int{0, 1}, a.shards(), "ceil(3/2) = 2")
	assert.Equal(t, []int{2}, b.shards())
	_, stops, _ := a.record()
	assert.Equal(t, []int{2}, stops, "one shard handed back")
	assert.Equal(t, "b", l.holder(shardLeaseName(2)))
}

func TestClaimLostLeaseClosesTheGatewayAtOnce(t *testing.T) {
	t.Parallel()
	clock := newManualClock()
	l := newMemLeaser(clock.now)
	a := newClaimReplica(l, "a", clock.now, 1)
	rounds(t, clock, 2, a)
	require.Equal(t, []int{0}, a.shards())

	l.steal(shardLeaseName(0), "other", testTTL) // a takeover a did not see
	a.c.round(t.Context())
	assert.Empty(t, a.shards(), "the renewal's refusal closed the gateway")
	starts, stops, _ := a.record()
	assert.Equal(t, []int{0}, starts, "not reopened while the other holds it")
	assert.Equal(t, []int{0}, stops)
}

func TestClaimUnreachableStoreClosesTheGatewayBeforeTheLeaseExpires(t *testing.T) {
	t.Parallel()
	clock := newManualClock()
	l := newMemLeaser(clock.now)
	a := newClaimReplica(l, "a", clock.now, 1)
	b := newClaimReplica(l, "b", clock.now, 1)
	rounds(t, clock, 2, a, b)
	require.Equal(t, []int{0}, a.shards())
	renewed := clock.now().Add(-testTTL / 3) // a's last renewal

	a.link.cut.Store(true)
	failed := 0
	for a.shards() != nil {
		require.Less(t, failed, 10, "the gateway was never closed")
		assert.True(t, clock.now().Before(renewed.Add(testTTL)), "still open when the lease expired")
		assert.Empty(t, b.shards(), "open in two replicas")
		a.c.round(t.Context())
		failed++
		_, _, claimed := a.record()
		assert.False(t, claimed, "a failed round is not ready")
		rounds(t, clock, 1, b)
	}
	assert.Equal(t, 2, failed, "one failed renewal is tolerated, the second closes the gateway")

	for b.shards() == nil {
		rounds(t, clock, 1, b)
	}
	assert.Equal(t, []int{0}, b.shards())
	assert.LessOrEqual(t, clock.now().Sub(renewed), testTTL+testTTL/3+testTTL/3)
}

func TestClaimDeadOwnersShardTakenOverWithin30s(t *testing.T) {
	t.Parallel()
	clock := newManualClock()
	l := newMemLeaser(clock.now)
	a := newClaimReplica(l, "a", clock.now, 2)
	b := newClaimReplica(l, "b", clock.now, 2)
	c := newClaimReplica(l, "c", clock.now, 2)
	rounds(t, clock, 3, a, b, c)
	require.Equal(t, []int{0}, a.shards())
	require.Equal(t, []int{1}, b.shards())
	require.Empty(t, c.shards(), "the third replica stands by")

	died := clock.now() // a stops without a word: no more rounds, nothing released
	for l.holder(shardLeaseName(0)) == "a" || l.holder(shardLeaseName(0)) == "" {
		rounds(t, clock, 1, b, c)
		require.Less(t, clock.now().Sub(died), 30*time.Second, "shard 0 not taken over within 30 s")
	}
	assert.Equal(t, []int{0}, c.shards(), "the standby replica took the dead one's shard")
	assert.Equal(t, []int{1}, b.shards())
	assert.LessOrEqual(t, clock.now().Sub(died), testTTL+testTTL/3+testTTL/3)
}

func TestClaimHandBackReleasesAtOnce(t *testing.T) {
	t.Parallel()
	clock := newManualClock()
	l := newMemLeaser(clock.now)
	a := newClaimReplica(l, "a", clock.now, 1)
	b := newClaimReplica(l, "b", clock.now, 1)
	rounds(t, clock, 2, a, b)
	require.Equal(t, []int{0}, a.shards())

	a.c.handBack(t.Context())
	assert.Empty(t, a.shards())
	assert.Empty(t, l.holder(shardLeaseName(0)), "released")
	assert.Empty(t, l.holder(replicaLeasePrefix+"a"), "the presence too")
	b.c.round(t.Context()) // no time passes
	assert.Equal(t, []int{0}, b.shards(), "taken over on the survivor's next round")
}

func TestClaimReadiness(t *testing.T) {
	t.Parallel()
	clock := newManualClock()
	l := newMemLeaser(clock.now)
	a := newClaimReplica(l, "a", clock.now, 1)
	a.c.round(t.Context())
	_, _, claimed := a.record()
	assert.False(t, claimed, "not ready before the first claim")
	a.c.round(t.Context())
	_, _, claimed = a.record()
	assert.True(t, claimed)
}

// TestClaimLoop runs two claim loops on their tickers in a bubble: the
// first holds the one shard, a graceful stop hands it to the second within
// one round, and a fatal error of a gateway ends the loop with it.
func TestClaimLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newMemLeaser(time.Now)
		a := newClaimReplica(l, "a", time.Now, 1)
		b := newClaimReplica(l, "b", time.Now, 1)
		loop := func(r *claimReplica, ctx context.Context, fatal <-chan error) <-chan error {
			done := make(chan error, 1)
			go func() {
				tick := time.NewTicker(r.c.interval())
				defer tick.Stop()
				done <- r.c.run(ctx, tick.C, fatal)
			}()
			return done
		}
		actx, stopA := context.WithCancel(t.Context())
		aDone := loop(a, actx, nil)
		time.Sleep(time.Millisecond)
		bFatal := make(chan error, 1)
		bDone := loop(b, t.Context(), bFatal)

		time.Sleep(testTTL)
		synctest.Wait()
		require.Equal(t, []int{0}, a.shards())
		require.Empty(t, b.shards())

		stopA()
		require.NoError(t, <-aDone)
		assert.Empty(t, a.shards())
		time.Sleep(b.c.interval() + time.Millisecond)
		synctest.Wait()
		assert.Equal(t, []int{0}, b.shards(), "a graceful stop hands the shard over within a round")

		refused := &GatewayCloseError{Code: CloseAuthenticationFailed}
		bFatal <- refused
		err := <-bDone
		require.True(t, errors.Is(err, refused))
		assert.Empty(t, b.shards(), "gateways closed")
		assert.Empty(t, l.holder(shardLeaseName(0)), "lease handed back")
	})
}

func TestClaimWarnsWhenReplicasDisagreeOnTheCount(t *testing.T) {
	t.Parallel()
	clock := newManualClock()
	l := newMemLeaser(clock.now)
	logs := &bridgetest.SyncBuffer{}
	a := newClaimReplica(l, "a", clock.now, 2)
	a.c.log = slog.New(slog.NewTextHandler(logs, nil))
	rounds(t, clock, 2, a)
	assert.NotContains(t, logs.String(), "same count")
	l.steal(shardLeaseName(3), "b", testTTL) // b runs 4 shards
	rounds(t, clock, 2, a)
	assert.Equal(t, 1, strings.Count(logs.String(), "every replica must run the same count"), "warned once")
	assert.Contains(t, logs.String(), "holder=b")
}

// countingLeaser counts the calls that reach the store.
type countingLeaser struct {
	chat.Leaser
	mu    sync.Mutex
	calls int
}

func (c *countingLeaser) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.calls
	c.calls = 0
	return n
}

func (c *countingLeaser) inc() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
}

func (c *countingLeaser) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (chat.Lease, bool, error) {
	c.inc()
	return c.Leaser.AcquireLease(ctx, name, owner, ttl)
}

func (c *countingLeaser) RenewLease(ctx context.Context, l chat.Lease, ttl time.Duration) (chat.Lease, error) {
	c.inc()
	return c.Leaser.RenewLease(ctx, l, ttl)
}

func (c *countingLeaser) ListLeases(ctx context.Context, prefix string) ([]chat.Lease, error) {
	c.inc()
	return c.Leaser.ListLeases(ctx, prefix)
}

// TestClaimRoundTrips counts the store calls of a steady round: the
// presence, one renewal per held shard, and one listing.
func TestClaimRoundTrips(t *testing.T) {
	t.Parallel()
	clock := newManualClock()
	l := newMemLeaser(clock.now)
	var counters []*countingLeaser
	var rs []*claimReplica
	for _, name := range []string{"a", "b"} {
		c := &countingLeaser{Leaser: l}
		counters = append(counters, c)
		rs = append(rs, newClaimReplica(c, name, clock.now, 3))
	}
	rounds(t, clock, 4, rs...)
	require.Equal(t, []int{0, 1}, rs[0].shards())
	require.Equal(t, []int{2}, rs[1].shards())
	counters[0].count()
	counters[1].count()
	rounds(t, clock, 1, rs...)
	assert.Equal(t, 4, counters[0].count(), "presence + 2 renewals + list")
	assert.Equal(t, 3, counters[1].count(), "presence + 1 renewal + list")
}

func TestClaimLateRoundThatRenewsKeepsItsShards(t *testing.T) {
	t.Parallel()
	clock := newManualClock()
	l := newMemLeaser(clock.now)
	a := newClaimReplica(l, "a", clock.now, 1)
	rounds(t, clock, 2, a)
	require.Equal(t, []int{0}, a.shards())
	clock.advance(testTTL) // a paused: its next round comes after the lease's expiry
	a.c.round(t.Context())
	assert.Equal(t, []int{0}, a.shards(), "nobody took it over: the renewal holds it still")
	_, stops, _ := a.record()
	assert.Empty(t, stops)
}
