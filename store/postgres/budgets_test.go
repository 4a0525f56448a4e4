package postgres_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/store/postgres"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

func TestBudgetsConformance(t *testing.T) {
	bridgetest.RunBudgetsConformance(t, func(t *testing.T) [3]chat.SharedBudgets {
		dsn := postgrestest.DSN(t)
		return [3]chat.SharedBudgets{open(t, dsn), open(t, dsn), open(t, dsn)}
	})
}

// takeOne draws one token of a bucket with an hour's interval and reports
// whether it was drawn.
func takeOne(t *testing.T, s *postgres.Store, key string) bool {
	t.Helper()
	ok, _, err := s.TakeBudget(t.Context(), []chat.BudgetTake{{Key: key, Rate: chat.Rate{Count: 1, Per: time.Hour, Burst: 1}}})
	require.NoError(t, err)
	return ok
}

// TestTakeBudgetSweepsIdleBuckets checks that a take creating a bucket
// deletes up to 16 idle ones, and never a paused one.
func TestTakeBudgetSweepsIdleBuckets(t *testing.T) {
	dsn := postgrestest.DSN(t)
	s := open(t, dsn)
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	_, err = conn.Exec(t.Context(), `INSERT INTO budgets (key, tat, paused_until)
		SELECT 'idle:' || i, now() - interval '2 minutes', '-infinity' FROM generate_series(1, 20) AS i`)
	require.NoError(t, err)
	_, err = conn.Exec(t.Context(), `INSERT INTO budgets (key, tat, paused_until) VALUES
		('paused', now() - interval '1 hour', now() + interval '1 hour'),
		('busy', now() + interval '1 hour', '-infinity')`)
	require.NoError(t, err)
	count := func() (idle int) {
		require.NoError(t, conn.QueryRow(t.Context(), "SELECT count(*) FROM budgets WHERE key LIKE 'idle:%'").Scan(&idle))
		return idle
	}

	require.False(t, takeOne(t, s, "busy"), "busy is spent")
	assert.Equal(t, 20, count(), "a take of an existing bucket sweeps nothing")
	require.True(t, takeOne(t, s, "new"))
	assert.Equal(t, 4, count(), "a new bucket sweeps 16 idle ones")
	require.True(t, takeOne(t, s, "new2"))
	assert.Zero(t, count())
	var left []string
	rows, err := conn.Query(t.Context(), "SELECT key FROM budgets ORDER BY key")
	require.NoError(t, err)
	left, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{"busy", "new", "new2", "paused"}, left)
}
