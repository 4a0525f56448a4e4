package discord

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/discord/discordfake"
	"github.com/promptev/promptev-bridge/store/postgres"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

// TestShardsOnPostgres runs three replicas, each with its own pool on one
// PostgreSQL database, over two shards, their rounds a third of the ttl
// apart: each shard is identified once, and when the holder of shard 0
// dies without a word (its store cut, nothing released), a survivor
// identifies shard 0 anew within 30 s.
func TestShardsOnPostgres(t *testing.T) {
	t.Parallel()
	dsn := postgrestest.DSN(t)
	fake := newShardedFake(t)
	const ttl = 3 * time.Second
	stores := make([]*postgres.Store, 3)
	for i := range stores {
		st, err := postgres.Open(t.Context(), dsn, postgres.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() }) // after the replica's Run returned
		stores[i] = st
	}
	var rs []*replica
	for _, st := range stores {
		rs = append(rs, startReplica(t, fake, st, func(c *Config) { c.Shards = "2" }, withClaimTTL(ttl)))
	}
	// The first rounds (presence) are over before the second: replicas
	// started together, whatever the machine's load.
	waitPresent(t, stores[0], rs...)
	for _, r := range rs {
		r.round(t)
	}
	s := waitFake(t, fake, func(s discordfake.Snapshot) bool { return s.Connections == 2 })
	tickEvery(t, ttl/3, rs...) // from here on, rounds on the clock
	dead := holderOf(t, 0, rs...)
	var survivors []*replica
	for _, r := range rs {
		if r != dead {
			survivors = append(survivors, r)
		}
	}
	assert.Equal(t, [][2]int{{0, 2}, {1, 2}}, identified(s), "each shard identified exactly once")

	dead.link.cut.Store(true)
	dead.halt(t)
	died := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := fake.Wait(ctx, func(s discordfake.Snapshot) bool { return s.Connections == 2 && len(s.Identifies) == 3 })
	require.NoError(t, err, "shard 0 was not taken over within 30 s")
	took := time.Since(died)
	t.Logf("shard 0 identified by a survivor %s after its holder died (lease ttl %s)", took.Round(10*time.Millisecond), ttl)
	assert.Equal(t, [][2]int{{0, 2}, {0, 2}, {1, 2}}, identified(s))
	heir := holderOf(t, 0, survivors...)
	mentionIn(t, fake, evenGuild, evenChannel, "after the takeover")
	assert.Equal(t, "after the takeover", heir.h.nextMessage(t).Text)
}
