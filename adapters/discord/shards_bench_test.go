package discord

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/discord/discordfake"
	"github.com/promptev/promptev-bridge/store/postgres"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

// BenchmarkShardTakeoverPostgres measures, on the machine's PostgreSQL with
// the default lease ttl (DefaultShardLeaseTTL), how long after the death of
// the replica holding the one shard (its store cut, its gateway closed,
// nothing released) the standby replica identifies the shard: the ttl, less
// the time since the dead one's last renewal, plus up to one claim round.
func BenchmarkShardTakeoverPostgres(b *testing.B) {
	var total, worst time.Duration
	for b.Loop() {
		dsn := postgrestest.DSN(b) // a database of its own: the last round's survivor still holds its shard
		fake := discordfake.New()
		b.Cleanup(fake.Close)
		var rs []*replica
		for range 2 {
			st, err := postgres.Open(context.Background(), dsn, postgres.Options{})
			require.NoError(b, err)
			b.Cleanup(func() { _ = st.Close() })
			rs = append(rs, startReplica(b, fake, st, nil, withClaimTick(nil)))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*DefaultShardLeaseTTL+30*time.Second)
		_, err := fake.Wait(ctx, func(s discordfake.Snapshot) bool { return s.Connections == 1 })
		require.NoError(b, err)
		dead := holderOf(b, 0, rs...)
		dead.link.cut.Store(true)
		dead.halt(b)
		died := time.Now()
		_, err = fake.Wait(ctx, func(s discordfake.Snapshot) bool { return s.Connections == 1 && len(s.Identifies) == 2 })
		cancel()
		require.NoError(b, err, "the shard was not taken over")
		took := time.Since(died)
		total += took
		worst = max(worst, took)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/takeover")
	b.ReportMetric(worst.Seconds(), "s-worst")
	b.ReportMetric(DefaultShardLeaseTTL.Seconds(), "s-ttl")
}
