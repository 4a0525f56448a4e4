// Package store is the one list of store backends behind the `store:` section
// of the configuration: it validates the section and opens the chosen
// backend. Each backend lives in its own package (store/bolt, store/postgres)
// and implements chat.Store; adding one is a package and a line in backends.
package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

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
	Postgres postgres.Config `yaml:"postgres"`
}

// DefaultBackend is the backend of DefaultConfig, used when the section
// leaves store.backend out.
const DefaultBackend = bolt.Backend

// DefaultConfig returns the defaults: the bbolt backend with its defaults
// (a file ./promptev-bridge.db, a 2 s lock timeout).
func DefaultConfig() Config {
	b := bolt.DefaultConfig()
	return Config{Backend: DefaultBackend, Path: b.Path, LockTimeout: b.LockTimeout, Postgres: postgres.DefaultConfig()}
}

// Store is an open store: the chat.Store port and what an operator needs
// around it.
type Store interface {
	chat.Store
	// Stats counts what the store holds, for `store stats`, /debug/store
	// and the store gauges. It may walk every record.
	Stats(ctx context.Context) (chat.StoreStats, error)
	// Export reads every conversation, approval, in-flight run, run record
	// and grant, from one consistent snapshot (for Copy).
	Export(ctx context.Context, fns chat.RecordFuncs) error
	// PutGrant creates or replaces the grant of g.Tool in g.Key, for Copy
	// (the bridge grants through DecideApprovalWith).
	PutGrant(ctx context.Context, g chat.Grant) error
	// InstallationStore keeps the apps' OAuth installations (their tokens
	// sealed by the adapter).
	chat.InstallationStore
	// Close releases the store; it is safe to call more than once. Every
	// call afterwards fails with an error wrapping chat.ErrClosed.
	Close() error
}

// ErrLocked means another process holds the store: a running bridge holds
// its bbolt file's lock.
var ErrLocked = bolt.ErrLocked

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
		{name: bolt.Backend, validate: validateBolt, open: openBolt},
		{name: postgres.Backend, validate: validatePostgres, open: openPostgres},
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

// Summary names where the records are kept, for `check`: the bbolt file, or
// the PostgreSQL database and host (never the DSN, which may hold a password).
func (c Config) Summary() string {
	if c.Backend == postgres.Backend {
		return "postgres, " + c.Postgres.Summary()
	}
	return c.Path
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

// Open opens the configured backend. An unknown backend is the config
// problem Validate reports for store.backend.
func Open(ctx context.Context, c Config, o OpenOptions) (Store, error) {
	b, ok := find(c.Backend)
	if !ok {
		return nil, c.Validate("store").Err()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return b.open(ctx, c, o)
}

// boltConfig is the bbolt backend's part of the section.
func (c Config) boltConfig() bolt.Config {
	return bolt.Config{Path: c.Path, LockTimeout: c.LockTimeout}
}

func validateBolt(c Config, path string) chat.ConfigProblems {
	return c.boltConfig().Validate(path)
}

func openBolt(_ context.Context, c Config, o OpenOptions) (Store, error) {
	opts := c.boltConfig().Options(o.Logger)
	if o.ReadOnly {
		return bolt.OpenReadOnly(c.Path, opts)
	}
	return bolt.Open(c.Path, opts)
}

func validatePostgres(c Config, path string) chat.ConfigProblems {
	return c.Postgres.Validate(chat.JoinPath(path, "postgres"))
}

func openPostgres(ctx context.Context, c Config, o OpenOptions) (Store, error) {
	opts := c.Postgres.Options()
	opts.Logger, opts.ReadOnly = o.Logger, o.ReadOnly
	return postgres.Open(ctx, c.Postgres.DSN, opts)
}

// ParseSpec parses the short form of a store, BACKEND:WHERE (bbolt:FILE or
// postgres:DSN), into a section with the defaults, for `store copy` and
// `store migrate`. Its errors never quote a DSN.
func ParseSpec(spec string) (Config, error) {
	c := DefaultConfig()
	name, where, ok := strings.Cut(spec, ":")
	if !ok || where == "" {
		return c, fmt.Errorf("a store is BACKEND:WHERE, such as bbolt:./promptev-bridge.db or postgres:postgres://host/db")
	}
	switch name {
	case bolt.Backend:
		c.Backend, c.Path = name, where
	case postgres.Backend:
		c.Backend, c.Postgres.DSN = name, where
	default:
		return c, fmt.Errorf("unknown backend %q: use %s", name, strings.Join(Names(), " or "))
	}
	return c, nil
}
