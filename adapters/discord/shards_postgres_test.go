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
// PostgreSQL database, over two shards on their real claim loops: each
// shard is identified once, and when the holder of shard 0 dies without a
// word (its store cut, nothing released), a survivor identifies shard 0
// anew within 30 s.
func TestShardsOnPostgres(t *testing.T) {
	t.Parallel()
	dsn := postgrestest.DSN(t)
	fake := newShardedFake(t)
	const ttl = 3 * time.Second
	var rs []*replica
	for range 3 {
		st, err := postgres.Open(t.Context(), dsn, postgres.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() }) // after the replica's Run returned
		rs = append(rs, startReplica(t, fake, st, func(c *Config) { c.Shards = "2" }, withClaimTTL(ttl), withClaimTick(nil)))
	}
	s := waitFake(t, fake, func(s discordfake.Snapshot) bool { return s.Connections == 2 })
	assert.Equal(t, [][2]int{{0, 2}, {1, 2}}, identified(s), "each shard identified exactly once")
	dead := holderOf(t, 0, rs...)
	var survivors []*replica
	for _, r := range rs {
		if r != dead {
			survivors = append(survivors, r)
		}
	}

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
