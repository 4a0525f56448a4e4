package postgres

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/promptev/promptev-bridge/chat"
)

// Export calls each of fns's non-nil functions with every record of its kind,
// in key order, inside one read-only repeatable-read transaction: a
// consistent snapshot, for `store copy`.
func (s *Store) Export(ctx context.Context, fns chat.RecordFuncs) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	each := func(tx pgx.Tx, query string, fn func([]byte) error) error {
		rows, err := tx.Query(ctx, query)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var rec []byte
			if err := rows.Scan(&rec); err != nil {
				return err
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if fns.Conversation != nil {
			err := each(tx, `SELECT record FROM conversations ORDER BY key COLLATE "C"`, func(rec []byte) error {
				var c chat.Conversation
				if err := json.Unmarshal(rec, &c); err != nil {
					return err
				}
				return fns.Conversation(c)
			})
			if err != nil {
				return err
			}
		}
		if fns.Approval != nil {
			err := each(tx, `SELECT record FROM approvals ORDER BY id COLLATE "C"`, func(rec []byte) error {
				var a chat.Approval
				if err := json.Unmarshal(rec, &a); err != nil {
					return err
				}
				return fns.Approval(a)
			})
			if err != nil {
				return err
			}
		}
		if fns.Run != nil {
			err := each(tx, `SELECT record FROM runs ORDER BY key COLLATE "C"`, func(rec []byte) error {
				var r chat.InFlightRun
				if err := json.Unmarshal(rec, &r); err != nil {
					return err
				}
				return fns.Run(r)
			})
			if err != nil {
				return err
			}
		}
		if fns.RunRecord != nil {
			err := each(tx, `SELECT record FROM run_records ORDER BY id COLLATE "C"`, func(rec []byte) error {
				var r chat.RunRecord
				if err := json.Unmarshal(rec, &r); err != nil {
					return err
				}
				return fns.RunRecord(r)
			})
			if err != nil {
				return err
			}
		}
		if fns.Grant != nil {
			err := each(tx, `SELECT record FROM grants ORDER BY key COLLATE "C", tool COLLATE "C"`, func(rec []byte) error {
				var g chat.Grant
				if err := json.Unmarshal(rec, &g); err != nil {
					return err
				}
				return fns.Grant(g)
			})
			if err != nil {
				return err
			}
		}
		if fns.Installation != nil {
			err := each(tx, `SELECT record FROM installations ORDER BY id COLLATE "C"`, func(rec []byte) error {
				var in chat.Installation
				if err := json.Unmarshal(rec, &in); err != nil {
					return err
				}
				return fns.Installation(in)
			})
			if err != nil {
				return err
			}
		}
		if fns.Feedback != nil {
			return each(tx, `SELECT record FROM feedback ORDER BY answer COLLATE "C", user_id COLLATE "C"`, func(rec []byte) error {
				var f chat.FeedbackRecord
				if err := json.Unmarshal(rec, &f); err != nil {
					return err
				}
				return fns.Feedback(f)
			})
		}
		return nil
	})
	if err != nil {
		return s.err("export", err)
	}
	return nil
}
