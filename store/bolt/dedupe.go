package bolt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// SeenOrMark atomically checks and marks the dedupe keys of one message: it
// returns true when any key is marked and its mark has not expired at now.
// Every key that is not marked, or whose mark expired, is marked until
// now+ttl in the same transaction, whatever the answer; unexpired marks keep
// their expiry (a hit never extends a mark). Of concurrent calls sharing a
// key, exactly one returns false. When every key is already marked the call
// is answered by a read transaction; otherwise it is one write transaction,
// whose fsynced commit is shared with concurrent callers.
func (s *Store) SeenOrMark(ctx context.Context, keys []string, ttl time.Duration, now time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if len(keys) == 0 {
		return false, errors.New("store: seen or mark: no keys")
	}
	if slices.Contains(keys, "") {
		return false, wrapDedupe(keys, errors.New("empty key"))
	}
	if ttl <= 0 {
		return false, wrapDedupe(keys, fmt.Errorf("ttl must be positive, got %s", ttl))
	}
	ks := make([][]byte, 0, len(keys))
	for i, key := range keys {
		if !slices.Contains(keys[:i], key) {
			ks = append(ks, []byte(key))
		}
	}
	at := unixNano(now)
	live := func(v []byte) bool { return v != nil && stampTime(v) > at }

	seen, all := false, true
	err := s.view(func(tx *bbolt.Tx) error {
		b := bucketDedupe.in(tx)
		for _, k := range ks {
			if live(b.Get(k)) {
				seen = true
			} else {
				all = false
			}
		}
		return nil
	})
	if err != nil || all {
		return seen, wrapDedupe(keys, err)
	}
	exp := now.Add(ttl)
	stampExp := timeStamp(exp)
	err = s.write(func(tx *bbolt.Tx) error {
		// Check again inside the write transaction: another writer may
		// have marked a key since the read. All keys are checked before any
		// is marked. Sets seen on every run: Batch may run this more than
		// once, against a rolled-back state.
		b := bucketDedupe.in(tx)
		idx := bucketDedupeExp.in(tx)
		seen = false
		var mark [][]byte
		for _, k := range ks {
			if live(b.Get(k)) {
				seen = true
			} else {
				mark = append(mark, k)
			}
		}
		for _, k := range mark {
			if v := b.Get(k); v != nil {
				// An expired mark: drop its index entry before re-marking.
				if err := idx.Delete(append(append([]byte{}, v[:stampLen]...), k...)); err != nil {
					return err
				}
			}
			if err := b.Put(k, stampExp); err != nil {
				return err
			}
			if err := idx.Put(indexKey(exp, k), nil); err != nil {
				return err
			}
		}
		return nil
	})
	return seen, wrapDedupe(keys, err)
}

func wrapDedupe(keys []string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: seen or mark %q: %w", strings.Join(keys, " "), err)
}

// SweepDedupe deletes up to limit dedupe entries whose mark expired at or
// before now and returns how many it deleted. It walks the expiry index from
// the oldest entry, so it never scans live entries. A limit of zero or less
// means DefaultBatchLimit; call it again while it returns limit.
func (s *Store) SweepDedupe(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if limit <= 0 {
		limit = DefaultBatchLimit
	}
	at := unixNano(now)
	n := 0
	err := s.update(func(tx *bbolt.Tx) error {
		b := bucketDedupe.in(tx)
		idx := bucketDedupeExp.in(tx)
		var due [][]byte
		c := idx.Cursor()
		for k, _ := c.First(); k != nil && len(due) < limit; k, _ = c.Next() {
			if stampTime(k) > at {
				break
			}
			due = append(due, append([]byte{}, k...))
		}
		for _, ik := range due {
			key := ik[stampLen:]
			// Delete the mark only if it is the one this entry indexes; a
			// re-marked key has a newer index entry of its own.
			if v := b.Get(key); v != nil && stampTime(v) == stampTime(ik) {
				if err := b.Delete(key); err != nil {
					return err
				}
			}
			if err := idx.Delete(ik); err != nil {
				return err
			}
		}
		n = len(due)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: sweep dedupe: %w", err)
	}
	return n, nil
}
