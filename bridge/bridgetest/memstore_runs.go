package bridgetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// PutRunRecord stores r under r.ID.
func (s *MemStore) PutRunRecord(ctx context.Context, r chat.RunRecord) error {
	switch {
	case r.ID == "":
		return fmt.Errorf("bridgetest: put run record: empty id")
	case !r.State.Valid():
		return fmt.Errorf("bridgetest: put run record %s: invalid state %q", r.ID, r.State)
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.runRecords[r.ID] = r
	return nil
}

// GetRunRecord returns the run record id, or chat.ErrNotFound.
func (s *MemStore) GetRunRecord(ctx context.Context, id string) (chat.RunRecord, error) {
	if err := s.lock(ctx); err != nil {
		return chat.RunRecord{}, err
	}
	defer s.mu.Unlock()
	r, ok := s.runRecords[id]
	if !ok {
		return chat.RunRecord{}, fmt.Errorf("run record %s: %w", id, chat.ErrNotFound)
	}
	return r, nil
}

// MoveRun applies m when the run's state is one of from; see chat.Store.
func (s *MemStore) MoveRun(ctx context.Context, id string, from []chat.RunState, m chat.RunMove) (chat.RunRecord, bool, error) {
	if !m.To.Valid() {
		return chat.RunRecord{}, false, fmt.Errorf("bridgetest: move run %s: invalid state %q", id, m.To)
	}
	if err := s.lock(ctx); err != nil {
		return chat.RunRecord{}, false, err
	}
	defer s.mu.Unlock()
	r, ok := s.runRecords[id]
	if !ok {
		return chat.RunRecord{}, false, fmt.Errorf("run record %s: %w", id, chat.ErrNotFound)
	}
	if !slices.Contains(from, r.State) {
		return r, false, nil
	}
	r = chat.ApplyRunMove(r, m)
	s.runRecords[id] = r
	return r, true, nil
}

// SweepRunRecords deletes up to limit ended run records created before
// before; see chat.Store.
func (s *MemStore) SweepRunRecords(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	for id, r := range s.runRecords {
		if n >= limit {
			break
		}
		if chat.RunEnded(r.State) && r.Created.Before(before) {
			delete(s.runRecords, id)
			n++
		}
	}
	return n, nil
}

// RunRecords returns every run record, oldest first (for tests).
func (s *MemStore) RunRecords() []chat.RunRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]chat.RunRecord, 0, len(s.runRecords))
	for _, r := range s.runRecords {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b chat.RunRecord) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}
