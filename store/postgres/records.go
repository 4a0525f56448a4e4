package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/promptev/promptev-bridge/chat"
)

// GetConversation returns the conversation of key, or chat.ErrNotFound.
func (s *Store) GetConversation(ctx context.Context, key chat.ConversationKey) (chat.Conversation, error) {
	var c chat.Conversation
	if err := s.check(ctx); err != nil {
		return c, err
	}
	err := s.getRecord(ctx, "SELECT record FROM conversations WHERE key = $1", key.String(), &c)
	if err != nil {
		return chat.Conversation{}, s.err(fmt.Sprintf("conversation %s", key), err)
	}
	return c, nil
}

// PutConversation creates or replaces the conversation c.Key.
func (s *Store) PutConversation(ctx context.Context, c chat.Conversation) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if !c.Key.Valid() {
		return fmt.Errorf("postgres: put conversation: invalid key %q", c.Key)
	}
	return s.upsert(ctx, fmt.Sprintf("put conversation %s", c.Key), `INSERT INTO conversations (key, record) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET record = EXCLUDED.record`, c, c.Key.String())
}

// DeleteConversation deletes the conversation of key; an unknown key is not an error.
func (s *Store) DeleteConversation(ctx context.Context, key chat.ConversationKey) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	err := s.write(ctx, func(q querier) error {
		_, err := q.Exec(ctx, "DELETE FROM conversations WHERE key = $1", key.String())
		return err
	})
	if err != nil {
		return s.err(fmt.Sprintf("delete conversation %s", key), err)
	}
	return nil
}

// PutApproval creates or replaces the approval a.ID.
func (s *Store) PutApproval(ctx context.Context, a chat.Approval) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if a.ID == "" {
		return errors.New("postgres: put approval: empty id")
	}
	if !validState(a.State) {
		return fmt.Errorf("postgres: put approval %q: invalid state %q", a.ID, a.State)
	}
	return s.upsert(ctx, fmt.Sprintf("put approval %q", a.ID), `INSERT INTO approvals (id, state, expires_ns, record) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, expires_ns = EXCLUDED.expires_ns, record = EXCLUDED.record`,
		a, a.ID, string(a.State), a.Expires.UnixNano())
}

// GetApproval returns the approval id, or chat.ErrNotFound.
func (s *Store) GetApproval(ctx context.Context, id string) (chat.Approval, error) {
	var a chat.Approval
	if err := s.check(ctx); err != nil {
		return a, err
	}
	if err := s.getRecord(ctx, "SELECT record FROM approvals WHERE id = $1", id, &a); err != nil {
		return chat.Approval{}, s.err(fmt.Sprintf("approval %q", id), err)
	}
	return a, nil
}

// SetApprovalCard records card as the approval's card and returns the record
// as it now is; a decision is never touched.
func (s *Store) SetApprovalCard(ctx context.Context, id string, card chat.MessageRef) (chat.Approval, error) {
	var a chat.Approval
	if err := s.check(ctx); err != nil {
		return a, err
	}
	ref, err := json.Marshal(card)
	if err != nil {
		return a, s.err(fmt.Sprintf("set approval card %q", id), err)
	}
	err = s.write(ctx, func(q querier) error {
		return scanRecord(q.QueryRow(ctx, `UPDATE approvals SET record = jsonb_set(record, '{card}', $2::jsonb)
			WHERE id = $1 RETURNING record`, id, ref), &a)
	})
	if err != nil {
		return chat.Approval{}, s.err(fmt.Sprintf("set approval card %q", id), err)
	}
	return a, nil
}

// decision is the part of an approval record a decision changes.
type decision struct {
	State         chat.ApprovalState `json:"state"`
	DecidedBy     string             `json:"decided_by,omitempty"`
	DecidedByName string             `json:"decided_by_name,omitempty"`
	DecidedAt     time.Time          `json:"decided_at"`
	Reason        string             `json:"reason,omitempty"`
}

// DecideApproval moves a pending approval to state. Exactly one caller
// succeeds: the UPDATE only matches a row that is still pending, and
// PostgreSQL re-checks that condition on a row another transaction changed.
func (s *Store) DecideApproval(ctx context.Context, id string, state chat.ApprovalState, by, byName string, at time.Time) (chat.Approval, bool, error) {
	return s.DecideApprovalWith(ctx, id, chat.ApprovalDecision{State: state, By: by, ByName: byName, At: at})
}

// DecideApprovalWith is DecideApproval recording d (a denial's reason) in
// the same conditional UPDATE. With d.Grant, an approved request of a named
// tool also stores the Grant of its tool in its conversation, in the same
// transaction, and the record's Granted is set.
func (s *Store) DecideApprovalWith(ctx context.Context, id string, d chat.ApprovalDecision) (chat.Approval, bool, error) {
	var a chat.Approval
	if err := s.check(ctx); err != nil {
		return a, false, err
	}
	state := d.State
	if state == chat.ApprovalPending || !validState(state) {
		return a, false, fmt.Errorf("postgres: decide approval %q: invalid decision %q", id, state)
	}
	patch, err := json.Marshal(decision{State: state, DecidedBy: d.By, DecidedByName: d.ByName, DecidedAt: d.At, Reason: d.Reason})
	if err != nil {
		return a, false, s.err(fmt.Sprintf("decide approval %q", id), err)
	}
	won := false
	err = s.tx(ctx, func(tx pgx.Tx) error {
		err := scanRecord(tx.QueryRow(ctx, `UPDATE approvals SET state = $2, record = record || $3::jsonb
			WHERE id = $1 AND state = 'pending' RETURNING record`, id, string(state), patch), &a)
		if errors.Is(err, chat.ErrNotFound) {
			// Not pending, or unknown.
			return scanRecord(tx.QueryRow(ctx, "SELECT record FROM approvals WHERE id = $1", id), &a)
		}
		if err != nil {
			return err
		}
		won = true
		if !d.Grant || state != chat.ApprovalApproved || a.Tool == "" {
			return nil
		}
		a.Granted = true
		if _, err := tx.Exec(ctx, `UPDATE approvals SET record = jsonb_set(record, '{granted}', 'true') WHERE id = $1`, id); err != nil {
			return err
		}
		return putGrant(ctx, tx, chat.Grant{Key: a.Key, Tool: a.Tool, By: d.By, ByName: d.ByName, Approval: a.ID, Created: d.At})
	})
	if err != nil {
		return chat.Approval{}, false, s.err(fmt.Sprintf("decide approval %q", id), err)
	}
	return a, won, nil
}

// ListExpiredApprovals returns up to limit pending approvals whose expiry is
// not after now, soonest-expired first.
func (s *Store) ListExpiredApprovals(ctx context.Context, now time.Time, limit int) ([]chat.Approval, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultBatchLimit
	}
	rows, err := s.pool.Query(ctx, `SELECT record FROM approvals
		WHERE state = 'pending' AND expires_ns <= $1 ORDER BY expires_ns, id LIMIT $2`, now.UnixNano(), limit)
	if err != nil {
		return nil, s.err("list expired approvals", err)
	}
	list, err := collectRecords[chat.Approval](rows)
	if err != nil {
		return nil, s.err("list expired approvals", err)
	}
	return list, nil
}

// PutRun records r as its conversation's in-flight run.
func (s *Store) PutRun(ctx context.Context, r chat.InFlightRun) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if !r.Key.Valid() {
		return fmt.Errorf("postgres: put run: invalid key %q", r.Key)
	}
	return s.upsert(ctx, fmt.Sprintf("put run %s", r.Key), `INSERT INTO runs (key, started_ns, record) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET started_ns = EXCLUDED.started_ns, record = EXCLUDED.record`,
		r, r.Key.String(), r.Started.UnixNano())
}

// DeleteRun deletes the in-flight run of key; an unknown key is not an error.
func (s *Store) DeleteRun(ctx context.Context, key chat.ConversationKey) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	err := s.write(ctx, func(q querier) error {
		_, err := q.Exec(ctx, "DELETE FROM runs WHERE key = $1", key.String())
		return err
	})
	if err != nil {
		return s.err(fmt.Sprintf("delete run %s", key), err)
	}
	return nil
}

// ListRuns returns every in-flight run, oldest first (equal starts in
// conversation key order).
func (s *Store) ListRuns(ctx context.Context) ([]chat.InFlightRun, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT record FROM runs ORDER BY started_ns, key COLLATE "C"`)
	if err != nil {
		return nil, s.err("list runs", err)
	}
	list, err := collectRecords[chat.InFlightRun](rows)
	if err != nil {
		return nil, s.err("list runs", err)
	}
	return list, nil
}

// upsert writes the JSON record of v with an INSERT … ON CONFLICT whose
// last parameter is the record and whose others are args, in order.
func (s *Store) upsert(ctx context.Context, op, query string, v any, args ...any) error {
	rec, err := json.Marshal(v)
	if err != nil {
		return s.err(op, err)
	}
	err = s.write(ctx, func(q querier) error {
		_, err := q.Exec(ctx, query, append(args, rec)...)
		return err
	})
	if err != nil {
		return s.err(op, err)
	}
	return nil
}

// getRecord runs a query returning at most one JSON record and decodes it
// into out; no row is chat.ErrNotFound.
func (s *Store) getRecord(ctx context.Context, query, id string, out any, args ...any) error {
	return scanRecord(s.pool.QueryRow(ctx, query, append([]any{id}, args...)...), out)
}

// scanRecord decodes the JSON record of row into out; no row is
// chat.ErrNotFound.
func scanRecord(row pgx.Row, out any) error {
	var rec []byte
	err := row.Scan(&rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return chat.ErrNotFound
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(rec, out)
}

// collectRecords decodes the JSON record of every row.
func collectRecords[T any](rows pgx.Rows) ([]T, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) {
		var rec []byte
		var v T
		if err := row.Scan(&rec); err != nil {
			return v, err
		}
		err := json.Unmarshal(rec, &v)
		return v, err
	})
}

func validState(st chat.ApprovalState) bool {
	switch st {
	case chat.ApprovalPending, chat.ApprovalApproved, chat.ApprovalDenied, chat.ApprovalExpired, chat.ApprovalStopped:
		return true
	}
	return false
}
