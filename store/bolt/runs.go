package bolt

import (
	"context"
	"fmt"
	"sort"

	"github.com/promptev/promptev-bridge/chat"
	"go.etcd.io/bbolt"
)

// PutRun records that a run is in flight in r.Key's conversation (one per
// conversation; a later put replaces it).
func (s *Store) PutRun(ctx context.Context, r chat.InFlightRun) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !r.Key.Valid() {
		return fmt.Errorf("store: put run: invalid key %q", r.Key)
	}
	k := []byte(r.Key.String())
	v, err := encode(s.schema, kindRuns, r)
	if err != nil {
		return err
	}
	if err := s.update(func(tx *bbolt.Tx) error {
		return bucketRuns.in(tx).Put(k, v)
	}); err != nil {
		return fmt.Errorf("store: put run %s: %w", r.Key, err)
	}
	return nil
}

// DeleteRun removes the in-flight run of key's conversation. Deleting a run
// that is not recorded is not an error.
func (s *Store) DeleteRun(ctx context.Context, key chat.ConversationKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := []byte(key.String())
	if err := s.update(func(tx *bbolt.Tx) error {
		return bucketRuns.in(tx).Delete(k)
	}); err != nil {
		return fmt.Errorf("store: delete run %s: %w", key, err)
	}
	return nil
}

// ListRuns returns every in-flight run, oldest first (for recovery at start-up).
func (s *Store) ListRuns(ctx context.Context) ([]chat.InFlightRun, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []chat.InFlightRun
	err := s.view(func(tx *bbolt.Tx) error {
		return bucketRuns.in(tx).ForEach(func(k, v []byte) error {
			var r chat.InFlightRun
			if err := decode(s.schema, kindRuns, k, v, &r); err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: list runs: %w", err)
	}
	sortRuns(out)
	return out, nil
}

// sortRuns orders runs oldest first, then by key.
func sortRuns(runs []chat.InFlightRun) {
	sort.Slice(runs, func(i, j int) bool {
		if !runs[i].Started.Equal(runs[j].Started) {
			return runs[i].Started.Before(runs[j].Started)
		}
		return runs[i].Key.String() < runs[j].Key.String()
	})
}
