package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/promptev/promptev-bridge/chat"
)

// Stats counts the records and finds the next approval expiry and the oldest
// in-flight run, in one read-only snapshot. Location names the database and
// its host, never a password.
func (s *Store) Stats(ctx context.Context) (chat.StoreStats, error) {
	if err := s.check(ctx); err != nil {
		return chat.StoreStats{}, err
	}
	cc := s.pool.Config().ConnConfig
	st := chat.StoreStats{
		Backend:      "postgres",
		LocationKind: "database",
		Location:     cc.Database + " on " + cc.Host,
		At:           time.Now(),
		Schema:       map[string]int{},
	}
	at := st.At.UnixNano()
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var next *int64
		var version int
		err := tx.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM conversations),
			(SELECT count(*) FROM approvals),
			(SELECT count(*) FROM approvals WHERE state = 'pending'),
			(SELECT min(expires_ns) FROM approvals WHERE state = 'pending'),
			(SELECT count(*) FROM runs),
			(SELECT count(*) FROM dedupe),
			(SELECT count(*) FROM dedupe WHERE expires_ns <= $1),
			(SELECT count(*) FROM run_records),
			(SELECT count(*) FROM grants),
			(SELECT coalesce(max(version), 0) FROM promptev_bridge_migrations),
			(SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
			   WHERE c.oid IN ('conversations'::regclass, 'approvals'::regclass, 'runs'::regclass, 'dedupe'::regclass,
			                 'run_records'::regclass, 'grants'::regclass))`, at).
			Scan(&st.Conversations, &st.Approvals, &st.PendingApprovals, &next, &st.Runs,
				&st.DedupeEntries, &st.DedupeExpired, &st.RunRecords, &st.Grants, &version, &st.SizeBytes)
		if err != nil {
			return err
		}
		if next != nil {
			st.NextApprovalExpiry = time.Unix(0, *next).UTC()
		}
		st.Schema["postgres"] = version
		err = tx.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE broken) FROM installations`).
			Scan(&st.Installations, &st.BrokenInstallations)
		if err != nil {
			return err
		}
		var rec []byte
		err = tx.QueryRow(ctx, `SELECT record FROM runs ORDER BY started_ns, key COLLATE "C" LIMIT 1`).Scan(&rec)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return err
		}
		var r chat.InFlightRun
		if err := json.Unmarshal(rec, &r); err != nil {
			return err
		}
		st.OldestRun = &r
		return nil
	})
	if err != nil {
		return chat.StoreStats{}, s.err("stats", err)
	}
	return st, nil
}
