package postgres_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/store/postgres"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

// replicated is a store under test that opens more pools on its database,
// standing in for other replicas, so the suite spreads its concurrent
// callers over them.
type replicated struct {
	*postgres.Store
	dsn string
}

func (r replicated) OpenReplica(t *testing.T) chat.Store { return open(t, r.dsn) }

var (
	_ bridgetest.Replicated    = replicated{}
	_ bridgetest.StatsReporter = (*postgres.Store)(nil)
)

func TestStoreConformance(t *testing.T) {
	bridgetest.RunStoreConformance(t, func(t *testing.T) chat.Store {
		dsn := postgrestest.DSN(t)
		s, err := postgres.Open(t.Context(), dsn, postgres.Options{})
		require.NoError(t, err)
		return replicated{Store: s, dsn: dsn}
	})
}

func TestClusterConformance(t *testing.T) {
	bridgetest.RunClusterConformance(t, func(t *testing.T, n int) []chat.Cluster {
		dsn := postgrestest.DSN(t)
		rs := make([]chat.Cluster, n)
		for i := range rs {
			rs[i] = open(t, dsn)
		}
		return rs
	})
}
