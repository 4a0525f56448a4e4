package slack_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/metrics"
	"github.com/promptev/promptev-bridge/store"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

// The tokens of installs made through the flow are nowhere in the store:
// not in the raw bbolt file, not in any raw PostgreSQL row, not in the
// store's statistics (text and JSON) nor in the logs.
func TestOAuthTokensNeverStoredInClear(t *testing.T) {
	for _, backend := range []string{"bbolt", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			c := store.DefaultConfig()
			c.Backend = backend
			c.Path = filepath.Join(t.TempDir(), "bridge.db")
			if backend == "postgres" {
				if os.Getenv("PROMPTEV_BRIDGE_TEST_POSTGRES") == "" {
					t.Skip("PROMPTEV_BRIDGE_TEST_POSTGRES is not set")
				}
				c.Postgres.DSN = postgrestest.DSN(t)
			}
			st, err := store.Open(t.Context(), c, store.OpenOptions{})
			require.NoError(t, err)
			t.Cleanup(func() { _ = st.Close() })

			r := newOAuthRig(t, oauthRigOptions{store: st})
			r.install(t, wsAlpha.TeamID, false)
			r.install(t, wsGrid1.TeamID, true)
			ev := r.mention(t, wsAlpha.TeamID, "CALPHA", "hi")
			r.threadShows(t, "CALPHA", ev.TS, "You said: hi")

			var tokens []string
			for _, in := range r.fake.Installations() {
				tokens = append(tokens, in.BotToken)
			}
			require.Len(t, tokens, 2)

			var raw [][]byte
			switch backend {
			case "bbolt":
				b, err := os.ReadFile(c.Path)
				require.NoError(t, err)
				raw = append(raw, b)
			case "postgres":
				raw = postgresRows(t, c.Postgres.DSN)
			}
			stats, err := st.Stats(t.Context())
			require.NoError(t, err)
			assert.Equal(t, 2, stats.Installations)
			var text, js bytes.Buffer
			require.NoError(t, metrics.WriteStoreStats(&text, stats))
			require.NoError(t, metrics.WriteStoreStatsJSON(&js, stats))
			raw = append(raw, text.Bytes(), js.Bytes(), []byte(r.logs.String()))

			found := false
			for _, b := range raw {
				found = found || bytes.Contains(b, []byte("TALPHA"))
			}
			require.True(t, found, "the raw data holds the installations")
			for _, tok := range tokens {
				for _, b := range raw {
					assert.False(t, bytes.Contains(b, []byte(tok)), "a token in clear")
					assert.False(t, bytes.Contains(b, []byte(tok[5:])), "a token without its prefix")
				}
			}
		})
	}
}

// postgresRows returns every row of every table in the schema of dsn, as
// PostgreSQL renders it.
func postgresRows(t *testing.T, dsn string) [][]byte {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	require.NoError(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Contains(t, tables, "installations")
	var out [][]byte
	for _, table := range tables {
		rows, err := conn.Query(ctx, `SELECT t::text FROM `+pgx.Identifier{table}.Sanitize()+` t`)
		require.NoError(t, err)
		vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		for _, v := range vals {
			out = append(out, []byte(v))
		}
	}
	return out
}
