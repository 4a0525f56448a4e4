package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// SeenOrMark checks and marks the dedupe keys of one message in one
// statement. A key is marked when its row is new or its mark had expired at
// now; an unexpired mark is left alone (a hit never extends it) and makes the
// answer true. When two transactions insert the same key, PostgreSQL makes
// the second wait for the first and then see its row, so exactly one of them
// marks it.
func (s *Store) SeenOrMark(ctx context.Context, keys []string, ttl time.Duration, now time.Time) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	if len(keys) == 0 {
		return false, errors.New("postgres: seen or mark: no keys")
	}
	if slices.Contains(keys, "") {
		return false, fmt.Errorf("postgres: seen or mark %q: empty key", keys)
	}
	if ttl <= 0 {
		return false, fmt.Errorf("postgres: seen or mark %q: ttl must be positive, got %s", keys, ttl)
	}
	seen, err := seenOrMark(ctx, s.pool, keys, ttl, now)
	if err != nil {
		return false, s.err("seen or mark", err)
	}
	return seen, nil
}

// seenOrMark is SeenOrMark's statement.
func seenOrMark(ctx context.Context, q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}, keys []string, ttl time.Duration, now time.Time) (bool, error) {
	// ON CONFLICT may not touch one row twice in a statement.
	distinct := slices.Clone(keys)
	slices.Sort(distinct)
	distinct = slices.Compact(distinct)
	rows, err := q.Query(ctx, `INSERT INTO dedupe (key, expires_ns) SELECT k, $2 FROM unnest($1::text[]) AS k
		ON CONFLICT (key) DO UPDATE SET expires_ns = EXCLUDED.expires_ns WHERE dedupe.expires_ns <= $3
		RETURNING key`, distinct, now.Add(ttl).UnixNano(), now.UnixNano())
	if err != nil {
		return false, err
	}
	marked := 0
	for rows.Next() {
		marked++
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	return marked < len(distinct), nil
}

// SweepDedupe deletes up to limit marks that expired at or before now and
// returns how many. Rows another process is sweeping are skipped.
func (s *Store) SweepDedupe(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	if limit <= 0 {
		limit = DefaultBatchLimit
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM dedupe WHERE key IN (
		SELECT key FROM dedupe WHERE expires_ns <= $1 ORDER BY expires_ns LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		now.UnixNano(), limit)
	if err != nil {
		return 0, s.err("sweep dedupe", err)
	}
	return int(tag.RowsAffected()), nil
}
