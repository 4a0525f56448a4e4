package bolt

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"go.etcd.io/bbolt"
)

// PutRunRecord creates or replaces the run record r.ID.
func (s *Store) PutRunRecord(ctx context.Context, r chat.RunRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case r.ID == "":
		return fmt.Errorf("store: put run record: empty id")
	case !r.State.Valid():
		return fmt.Errorf("store: put run record %q: invalid state %q", r.ID, r.State)
	}
	v, err := encode(s.schema, kindRunRecords, r)
	if err != nil {
		return err
	}
	if err := s.update(func(tx *bbolt.Tx) error {
		return bucketRunRecords.in(tx).Put([]byte(r.ID), v)
	}); err != nil {
		return fmt.Errorf("store: put run record %q: %w", r.ID, err)
	}
	return nil
}

// GetRunRecord returns the run record id, or an error wrapping chat.ErrNotFound.
func (s *Store) GetRunRecord(ctx context.Context, id string) (chat.RunRecord, error) {
	if err := ctx.Err(); err != nil {
		return chat.RunRecord{}, err
	}
	k := []byte(id)
	var r chat.RunRecord
	err := s.view(func(tx *bbolt.Tx) error {
		b := bucketRunRecords.in(tx)
		var raw []byte
		if b != nil { // nil in a file not yet opened by a bridge with run records
			raw = b.Get(k)
		}
		if raw == nil {
			return fmt.Errorf("store: run record %q: %w", id, chat.ErrNotFound)
		}
		return decode(s.schema, kindRunRecords, k, raw, &r)
	})
	if err != nil {
		return chat.RunRecord{}, err
	}
	return r, nil
}

// MoveRun applies m to the run record id when its state is one of from, in
// one write transaction: of concurrent moves out of a state exactly one
// gets ok=true. Unknown ids give chat.ErrNotFound.
func (s *Store) MoveRun(ctx context.Context, id string, from []chat.RunState, m chat.RunMove) (chat.RunRecord, bool, error) {
	if err := ctx.Err(); err != nil {
		return chat.RunRecord{}, false, err
	}
	if !m.To.Valid() {
		return chat.RunRecord{}, false, fmt.Errorf("store: move run %q: invalid state %q", id, m.To)
	}
	k := []byte(id)
	var (
		r  chat.RunRecord
		ok bool
	)
	err := s.update(func(tx *bbolt.Tx) error {
		b := bucketRunRecords.in(tx)
		raw := b.Get(k)
		if raw == nil {
			return fmt.Errorf("store: run record %q: %w", id, chat.ErrNotFound)
		}
		if err := decode(s.schema, kindRunRecords, k, raw, &r); err != nil {
			return err
		}
		if !slices.Contains(from, r.State) {
			return nil
		}
		r = chat.ApplyRunMove(r, m)
		v, err := encode(s.schema, kindRunRecords, r)
		if err != nil {
			return err
		}
		ok = true
		return b.Put(k, v)
	})
	if err != nil {
		return chat.RunRecord{}, false, fmt.Errorf("store: move run %q: %w", id, err)
	}
	return r, ok, nil
}

// SweepRunRecords deletes up to limit records of ended runs created before
// before and returns how many. It reads every record: run records are few
// (one per turn, kept for days), and a sweep runs once a minute.
func (s *Store) SweepRunRecords(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	err := s.update(func(tx *bbolt.Tx) error {
		n = 0
		b := bucketRunRecords.in(tx)
		var doomed [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if len(doomed) >= limit {
				return nil
			}
			var r chat.RunRecord
			if err := decode(s.schema, kindRunRecords, k, v, &r); err != nil {
				return err
			}
			if chat.RunEnded(r.State) && r.Created.Before(before) {
				doomed = append(doomed, slices.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range doomed {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(doomed)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: sweep run records: %w", err)
	}
	return n, nil
}
