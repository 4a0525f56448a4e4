package postgres

import (
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/promptev/promptev-bridge/chat"
)

// Backend is the name of this backend in the store section (store.backend).
const Backend = "postgres"

// Config is the `store.postgres:` section of the configuration.
type Config struct {
	// DSN names the database: a libpq key/value string or a postgres:// URL.
	// Secret: it may carry a password.
	DSN string `yaml:"dsn" secret:"true"`
	// MaxConns is the connection pool's size.
	MaxConns int `yaml:"max_conns"`
	// ConnectTimeout bounds each new connection.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// LeaseTTL is how long a replica's hold on a conversation lasts
	// without renewal: a replica that dies loses its conversations this
	// long after its last renewal, and a survivor then finalises its runs.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// ReplicaID names this replica in leases and logs; empty means the
	// host name and a random suffix, new at every start.
	ReplicaID string `yaml:"replica_id"`
}

// DefaultConfig returns the defaults: no DSN, 10 connections, a 5 s
// connect timeout, 15 s leases.
func DefaultConfig() Config {
	return Config{MaxConns: 10, ConnectTimeout: 5 * time.Second, LeaseTTL: 15 * time.Second}
}

// Validate reports the section's problems; path is its YAML prefix
// ("store.postgres"). It connects to nothing.
func (c Config) Validate(path string) chat.ConfigProblems {
	var ps chat.ConfigProblems
	if strings.TrimSpace(c.DSN) == "" {
		ps.Add(chat.JoinPath(path, "dsn"), "is required with backend postgres (for example ${DATABASE_URL})")
	} else if _, err := pgxpool.ParseConfig(c.DSN); err != nil {
		// pgx masks the password of the DSN it quotes.
		ps.Add(chat.JoinPath(path, "dsn"), "is not a valid libpq connection string or postgres:// URL: %v", err)
	}
	if c.MaxConns < 1 || c.MaxConns > 1000 {
		ps.Add(chat.JoinPath(path, "max_conns"), "must be between 1 and 1000, got %d", c.MaxConns)
	}
	if c.LeaseTTL < time.Second || c.LeaseTTL > 10*time.Minute {
		ps.Add(chat.JoinPath(path, "lease_ttl"), "must be between 1s and 10m (15s is the default), got %s", c.LeaseTTL)
	}
	if c.ConnectTimeout <= 0 {
		ps.Add(chat.JoinPath(path, "connect_timeout"), "must be positive (for example 5s), got %s", c.ConnectTimeout)
	}
	return ps
}

// Options returns the Options to Open the configured store with.
func (c Config) Options() Options {
	return Options{MaxConns: int32(c.MaxConns), ConnectTimeout: c.ConnectTimeout}
}

// Summary names the database and its host, without user or password.
func (c Config) Summary() string {
	pc, err := pgxpool.ParseConfig(c.DSN)
	if err != nil {
		return "an invalid DSN"
	}
	cc := pc.ConnConfig
	return fmt.Sprintf("database %s on %s:%d", cc.Database, cc.Host, cc.Port)
}
