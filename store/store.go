// Package store is the one list of store backends behind the `store:` section
// of the configuration: it validates the section and opens the chosen
// backend. Each backend lives in its own package (store/bolt) and implements
// chat.Store; adding one is a package and a line in backends.
package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/promptev/promptev-bridge/chat"

	"github.com/promptev/promptev-bridge/store/bolt"
	"github.com/promptev/promptev-bridge/store/postgres"
)

// Config is the `store:` section of the configuration.
type Config struct {
	// Backend names the store backend: bbolt (the default) or postgres.
	Backend string `yaml:"backend"`
	// Path is the bbolt file (ignored by the postgres backend).
	Path string `yaml:"path"`
	// LockTimeout is how long start-up waits for another process to release
	// the bbolt file before failing.
	LockTimeout time.Duration `yaml:"lock_timeout"`
	// Postgres configures the postgres backend.
	Postgres PostgresConfig `yaml:"postgres"`
}

// PostgresConfig is the `store.postgres:` section.
type PostgresConfig struct {
	// DSN names the database: a libpq key/value string or a postgres:// URL.
	// Secret: it may carry a password.
	DSN string `yaml:"dsn" secret:"true"`
	// MaxConns is the connection pool's size.
	MaxConns int `yaml:"max_conns"`
	// ConnectTimeout bounds each new connection.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
}

// DefaultBackend is the backend used when the section names none.
const DefaultBackend = "bbolt"

// DefaultConfig returns the defaults: a bbolt file ./promptev-bridge.db with a
// 2 s lock timeout.
func DefaultConfig() Config {
	return Config{
		Backend:     DefaultBackend,
		Path:        "./promptev-bridge.db",
		LockTimeout: bolt.DefaultLockTimeout,
		Postgres:    PostgresConfig{MaxConns: 10, ConnectTimeout: 5 * time.Second},
	}
}

// Store is an open store: the chat.Store port and what an operator needs
// around it.
type Store interface {
	chat.Store
	// Close releases the store; it is safe to call more than once.
	Close() error
}

// OpenOptions tune Open.
type OpenOptions struct {
	// ReadOnly opens an existing store for inspection; writes fail.
	ReadOnly bool
	// Logger receives the store's few log lines; nil discards them.
	Logger *slog.Logger
}

// backend is one entry of the list of store backends.
type backend struct {
	name     string
	validate func(c Config, path string) chat.ConfigProblems
	open     func(ctx context.Context, c Config, o OpenOptions) (Store, error)
}

// backends is the one list of store backends.
func backends() []backend {
	return []backend{
		{name: "bbolt", validate: validateBolt, open: openBolt},
		{name: "postgres", validate: validatePostgres, open: openPostgres},
	}
}

func find(name string) (backend, bool) {
	for _, b := range backends() {
		if b.name == name {
			return b, true
		}
	}
	return backend{}, false
}

// Names lists the backends, in the order of the list.
func Names() []string {
	var names []string
	for _, b := range backends() {
		names = append(names, b.name)
	}
	return names
}

// Validate reports the section's problems; path is its YAML prefix ("store").
func (c Config) Validate(path string) chat.ConfigProblems {
	b, ok := find(c.Backend)
	if !ok {
		var ps chat.ConfigProblems
		ps.Add(chat.JoinPath(path, "backend"), "must be one of %s, not %q", strings.Join(Names(), ", "), c.Backend)
		return ps
	}
	return b.validate(c, path)
}

// Open opens the configured backend.
func Open(ctx context.Context, c Config, o OpenOptions) (Store, error) {
	b, ok := find(c.Backend)
	if !ok {
		return nil, fmt.Errorf("store: unknown backend %q", c.Backend)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return b.open(ctx, c, o)
}

func validateBolt(c Config, path string) chat.ConfigProblems {
	return bolt.Config{Path: c.Path, LockTimeout: c.LockTimeout}.Validate(path)
}

func openBolt(_ context.Context, c Config, o OpenOptions) (Store, error) {
	opts := bolt.Options{Timeout: c.LockTimeout, Logger: o.Logger}
	if o.ReadOnly {
		return bolt.OpenReadOnly(c.Path, opts)
	}
	return bolt.Open(c.Path, opts)
}

func validatePostgres(c Config, path string) chat.ConfigProblems {
	var ps chat.ConfigProblems
	p := chat.JoinPath(path, "postgres")
	if strings.TrimSpace(c.Postgres.DSN) == "" {
		ps.Add(chat.JoinPath(p, "dsn"), "is required with backend postgres (for example ${DATABASE_URL})")
	} else if _, err := pgxpool.ParseConfig(c.Postgres.DSN); err != nil {
		// pgx masks the password of the DSN it quotes.
		ps.Add(chat.JoinPath(p, "dsn"), "is not a valid libpq connection string or postgres:// URL: %v", err)
	}
	if c.Postgres.MaxConns < 1 || c.Postgres.MaxConns > 1000 {
		ps.Add(chat.JoinPath(p, "max_conns"), "must be between 1 and 1000, got %d", c.Postgres.MaxConns)
	}
	if c.Postgres.ConnectTimeout <= 0 {
		ps.Add(chat.JoinPath(p, "connect_timeout"), "must be positive (for example 5s), got %s", c.Postgres.ConnectTimeout)
	}
	return ps
}

func openPostgres(ctx context.Context, c Config, o OpenOptions) (Store, error) {
	return postgres.Open(ctx, c.Postgres.DSN, postgres.Options{
		MaxConns:       int32(c.Postgres.MaxConns),
		ConnectTimeout: c.Postgres.ConnectTimeout,
		Logger:         o.Logger,
		ReadOnly:       o.ReadOnly,
	})
}
