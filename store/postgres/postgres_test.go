package postgres_test

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/store/postgres"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	postgrestest.Stop()
	os.Exit(code)
}

// open opens a store on dsn and closes it when the test ends.
func open(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn, postgres.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestMigrationsConcurrentOpens(t *testing.T) {
	dsn := postgrestest.DSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Go(func() {
			s, err := postgres.Open(t.Context(), dsn, postgres.Options{MaxConns: 2})
			if err == nil {
				_ = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	var n, maxVersion int
	require.NoError(t, conn.QueryRow(t.Context(), "SELECT count(*), max(version) FROM promptev_bridge_migrations").Scan(&n, &maxVersion))
	assert.Equal(t, postgres.SchemaVersion(), n, "each migration applied once")
	assert.Equal(t, postgres.SchemaVersion(), maxVersion)
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dsn := postgrestest.DSN(t)
	open(t, dsn)
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	_, err = conn.Exec(t.Context(), "INSERT INTO promptev_bridge_migrations (version, name) VALUES ($1, 'future')", postgres.SchemaVersion()+1)
	require.NoError(t, err)
	_, err = postgres.Open(t.Context(), dsn, postgres.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "newer than this build")
}

func TestOpenBadDSNHidesPassword(t *testing.T) {
	_, err := postgres.Open(t.Context(), "postgres://bridge:s3cr3t-pw@127.0.0.1:1/x?connect_timeout=abc", postgres.Options{})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cr3t-pw")
}

// TestDecideApprovalAcrossPools decides one approval from several pools at
// once, standing in for several processes: exactly one wins.
func TestDecideApprovalAcrossPools(t *testing.T) {
	dsn := postgrestest.DSN(t)
	stores := []*postgres.Store{open(t, dsn), open(t, dsn), open(t, dsn)}
	now := time.Unix(1_700_000_000, 123456789).UTC()
	key := chat.ConversationKey{Platform: "p", Workspace: "W", Channel: "C", Thread: "T"}
	require.NoError(t, stores[0].PutApproval(t.Context(), chat.Approval{
		ID: "a1", Key: key, Requester: "U1", State: chat.ApprovalPending, Created: now, Expires: now.Add(time.Minute),
	}))
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			s := stores[i%len(stores)]
			a, ok, err := s.DecideApproval(context.Background(), "a1", chat.ApprovalApproved, "U"+string(rune('A'+i)), "", now)
			assert.NoError(t, err)
			assert.Equal(t, chat.ApprovalApproved, a.State)
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), wins.Load())
	a, err := stores[1].GetApproval(t.Context(), "a1")
	require.NoError(t, err)
	assert.True(t, a.DecidedAt.Equal(now), "decided_at keeps its nanoseconds")
	assert.Equal(t, key, a.Key)
}

// TestSeenOrMarkAcrossPools marks one message's keys from several pools at
// once: exactly one caller sees them unmarked.
func TestSeenOrMarkAcrossPools(t *testing.T) {
	dsn := postgrestest.DSN(t)
	stores := []*postgres.Store{open(t, dsn), open(t, dsn), open(t, dsn)}
	now := time.Unix(1_700_000_000, 0)
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			keys := []string{"event:E1", "msg:C1:1.2"}
			if i%2 == 1 {
				keys = []string{"msg:C1:1.2", "event:E2", "msg:C1:1.2"}
			}
			seen, err := stores[i%len(stores)].SeenOrMark(context.Background(), keys, time.Minute, now)
			assert.NoError(t, err)
			if !seen {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), fresh.Load())
	n, err := stores[0].SweepDedupe(t.Context(), now.Add(time.Minute), 0)
	require.NoError(t, err)
	assert.Equal(t, 3, n, "every key was marked until now+ttl and is swept then")
}
