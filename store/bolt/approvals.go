package bolt

import (
	"context"
	"fmt"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"go.etcd.io/bbolt"
)

// validState reports whether st is one of the approval states.
func validState(st chat.ApprovalState) bool {
	switch st {
	case chat.ApprovalPending, chat.ApprovalApproved, chat.ApprovalDenied, chat.ApprovalExpired, chat.ApprovalStopped:
		return true
	}
	return false
}

// PutApproval creates or replaces the approval a.ID. Pending approvals are
// indexed by expiry for ListExpiredApprovals.
func (s *Store) PutApproval(ctx context.Context, a chat.Approval) error {
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
			var prev chat.Approval
			if err := decode(s.schema, kindApprovals, id, old, &prev); err != nil {
				return err
			}
			if prev.State == chat.ApprovalPending {
				if err := bucketApprovalsExp.in(tx).Delete(indexKey(prev.Expires, id)); err != nil {
					return err
				}
			}
		}
		if a.State == chat.ApprovalPending {
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

// GetApproval returns the approval id, or an error wrapping chat.ErrNotFound.
func (s *Store) GetApproval(ctx context.Context, id string) (chat.Approval, error) {
	if err := ctx.Err(); err != nil {
		return chat.Approval{}, err
	}
	k := []byte(id)
	var a chat.Approval
	err := s.view(func(tx *bbolt.Tx) error {
		raw := bucketApprovals.in(tx).Get(k)
		if raw == nil {
			return fmt.Errorf("store: approval %q: %w", id, chat.ErrNotFound)
		}
		return decode(s.schema, kindApprovals, k, raw, &a)
	})
	if err != nil {
		return chat.Approval{}, err
	}
	return a, nil
}

// SetApprovalCard records card as the card message of the approval id and
// returns the record as it now is. It touches nothing else, in one short
// write transaction: a decision made before it (by DecideApproval) is kept,
// and the returned record then reports Decided. The expiry index is
// unchanged. Unknown ids give chat.ErrNotFound.
func (s *Store) SetApprovalCard(ctx context.Context, id string, card chat.MessageRef) (chat.Approval, error) {
	if err := ctx.Err(); err != nil {
		return chat.Approval{}, err
	}
	k := []byte(id)
	var a chat.Approval
	err := s.update(func(tx *bbolt.Tx) error {
		b := bucketApprovals.in(tx)
		raw := b.Get(k)
		if raw == nil {
			return fmt.Errorf("store: approval %q: %w", id, chat.ErrNotFound)
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
		return chat.Approval{}, fmt.Errorf("store: set approval card %q: %w", id, err)
	}
	return a, nil
}

// DecideApproval moves the pending approval id to state (approved, denied,
// expired or stopped), recording who decided and when. It is a compare-and-set in one
// write transaction: exactly one caller gets ok=true; later callers get
// ok=false and the record as decided. Unknown ids give chat.ErrNotFound.
func (s *Store) DecideApproval(ctx context.Context, id string, state chat.ApprovalState, by, byName string, at time.Time) (chat.Approval, bool, error) {
	return s.DecideApprovalWith(ctx, id, chat.ApprovalDecision{State: state, By: by, ByName: byName, At: at})
}

// DecideApprovalWith is DecideApproval recording d, a denial's reason
// included, in the same write transaction.
func (s *Store) DecideApprovalWith(ctx context.Context, id string, d chat.ApprovalDecision) (chat.Approval, bool, error) {
	state := d.State
	if err := ctx.Err(); err != nil {
		return chat.Approval{}, false, err
	}
	if state == chat.ApprovalPending || !validState(state) {
		return chat.Approval{}, false, fmt.Errorf("store: decide approval %q: invalid decision %q", id, state)
	}
	k := []byte(id)
	var (
		a  chat.Approval
		ok bool
	)
	err := s.update(func(tx *bbolt.Tx) error {
		b := bucketApprovals.in(tx)
		raw := b.Get(k)
		if raw == nil {
			return fmt.Errorf("store: approval %q: %w", id, chat.ErrNotFound)
		}
		if err := decode(s.schema, kindApprovals, k, raw, &a); err != nil {
			return err
		}
		if a.State != chat.ApprovalPending {
			return nil
		}
		if err := bucketApprovalsExp.in(tx).Delete(indexKey(a.Expires, k)); err != nil {
			return err
		}
		a.State, a.DecidedBy, a.DecidedByName, a.DecidedAt, a.Reason = state, d.By, d.ByName, d.At, d.Reason
		if d.Grant && state == chat.ApprovalApproved && a.Tool != "" {
			a.Granted = true
			g := chat.Grant{Key: a.Key, Tool: a.Tool, By: d.By, ByName: d.ByName, Approval: a.ID, Created: d.At}
			if err := putGrant(tx, s.schema, g); err != nil {
				return err
			}
		}
		v, err := encode(s.schema, kindApprovals, a)
		if err != nil {
			return err
		}
		ok = true
		return b.Put(k, v)
	})
	if err != nil {
		return chat.Approval{}, false, fmt.Errorf("store: decide approval %q: %w", id, err)
	}
	return a, ok, nil
}

// ListExpiredApprovals returns up to limit pending approvals whose Expires is
// not after now, soonest-expired first. It reads only the expiry index
// entries that are due. A limit of zero or less means DefaultBatchLimit.
func (s *Store) ListExpiredApprovals(ctx context.Context, now time.Time, limit int) ([]chat.Approval, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultBatchLimit
	}
	due := unixNano(now)
	var out []chat.Approval
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
			var a chat.Approval
			if err := decode(s.schema, kindApprovals, id, raw, &a); err != nil {
				return err
			}
			if a.State == chat.ApprovalPending {
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
