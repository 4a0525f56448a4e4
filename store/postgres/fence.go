package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/promptev/promptev-bridge/chat"
)

// querier is what a write runs its statement on: the pool, or the fenced
// querier that sends the fence check with it.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// fenceLost is the SQLSTATE promptev_bridge_fence raises (migration 0004).
const fenceLost = "PB409"

// write runs fn, which sends exactly one statement, on the pool or, when
// ctx carries a chat.Fence, on a querier that sends the fence check and the
// statement together in one round trip (see fencedQuerier).
func (s *Store) write(ctx context.Context, fn func(q querier) error) error {
	f, ok := chat.FenceFrom(ctx)
	if !ok {
		return fn(s.pool)
	}
	if err := f.Check(); err != nil {
		return err
	}
	return fencedErr(fn(&fencedQuerier{pool: s.pool, f: f}))
}

// tx runs fn in a transaction. When ctx carries a chat.Fence, the
// transaction first checks the fence (promptev_bridge_fence): no write of a
// replica that lost its lease lands after the new owner's takeover.
func (s *Store) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	f, fenced := chat.FenceFrom(ctx)
	if fenced {
		if err := f.Check(); err != nil {
			return err
		}
	}
	return fencedErr(pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if fenced {
			if _, err := tx.Exec(ctx, "SELECT promptev_bridge_fence($1, $2)", f.Name, f.Token); err != nil {
				return err
			}
		}
		return fn(tx)
	}))
}

// fencedErr turns the fence function's error into one wrapping
// chat.ErrLeaseLost.
func fencedErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == fenceLost {
		return fmt.Errorf("write refused: %s: %w", pe.Message, chat.ErrLeaseLost)
	}
	return err
}

// fencedQuerier sends a statement as a batch after the fence check: the
// batch is one round trip and runs in one implicit transaction, so the
// check's failure rolls the statement back and its row lock holds until
// the statement commits.
type fencedQuerier struct {
	pool *pgxpool.Pool
	f    chat.Fence
}

func (q *fencedQuerier) send(ctx context.Context, sql string, args []any) pgx.BatchResults {
	b := &pgx.Batch{}
	b.Queue("SELECT promptev_bridge_fence($1, $2)", q.f.Name, q.f.Token)
	b.Queue(sql, args...)
	return q.pool.SendBatch(ctx, b)
}

func (q *fencedQuerier) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	br := q.send(ctx, sql, args)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	return tag, errors.Join(err, br.Close())
}

func (q *fencedQuerier) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return fencedRow{br: q.send(ctx, sql, args)}
}

// fencedRow is the statement's row, read once the fence check passed.
type fencedRow struct{ br pgx.BatchResults }

func (r fencedRow) Scan(dest ...any) error {
	if _, err := r.br.Exec(); err != nil {
		_ = r.br.Close()
		return err
	}
	err := r.br.QueryRow().Scan(dest...)
	if cerr := r.br.Close(); cerr != nil && (err == nil || errors.Is(err, pgx.ErrNoRows)) {
		return cerr
	}
	return err
}
