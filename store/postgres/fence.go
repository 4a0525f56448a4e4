package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/promptev/promptev-bridge/chat"
)

// querier is what a write runs its statements on: the pool, or the
// transaction that checked its fence.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// write runs fn on the pool or, when ctx carries a chat.Fence, in a
// transaction that first checks the fence (see tx).
func (s *Store) write(ctx context.Context, fn func(q querier) error) error {
	if _, ok := chat.FenceFrom(ctx); !ok {
		return fn(s.pool)
	}
	return s.tx(ctx, func(tx pgx.Tx) error { return fn(tx) })
}

// tx runs fn in a transaction. When ctx carries a chat.Fence, the
// transaction first reads the fence's lease FOR SHARE and fails with
// chat.ErrLeaseLost unless it is still held with the fence's token: the
// row lock keeps a takeover from committing until the write has, so no
// write of a replica that lost its lease lands after the new owner's
// takeover.
func (s *Store) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if f, ok := chat.FenceFrom(ctx); ok {
			if err := f.Check(); err != nil {
				return err
			}
			if err := checkFence(ctx, tx, f); err != nil {
				return err
			}
		}
		return fn(tx)
	})
}

// checkFence fails unless f's lease is held with f's token.
func checkFence(ctx context.Context, tx pgx.Tx, f chat.Fence) error {
	var token int64
	err := tx.QueryRow(ctx, "SELECT token FROM leases WHERE name = $1 FOR SHARE", f.Name).Scan(&token)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("write fenced by %s: no such lease: %w", f.Name, chat.ErrLeaseLost)
	case err != nil:
		return err
	case token != f.Token:
		return fmt.Errorf("write fenced by %s with token %d, now %d: %w", f.Name, f.Token, token, chat.ErrLeaseLost)
	}
	return nil
}
