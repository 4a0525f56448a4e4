package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

var _ chat.InstallationBackend = (*Store)(nil)

// PutInstallation creates or replaces the installation in.ID(). The record
// holds the sealed token only: the adapter encrypts it before it gets here.
func (s *Store) PutInstallation(ctx context.Context, in chat.Installation) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return fmt.Errorf("postgres: put installation: %w", err)
	}
	return s.upsert(ctx, fmt.Sprintf("put installation %s", in.ID()), `INSERT INTO installations (id, broken, record) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET broken = EXCLUDED.broken, record = EXCLUDED.record`, in, in.ID(), in.Broken != "")
}

// GetInstallation returns the installation id, or chat.ErrNotFound.
func (s *Store) GetInstallation(ctx context.Context, id string) (chat.Installation, error) {
	var in chat.Installation
	if err := s.check(ctx); err != nil {
		return in, err
	}
	if err := s.getRecord(ctx, "SELECT record FROM installations WHERE id = $1", id, &in); err != nil {
		return chat.Installation{}, s.err(fmt.Sprintf("installation %s", id), err)
	}
	return in, nil
}

// ListInstallations returns every installation, in id order.
func (s *Store) ListInstallations(ctx context.Context) ([]chat.Installation, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT record FROM installations ORDER BY id COLLATE "C"`)
	if err != nil {
		return nil, s.err("list installations", err)
	}
	out, err := collectRecords[chat.Installation](rows)
	if err != nil {
		return nil, s.err("list installations", err)
	}
	return out, nil
}

// DeleteInstallation removes the installation id, or returns chat.ErrNotFound.
func (s *Store) DeleteInstallation(ctx context.Context, id string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM installations WHERE id = $1", id)
	if err != nil {
		return s.err(fmt.Sprintf("delete installation %s", id), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete installation %s: %w", id, chat.ErrNotFound)
	}
	return nil
}

// MarkInstallationBroken marks the installation id broken when it is
// healthy and still holds sealedToken: one UPDATE whose WHERE is the
// compare-and-set, then a read of the record when it did not apply.
func (s *Store) MarkInstallationBroken(ctx context.Context, id, sealedToken, reason string, at time.Time) (chat.Installation, bool, error) {
	if err := s.check(ctx); err != nil {
		return chat.Installation{}, false, err
	}
	op := fmt.Sprintf("mark installation %s broken", id)
	var in chat.Installation
	err := scanRecord(s.pool.QueryRow(ctx, `UPDATE installations
		SET broken = true,
		    record = record || jsonb_build_object('broken', $3::text, 'broken_at', $4::jsonb)
		WHERE id = $1 AND NOT broken AND record->>'sealed_token' = $2
		RETURNING record`, id, sealedToken, reason, timeJSON(at)), &in)
	switch {
	case err == nil:
		return in, true, nil
	case !errors.Is(err, chat.ErrNotFound):
		return chat.Installation{}, false, s.err(op, err)
	}
	in, err = s.GetInstallation(ctx, id)
	if err != nil {
		return chat.Installation{}, false, err
	}
	return in, false, nil
}

// timeJSON is t as encoding/json writes it in a record.
func timeJSON(t time.Time) []byte {
	b, _ := t.MarshalJSON()
	return b
}
