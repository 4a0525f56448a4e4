// Package postgrestest gives tests a PostgreSQL database of their own.
//
// The server is the one named by PROMPTEV_BRIDGE_TEST_POSTGRES (a libpq DSN
// or a postgres:// URL; .ci/run sets it to the machine's server). Without it,
// a throwaway cluster is started once per test process when PostgreSQL's
// server programs (initdb, pg_ctl) are installed; as root, it runs as the
// postgres or nobody user, since PostgreSQL refuses to run as root. Without
// either, tests that need a database are skipped with the reason, unless
// PROMPTEV_BRIDGE_REQUIRE_POSTGRES is set: then they fail.
//
// Each test gets a fresh schema, dropped when the test ends, and a DSN whose
// search_path points at it, so tests are isolated on one server.
package postgrestest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the environment variable holding the test server's DSN.
const EnvDSN = "PROMPTEV_BRIDGE_TEST_POSTGRES"

// EnvRequire, when set to any value, makes a missing server fail the tests
// that need it instead of skipping them (.ci/run sets it).
const EnvRequire = "PROMPTEV_BRIDGE_REQUIRE_POSTGRES"

var (
	serverOnce sync.Once
	serverDSN  string
	serverSkip string
	cluster    *throwaway
)

// server returns the base DSN of the test server, or why there is none.
func server() (dsn, skip string) {
	serverOnce.Do(func() {
		if dsn := os.Getenv(EnvDSN); dsn != "" {
			serverDSN = dsn
			return
		}
		c, err := startThrowaway()
		if err != nil {
			serverSkip = fmt.Sprintf("no PostgreSQL: %s is not set and no throwaway cluster could be started: %v", EnvDSN, err)
			return
		}
		cluster, serverDSN = c, c.dsn
	})
	return serverDSN, serverSkip
}

// Available reports whether a test server is available, and why not.
func Available() (bool, string) {
	_, skip := server()
	return skip == "", skip
}

// Stop stops the throwaway cluster, if this process started one. Call it
// from TestMain after m.Run.
func Stop() {
	if cluster != nil {
		cluster.stop()
	}
}

// DSN returns the DSN of a fresh, empty schema on the test server, dropped
// when t ends. It skips t when there is no server.
func DSN(t testing.TB) string {
	t.Helper()
	base, skip := server()
	if skip != "" {
		if os.Getenv(EnvRequire) != "" {
			t.Fatal(skip)
		}
		t.Skip(skip)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "pvb_test_" + hex.EncodeToString(b[:])
	execSQL(t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { execSQL(t, base, "DROP SCHEMA "+schema+" CASCADE") })
	return WithSearchPath(base, schema)
}

// WithSearchPath returns dsn with its search_path set to schema.
func WithSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return strings.TrimSpace(dsn) + " search_path=" + schema
}

// execSQL runs one statement on dsn.
func execSQL(t testing.TB, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("postgrestest: connect: %v", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("postgrestest: %s: %v", sql, err)
	}
}
