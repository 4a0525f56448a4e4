package store

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/promptev/promptev-bridge/bridge"
)

// validState reports whether st is one of the approval states.
func validState(st bridge.ApprovalState) bool {
	switch st {
	case bridge.ApprovalPending, bridge.ApprovalApproved, bridge.ApprovalDenied, bridge.ApprovalExpired:
		return true
	}
	return false
}

// PutApproval creates or replaces the approval a.ID. Pending approvals are
// indexed by expiry for ListExpiredApprovals.
func (s *Store) PutApproval(ctx context.Context, a bridge.Approval) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if a.ID == "" {
		return fmt.Errorf("store: put approval: empty id")
	}
	if !validState(a.State) {
		return fmt.Errorf("store: put approval %q: invalid state %q", a.ID, a.State)
	}
	id := []byte(a.ID)
	v, err := encode(s.schema, kindApprovals, a)
	if err != nil {
		return err
	}
	err = s.update(func(tx *bbolt.Tx) error {
		b := bucketApprovals.in(tx)
		if old := b.Get(id); old != nil {
			var prev bridge.Approval
			if err := decode(s.schema, kindApprovals, id, old, &prev); err != nil {
				return err
			}
			if prev.State == bridge.ApprovalPending {
				if err := bucketApprovalsExp.in(tx).Delete(indexKey(prev.Expires, id)); err != nil {
					return err
				}
			}
		}
		if a.State == bridge.ApprovalPending {
			if err := bucketApprovalsExp.in(tx).Put(indexKey(a.Expires, id), nil); err != nil {
				return err
			}
		}
		return b.Put(id, v)
	})
	if err != nil {
		return fmt.Errorf("store: put approval %q: %w", a.ID, err)
	}
	return nil
}

// GetApproval returns the approval id, or an error wrapping bridge.ErrNotFound.
func (s *Store) GetApproval(ctx context.Context, id string) (bridge.Approval, error) {
	if err := ctx.Err(); err != nil {
		return bridge.Approval{}, err
	}
	k := []byte(id)
	var a bridge.Approval
	err := s.view(func(tx *bbolt.Tx) error {
		raw := bucketApprovals.in(tx).Get(k)
		if raw == nil {
			return fmt.Errorf("store: approval %q: %w", id, bridge.ErrNotFound)
		}
		return decode(s.schema, kindApprovals, k, raw, &a)
	})
	if err != nil {
		return bridge.Approval{}, err
	}
	return a, nil
}

// SetApprovalCard records card as the card message of the approval id and
// returns the record as it now is. It touches nothing else, in one short
// write transaction: a decision made before it (by DecideApproval) is kept,
// and the returned record then reports Decided. The expiry index is
// unchanged. Unknown ids give bridge.ErrNotFound.
func (s *Store) SetApprovalCard(ctx context.Context, id string, card bridge.MessageRef) (bridge.Approval, error) {
	if err := ctx.Err(); err != nil {
		return bridge.Approval{}, err
	}
	k := []byte(id)
	var a bridge.Approval
	err := s.update(func(tx *bbolt.Tx) error {
		b := bucketApprovals.in(tx)
		raw := b.Get(k)
		if raw == nil {
			return fmt.Errorf("store: approval %q: %w", id, bridge.ErrNotFound)
		}
		if err := decode(s.schema, kindApprovals, k, raw, &a); err != nil {
			return err
		}
		a.Card = card
		v, err := encode(s.schema, kindApprovals, a)
		if err != nil {
			return err
		}
		return b.Put(k, v)
	})
	if err != nil {
		return bridge.Approval{}, fmt.Errorf("store: set approval card %q: %w", id, err)
	}
	return a, nil
}

// DecideApproval moves the pending approval id to state (approved, denied or
// expired), recording who decided and when. It is a compare-and-set in one
// write transaction: exactly one caller gets ok=true; later callers get
// ok=false and the record as decided. Unknown ids give bridge.ErrNotFound.
func (s *Store) DecideApproval(ctx context.Context, id string, state bridge.ApprovalState, by, byName string, at time.Time) (bridge.Approval, bool, error) {
	if err := ctx.Err(); err != nil {
		return bridge.Approval{}, false, err
	}
	if state == bridge.ApprovalPending || !validState(state) {
		return bridge.Approval{}, false, fmt.Errorf("store: decide approval %q: invalid decision %q", id, state)
	}
	k := []byte(id)
	var (
		a  bridge.Approval
		ok bool
	)
	err := s.update(func(tx *bbolt.Tx) error {
		b := bucketApprovals.in(tx)
		raw := b.Get(k)
		if raw == nil {
			return fmt.Errorf("store: approval %q: %w", id, bridge.ErrNotFound)
		}
		if err := decode(s.schema, kindApprovals, k, raw, &a); err != nil {
			return err
		}
		if a.State != bridge.ApprovalPending {
			return nil
		}
		if err := bucketApprovalsExp.in(tx).Delete(indexKey(a.Expires, k)); err != nil {
			return err
		}
		a.State, a.DecidedBy, a.DecidedByName, a.DecidedAt = state, by, byName, at
		v, err := encode(s.schema, kindApprovals, a)
		if err != nil {
			return err
		}
		ok = true
		return b.Put(k, v)
	})
	if err != nil {
		return bridge.Approval{}, false, fmt.Errorf("store: decide approval %q: %w", id, err)
	}
	return a, ok, nil
}

// ListExpiredApprovals returns up to limit pending approvals whose Expires is
// not after now, soonest-expired first. It reads only the expiry index
// entries that are due. A limit of zero or less means DefaultBatchLimit.
func (s *Store) ListExpiredApprovals(ctx context.Context, now time.Time, limit int) ([]bridge.Approval, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultBatchLimit
	}
	due := unixNano(now)
	var out []bridge.Approval
	err := s.view(func(tx *bbolt.Tx) error {
		approvals := bucketApprovals.in(tx)
		c := bucketApprovalsExp.in(tx).Cursor()
		for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
			if stampTime(k) > due {
				break
			}
			id := k[stampLen:]
			raw := approvals.Get(id)
			if raw == nil {
				continue // index entry without record; PutApproval never leaves one
			}
			var a bridge.Approval
			if err := decode(s.schema, kindApprovals, id, raw, &a); err != nil {
				return err
			}
			if a.State == bridge.ApprovalPending {
				out = append(out, a)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list expired approvals: %w", err)
	}
	return out, nil
}
