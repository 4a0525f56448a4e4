package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/promptev/promptev-bridge/chat"
)

// DefaultBatchLimit bounds ListExpiredApprovals and SweepDedupe when they are
// called with a limit of zero or less (as in the bbolt store).
const DefaultBatchLimit = 1000

// Options tune Open.
type Options struct {
	// MaxConns is the pool's size; zero keeps pgx's default (the larger of
	// 4 and the number of CPUs).
	MaxConns int32
	// ConnectTimeout bounds each new connection; zero keeps the DSN's
	// connect_timeout (or none).
	ConnectTimeout time.Duration
	// Logger receives the store's few log lines (migrations); nil discards them.
	Logger *slog.Logger
	// ReadOnly opens the store for inspection: no migration is applied and
	// every transaction is read-only.
	ReadOnly bool
	// Tracer, when set, sees every statement the store sends (the
	// benchmarks count the round trips of a turn with it).
	Tracer pgx.QueryTracer
}

// Store is the PostgreSQL-backed chat.Store. It is safe for concurrent use,
// also by several processes on one database.
type Store struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	closed atomic.Bool
}

var _ chat.Store = (*Store)(nil)

// Open connects to the database named by dsn (a libpq key/value string or a
// postgres:// URL), applies the schema migrations that are missing, and
// returns the store. The error never contains the DSN's password.
func Open(ctx context.Context, dsn string, o Options) (*Store, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors quote the DSN with its password masked.
		return nil, fmt.Errorf("postgres: invalid dsn: %w", err)
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	if o.ConnectTimeout > 0 {
		cfg.ConnConfig.ConnectTimeout = o.ConnectTimeout
	}
	if o.ReadOnly {
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	if o.Tracer != nil {
		cfg.ConnConfig.Tracer = o.Tracer
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, log: o.Logger}
	if o.ReadOnly {
		if err := s.Ping(ctx); err != nil {
			pool.Close()
			return nil, err
		}
		return s, nil
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the pool; calls after Close fail. It is safe to call more
// than once.
func (s *Store) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.pool.Close()
	}
	return nil
}

// Ping checks that the database answers (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// check returns the context's error, or errClosed once the store is closed.
func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return chat.ErrClosed
	}
	return nil
}

// err wraps the error of operation op; once the store is closed (also while
// the call was under way) it is chat.ErrClosed.
func (s *Store) err(op string, err error) error {
	if s.closed.Load() || errors.Is(err, puddle.ErrClosedPool) {
		return fmt.Errorf("postgres: %s: %w", op, chat.ErrClosed)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}
