package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/promptev/promptev-bridge/chat"
)

// endedRunStates are the states SweepRunRecords may delete (chat.RunEnded).
var endedRunStates = []string{string(chat.RunFinished), string(chat.RunStopped), string(chat.RunFailed), string(chat.RunRetried)}

// PutRunRecord creates or replaces the run record r.ID.
func (s *Store) PutRunRecord(ctx context.Context, r chat.RunRecord) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	switch {
	case r.ID == "":
		return errors.New("postgres: put run record: empty id")
	case !r.State.Valid():
		return fmt.Errorf("postgres: put run record %q: invalid state %q", r.ID, r.State)
	}
	return s.upsert(ctx, fmt.Sprintf("put run record %q", r.ID), `INSERT INTO run_records (id, state, created_ns, record) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, created_ns = EXCLUDED.created_ns, record = EXCLUDED.record`,
		r, r.ID, string(r.State), r.Created.UnixNano())
}

// GetRunRecord returns the run record id, or chat.ErrNotFound.
func (s *Store) GetRunRecord(ctx context.Context, id string) (chat.RunRecord, error) {
	var r chat.RunRecord
	if err := s.check(ctx); err != nil {
		return r, err
	}
	if err := s.getRecord(ctx, "SELECT record FROM run_records WHERE id = $1", id, &r); err != nil {
		return chat.RunRecord{}, s.err(fmt.Sprintf("run record %q", id), err)
	}
	return r, nil
}

// runMovePatch is the part of a run record a move changes: its state and
// every non-empty field of m, as chat.ApplyRunMove sets them.
func runMovePatch(m chat.RunMove) ([]byte, error) {
	p := map[string]any{"state": m.To}
	if m.By != "" {
		p["decided_by"] = m.By
	}
	if m.ByName != "" {
		p["decided_by_name"] = m.ByName
	}
	if !m.At.IsZero() {
		p["decided_at"] = m.At
	}
	if m.Live.ID != "" {
		p["live"] = m.Live
	}
	if m.Approval != "" {
		p["approval"] = m.Approval
	}
	if m.Notice != "" {
		p["notice"] = m.Notice
	}
	if len(m.Steps) > 0 {
		p["steps"] = m.Steps
	}
	return json.Marshal(p)
}

// MoveRun applies m to the run record id when its state is one of from.
// It is one conditional UPDATE: of concurrent moves out of a state exactly
// one matches the row (PostgreSQL re-checks the condition on a row another
// transaction changed); the others read the record as the winner left it.
func (s *Store) MoveRun(ctx context.Context, id string, from []chat.RunState, m chat.RunMove) (chat.RunRecord, bool, error) {
	var r chat.RunRecord
	if err := s.check(ctx); err != nil {
		return r, false, err
	}
	if !m.To.Valid() {
		return r, false, fmt.Errorf("postgres: move run %q: invalid state %q", id, m.To)
	}
	patch, err := runMovePatch(m)
	if err != nil {
		return r, false, s.err(fmt.Sprintf("move run %q", id), err)
	}
	states := make([]string, len(from))
	for i, st := range from {
		states[i] = string(st)
	}
	err = s.write(ctx, func(q querier) error {
		return scanRecord(q.QueryRow(ctx, `UPDATE run_records SET state = $2, record = record || $3::jsonb
			WHERE id = $1 AND state = ANY($4) RETURNING record`, id, string(m.To), patch, states), &r)
	})
	switch {
	case err == nil:
		return r, true, nil
	case !errors.Is(err, chat.ErrNotFound):
		return chat.RunRecord{}, false, s.err(fmt.Sprintf("move run %q", id), err)
	}
	// Not in a from state, or unknown.
	if err := s.getRecord(ctx, "SELECT record FROM run_records WHERE id = $1", id, &r); err != nil {
		return chat.RunRecord{}, false, s.err(fmt.Sprintf("move run %q", id), err)
	}
	return r, false, nil
}

// SweepRunRecords deletes up to limit records of ended runs created before
// before, oldest first, and returns how many.
func (s *Store) SweepRunRecords(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	if limit <= 0 {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM run_records WHERE id IN (
		SELECT id FROM run_records WHERE state = ANY($1) AND created_ns < $2
		ORDER BY created_ns, id LIMIT $3)`, endedRunStates, before.UnixNano(), limit)
	if err != nil {
		return 0, s.err("sweep run records", err)
	}
	return int(tag.RowsAffected()), nil
}

// putGrant creates or replaces g in tx (DecideApprovalWith's transaction).
func putGrant(ctx context.Context, tx pgx.Tx, g chat.Grant) error {
	rec, err := json.Marshal(g)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO grants (key, tool, record) VALUES ($1, $2, $3)
		ON CONFLICT (key, tool) DO UPDATE SET record = EXCLUDED.record`, g.Key.String(), g.Tool, rec)
	return err
}

// PutGrant creates or replaces the grant of g.Tool in g.Key (for `store
// copy`; the bridge grants through DecideApprovalWith).
func (s *Store) PutGrant(ctx context.Context, g chat.Grant) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if !g.Key.Valid() || g.Tool == "" {
		return fmt.Errorf("postgres: put grant: invalid key %q or empty tool %q", g.Key, g.Tool)
	}
	err := s.tx(ctx, func(tx pgx.Tx) error { return putGrant(ctx, tx, g) })
	if err != nil {
		return s.err(fmt.Sprintf("put grant of %q in %s", g.Tool, g.Key), err)
	}
	return nil
}

// GetGrant returns the grant of tool in key, or chat.ErrNotFound.
func (s *Store) GetGrant(ctx context.Context, key chat.ConversationKey, tool string) (chat.Grant, error) {
	var g chat.Grant
	if err := s.check(ctx); err != nil {
		return g, err
	}
	err := s.getRecord(ctx, "SELECT record FROM grants WHERE key = $1 AND tool = $2", key.String(), &g, tool)
	if err != nil {
		return chat.Grant{}, s.err(fmt.Sprintf("grant of %q in %s", tool, key), err)
	}
	return g, nil
}

// ListGrants returns every grant, by conversation then tool.
func (s *Store) ListGrants(ctx context.Context) ([]chat.Grant, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT record FROM grants ORDER BY key COLLATE "C", tool COLLATE "C"`)
	if err != nil {
		return nil, s.err("list grants", err)
	}
	list, err := collectRecords[chat.Grant](rows)
	if err != nil {
		return nil, s.err("list grants", err)
	}
	return list, nil
}

// DeleteGrant revokes the grant of tool in key, or returns chat.ErrNotFound.
func (s *Store) DeleteGrant(ctx context.Context, key chat.ConversationKey, tool string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	var tag pgconn.CommandTag
	err := s.write(ctx, func(q querier) (err error) {
		tag, err = q.Exec(ctx, "DELETE FROM grants WHERE key = $1 AND tool = $2", key.String(), tool)
		return err
	})
	if err != nil {
		return s.err(fmt.Sprintf("delete grant of %q in %s", tool, key), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: grant of %q in %s: %w", tool, key, chat.ErrNotFound)
	}
	return nil
}
