package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// SeenOrMark atomically checks and marks the dedupe key: it returns true when
// key is marked and its mark has not expired at now; otherwise it marks key
// until now+ttl and returns false. Of concurrent calls for one key, exactly
// one returns false. A hit is answered by a read transaction; a miss is a
// write that shares its fsynced commit with concurrent callers.
func (s *Store) SeenOrMark(ctx context.Context, key string, ttl time.Duration, now time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if key == "" {
		return false, errors.New("store: seen or mark: empty key")
	}
	if ttl <= 0 {
		return false, fmt.Errorf("store: seen or mark %q: ttl must be positive, got %s", key, ttl)
	}
	k := []byte(key)
	at := unixNano(now)
	seen := false
	err := s.view(func(tx *bbolt.Tx) error {
		v := bucketDedupe.in(tx).Get(k)
		seen = v != nil && stampTime(v) > at
		return nil
	})
	if err != nil || seen {
		return seen, wrapDedupe(key, err)
	}
	exp := now.Add(ttl)
	stampExp := timeStamp(exp)
	idxNew := indexKey(exp, k)
	err = s.write(func(tx *bbolt.Tx) error {
		// Re-check inside the write transaction: another writer may have
		// marked the key since the read. Sets seen on every run (Batch may
		// run this more than once).
		b := bucketDedupe.in(tx)
		idx := bucketDedupeExp.in(tx)
		seen = false
		if v := b.Get(k); v != nil {
			if stampTime(v) > at {
				seen = true
				return nil
			}
			if err := idx.Delete(append(append([]byte{}, v[:stampLen]...), k...)); err != nil {
				return err
			}
		}
		if err := b.Put(k, stampExp); err != nil {
			return err
		}
		return idx.Put(idxNew, nil)
	})
	return seen, wrapDedupe(key, err)
}

func wrapDedupe(key string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: seen or mark %q: %w", key, err)
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
