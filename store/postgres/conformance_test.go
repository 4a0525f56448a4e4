package postgres_test

import (
	"testing"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/store/postgres"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

func TestStoreConformance(t *testing.T) {
	bridgetest.RunStoreConformance(t, func(t *testing.T) chat.Store {
		s, err := postgres.Open(t.Context(), postgrestest.DSN(t), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

var _ bridgetest.StatsReporter = (*postgres.Store)(nil)
