package store_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/store"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	postgrestest.Stop()
	os.Exit(code)
}

func TestPostgresConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*store.Config)
		path string
		want string
	}{
		{"dsn missing", func(c *store.Config) {}, "store.postgres.dsn", "is required with backend postgres"},
		{"dsn invalid", func(c *store.Config) { c.Postgres.DSN = "postgres://u:hunter22@h:x/db" }, "store.postgres.dsn", "is not a valid"},
		{"pool size", func(c *store.Config) { c.Postgres.DSN = "host=h"; c.Postgres.MaxConns = 0 }, "store.postgres.max_conns", "between 1 and 1000"},
		{"connect timeout", func(c *store.Config) { c.Postgres.DSN = "host=h"; c.Postgres.ConnectTimeout = 0 }, "store.postgres.connect_timeout", "must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := store.DefaultConfig()
			c.Backend = "postgres"
			c.Path = "" // ignored by the postgres backend
			tc.edit(&c)
			ps := c.Validate("store")
			require.Len(t, ps, 1, "%v", ps)
			assert.Equal(t, tc.path, ps[0].Path)
			assert.Contains(t, ps[0].Message, tc.want)
			assert.NotContains(t, ps[0].Message, "hunter22", "the password never appears")
		})
	}
	c := store.DefaultConfig()
	c.Backend, c.Postgres.DSN = "postgres", "host=127.0.0.1 dbname=test"
	assert.Empty(t, c.Validate("store"))
}

func TestOpenPostgresBackend(t *testing.T) {
	c := store.DefaultConfig()
	c.Backend, c.Postgres.DSN = "postgres", postgrestest.DSN(t)
	s, err := store.Open(t.Context(), c, store.OpenOptions{})
	require.NoError(t, err)
	defer s.Close()
	key := chat.ConversationKey{Platform: "p", Workspace: "W", Channel: "C"}
	now := time.Unix(1_700_000_000, 1).UTC()
	require.NoError(t, s.PutConversation(t.Context(), chat.Conversation{Key: key, AgentID: "a", Created: now}))

	ro, err := store.Open(t.Context(), c, store.OpenOptions{ReadOnly: true})
	require.NoError(t, err)
	defer ro.Close()
	got, err := ro.GetConversation(t.Context(), key)
	require.NoError(t, err)
	assert.True(t, got.Created.Equal(now))
	assert.Error(t, ro.PutConversation(t.Context(), chat.Conversation{Key: key}), "a read-only store refuses writes")
}

func TestSummary(t *testing.T) {
	c := store.DefaultConfig()
	assert.Equal(t, "./promptev-bridge.db", c.Summary())
	c.Backend, c.Postgres.DSN = "postgres", "postgres://bridge:hunter22@db.internal:5433/bridge?sslmode=require"
	assert.Equal(t, "postgres, database bridge on db.internal:5433", c.Summary())
}
