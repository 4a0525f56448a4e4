package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/promptev/promptev-bridge/chat"
)

var _ chat.Cluster = (*Store)(nil)

// AcquireLease takes name for owner (see chat.Leaser). Expiry is computed
// on the database's clock.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (chat.Lease, bool, error) {
	if err := s.check(ctx); err != nil {
		return chat.Lease{}, false, err
	}
	if name == "" || owner == "" || ttl <= 0 {
		return chat.Lease{}, false, fmt.Errorf("postgres: acquire lease %q for %q: name, owner and a positive ttl are required", name, owner)
	}
	l := chat.Lease{Name: name}
	// A holder whose lease is live keeps its token (a renewal); anyone else,
	// and a holder coming back to its own expired lease, gets a new one.
	err := s.pool.QueryRow(ctx, `INSERT INTO leases (name, owner, token, expires)
		VALUES ($1, $2, nextval('lease_tokens'), now() + $3 * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET
			token = CASE WHEN leases.owner = EXCLUDED.owner AND leases.expires > now() THEN leases.token ELSE EXCLUDED.token END,
			owner = EXCLUDED.owner, expires = EXCLUDED.expires
		WHERE leases.expires <= now() OR leases.owner = EXCLUDED.owner
		RETURNING owner, token, expires`, name, owner, ttl.Microseconds()).Scan(&l.Owner, &l.Token, &l.Expires)
	if err == nil {
		return l, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return chat.Lease{}, false, s.err(fmt.Sprintf("acquire lease %q", name), err)
	}
	err = s.pool.QueryRow(ctx, "SELECT owner, token, expires FROM leases WHERE name = $1", name).Scan(&l.Owner, &l.Token, &l.Expires)
	if err != nil {
		return chat.Lease{}, false, s.err(fmt.Sprintf("acquire lease %q", name), err)
	}
	return l, false, nil
}

// RenewLease extends l while its owner holds it with its token.
func (s *Store) RenewLease(ctx context.Context, l chat.Lease, ttl time.Duration) (chat.Lease, error) {
	if err := s.check(ctx); err != nil {
		return chat.Lease{}, err
	}
	if ttl <= 0 {
		return chat.Lease{}, fmt.Errorf("postgres: renew lease %q: ttl must be positive, got %s", l.Name, ttl)
	}
	err := s.pool.QueryRow(ctx, `UPDATE leases SET expires = now() + $4 * interval '1 microsecond'
		WHERE name = $1 AND owner = $2 AND token = $3 RETURNING expires`, l.Name, l.Owner, l.Token, ttl.Microseconds()).Scan(&l.Expires)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return chat.Lease{}, fmt.Errorf("postgres: renew lease %q (token %d): %w", l.Name, l.Token, chat.ErrLeaseLost)
	case err != nil:
		return chat.Lease{}, s.err(fmt.Sprintf("renew lease %q", l.Name), err)
	}
	return l, nil
}

// ReleaseLease lets l expire now when it is still held with its token.
func (s *Store) ReleaseLease(ctx context.Context, l chat.Lease) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `UPDATE leases SET expires = now() WHERE name = $1 AND owner = $2 AND token = $3 AND expires > now()`,
		l.Name, l.Owner, l.Token)
	if err != nil {
		return s.err(fmt.Sprintf("release lease %q", l.Name), err)
	}
	return nil
}

// ListLeases returns the leases whose name starts with prefix, by name.
func (s *Store) ListLeases(ctx context.Context, prefix string) ([]chat.Lease, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT name, owner, token, expires FROM leases
		WHERE starts_with(name, $1) ORDER BY name COLLATE "C"`, prefix)
	if err != nil {
		return nil, s.err("list leases", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (chat.Lease, error) {
		var l chat.Lease
		err := row.Scan(&l.Name, &l.Owner, &l.Token, &l.Expires)
		return l, err
	})
	if err != nil {
		return nil, s.err("list leases", err)
	}
	return list, nil
}

// SweepLeases deletes up to limit leases expired more than age ago.
func (s *Store) SweepLeases(ctx context.Context, age time.Duration, limit int) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	if limit <= 0 {
		limit = DefaultBatchLimit
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name IN (
		SELECT name FROM leases WHERE expires < now() - $1 * interval '1 microsecond'
		ORDER BY expires LIMIT $2 FOR UPDATE SKIP LOCKED)`, age.Microseconds(), limit)
	if err != nil {
		return 0, s.err("sweep leases", err)
	}
	return int(tag.RowsAffected()), nil
}

// AcceptQueued marks the dedupe keys and queues q unless one was seen or
// the conversation's queue is full, in one statement (see chat.Inbox).
func (s *Store) AcceptQueued(ctx context.Context, keys []string, ttl time.Duration, now time.Time, q chat.Queued, limit int) (seen, full bool, err error) {
	if err := s.check(ctx); err != nil {
		return false, false, err
	}
	if !q.Key.Valid() {
		return false, false, fmt.Errorf("postgres: queue turn: invalid key %q", q.Key)
	}
	if slices.Contains(keys, "") || (len(keys) > 0 && ttl <= 0) {
		return false, false, fmt.Errorf("postgres: queue turn %q: empty dedupe key or non-positive ttl %s", keys, ttl)
	}
	q.Seq = 0
	rec, err := json.Marshal(q)
	if err != nil {
		return false, false, s.err("queue turn", err)
	}
	// ON CONFLICT may not touch one row twice in a statement.
	distinct := slices.Clone(keys)
	slices.Sort(distinct)
	distinct = slices.Compact(distinct)
	var marked, queued int
	err = s.pool.QueryRow(ctx, `WITH marked AS (
			INSERT INTO dedupe (key, expires_ns) SELECT k, $2 FROM unnest($1::text[]) AS k
			ON CONFLICT (key) DO UPDATE SET expires_ns = EXCLUDED.expires_ns WHERE dedupe.expires_ns <= $3
			RETURNING key),
		queued AS (
			INSERT INTO inbox (key, record) SELECT $4, $5
			WHERE (SELECT count(*) FROM marked) = $6
				AND ($7 <= 0 OR (SELECT count(*) FROM inbox WHERE key = $4) < $7)
			RETURNING seq)
		SELECT (SELECT count(*) FROM marked), (SELECT count(*) FROM queued)`,
		distinct, now.Add(ttl).UnixNano(), now.UnixNano(), q.Key.String(), rec, len(distinct), limit).Scan(&marked, &queued)
	if err != nil {
		return false, false, s.err(fmt.Sprintf("queue turn in %s", q.Key), err)
	}
	seen = marked < len(distinct)
	return seen, !seen && queued == 0, nil
}

// NextQueued returns the first turn queued for key, or chat.ErrNotFound.
func (s *Store) NextQueued(ctx context.Context, key chat.ConversationKey) (chat.Queued, error) {
	var q chat.Queued
	if err := s.check(ctx); err != nil {
		return q, err
	}
	var rec []byte
	err := s.pool.QueryRow(ctx, "SELECT seq, record FROM inbox WHERE key = $1 ORDER BY seq LIMIT 1", key.String()).Scan(&q.Seq, &rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return q, fmt.Errorf("postgres: queued turn in %s: %w", key, chat.ErrNotFound)
	}
	if err != nil {
		return q, s.err(fmt.Sprintf("queued turn in %s", key), err)
	}
	seq := q.Seq
	if err := json.Unmarshal(rec, &q); err != nil {
		return chat.Queued{}, s.err(fmt.Sprintf("queued turn in %s", key), err)
	}
	q.Seq = seq
	return q, nil
}

// StartQueued turns queued turn seq into the in-flight run r, in one
// (fenced) transaction.
func (s *Store) StartQueued(ctx context.Context, seq int64, r chat.InFlightRun) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if !r.Key.Valid() {
		return fmt.Errorf("postgres: start queued turn: invalid key %q", r.Key)
	}
	rec, err := json.Marshal(r)
	if err != nil {
		return s.err("start queued turn", err)
	}
	var tag pgconn.CommandTag
	err = s.write(ctx, func(q querier) (err error) {
		tag, err = q.Exec(ctx, `WITH taken AS (DELETE FROM inbox WHERE seq = $1 RETURNING seq)
			INSERT INTO runs (key, started_ns, record) SELECT $2, $3, $4 FROM taken
			ON CONFLICT (key) DO UPDATE SET started_ns = EXCLUDED.started_ns, record = EXCLUDED.record`,
			seq, r.Key.String(), r.Started.UnixNano(), rec)
		return err
	})
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("turn %d: %w", seq, chat.ErrNotFound)
	}
	if err != nil {
		return s.err(fmt.Sprintf("start queued turn in %s", r.Key), err)
	}
	return nil
}

// DropQueued removes turn seq from the queue.
func (s *Store) DropQueued(ctx context.Context, seq int64) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	err := s.write(ctx, func(q querier) error {
		_, err := q.Exec(ctx, "DELETE FROM inbox WHERE seq = $1", seq)
		return err
	})
	if err != nil {
		return s.err(fmt.Sprintf("drop queued turn %d", seq), err)
	}
	return nil
}

// CountQueued returns how many turns wait in key.
func (s *Store) CountQueued(ctx context.Context, key chat.ConversationKey) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	var n int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM inbox WHERE key = $1", key.String()).Scan(&n); err != nil {
		return 0, s.err(fmt.Sprintf("count queued turns in %s", key), err)
	}
	return n, nil
}

// GetRun returns the in-flight run of key, or chat.ErrNotFound.
func (s *Store) GetRun(ctx context.Context, key chat.ConversationKey) (chat.InFlightRun, error) {
	var r chat.InFlightRun
	if err := s.check(ctx); err != nil {
		return r, err
	}
	if err := s.getRecord(ctx, "SELECT record FROM runs WHERE key = $1", key.String(), &r); err != nil {
		return chat.InFlightRun{}, s.err(fmt.Sprintf("run %s", key), err)
	}
	return r, nil
}

// Orphans returns the in-flight runs and the queued conversations whose
// conversation lease is not held, on the database's clock.
func (s *Store) Orphans(ctx context.Context) ([]chat.InFlightRun, []chat.ConversationKey, error) {
	if err := s.check(ctx); err != nil {
		return nil, nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT r.record FROM runs r LEFT JOIN leases l ON l.name = 'conv:' || r.key
		WHERE l.name IS NULL OR l.expires <= now() ORDER BY r.started_ns, r.key COLLATE "C"`)
	if err != nil {
		return nil, nil, s.err("list orphans", err)
	}
	runs, err := collectRecords[chat.InFlightRun](rows)
	if err != nil {
		return nil, nil, s.err("list orphans", err)
	}
	rows, err = s.pool.Query(ctx, `SELECT record FROM (
		SELECT DISTINCT ON (i.key) i.seq, i.record FROM inbox i LEFT JOIN leases l ON l.name = 'conv:' || i.key
		WHERE l.name IS NULL OR l.expires <= now() ORDER BY i.key, i.seq) AS first ORDER BY seq`)
	if err != nil {
		return nil, nil, s.err("list orphans", err)
	}
	list, err := collectRecords[chat.Queued](rows)
	if err != nil {
		return nil, nil, s.err("list orphans", err)
	}
	keys := make([]chat.ConversationKey, len(list))
	for i, q := range list {
		keys[i] = q.Key
	}
	return runs, keys, nil
}

// signal is a chat.Signal on the wire.
type signal struct {
	Topic   string `json:"t"`
	Payload string `json:"p"`
}

// channel is the NOTIFY channel of the store's schema: replicas on other
// schemas of one database do not hear each other.
func (s *Store) channel(ctx context.Context) (string, error) {
	var schema string
	if err := s.pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return "", err
	}
	h := fnv.New64a()
	h.Write([]byte(schema))
	return fmt.Sprintf("promptev_bridge_%x", h.Sum64()), nil
}

// Publish sends sig to every replica listening on this store's schema.
func (s *Store) Publish(ctx context.Context, sig chat.Signal) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	ch, err := s.channel(ctx)
	if err != nil {
		return s.err("publish", err)
	}
	payload, err := json.Marshal(signal(sig))
	if err != nil {
		return s.err("publish", err)
	}
	if _, err := s.pool.Exec(ctx, "SELECT pg_notify($1, $2)", ch, string(payload)); err != nil {
		return s.err("publish", err)
	}
	return nil
}

// subscribeRetry is how long Subscribe waits before listening again after
// its connection failed.
const subscribeRetry = time.Second

// Subscribe listens on a connection of its own, taken from the pool and
// kept until ctx ends; a lost connection is replaced (signals sent
// meanwhile are lost).
func (s *Store) Subscribe(ctx context.Context) (<-chan chat.Signal, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ch, err := s.channel(ctx)
	if err != nil {
		return nil, s.err("subscribe", err)
	}
	listen := "LISTEN " + pgx.Identifier{ch}.Sanitize()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, s.err("subscribe", err)
	}
	if _, err := conn.Exec(ctx, listen); err != nil {
		conn.Release()
		return nil, s.err("subscribe", err)
	}
	out := make(chan chat.Signal, 64)
	go func() {
		defer close(out)
		for {
			n, err := conn.Conn().WaitForNotification(ctx)
			if err == nil {
				var sig signal
				if json.Unmarshal([]byte(n.Payload), &sig) == nil {
					select {
					case out <- chat.Signal(sig):
					case <-ctx.Done():
					}
				}
				continue
			}
			// The connection is in an unknown state: close it rather than
			// hand it back to the pool still listening.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
			conn.Release()
			for {
				if ctx.Err() != nil || s.closed.Load() {
					return
				}
				if conn, err = s.pool.Acquire(ctx); err == nil {
					if _, err = conn.Exec(ctx, listen); err == nil {
						break
					}
					conn.Release()
				}
				s.log.Warn("listening for signals failed; trying again", "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(subscribeRetry):
				}
			}
		}
	}()
	return out, nil
}
