package bolt

import (
	"context"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/promptev/promptev-bridge/chat"
)

// Export calls each of fns's non-nil functions with every record of its kind,
// in key order, inside one read transaction: a consistent snapshot, for
// `store copy`. An error from a function ends the export with that error.
func (s *Store) Export(ctx context.Context, fns chat.RecordFuncs) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.view(func(tx *bbolt.Tx) error {
		if fns.Conversation != nil {
			err := bucketConversations.in(tx).ForEach(func(k, v []byte) error {
				var c chat.Conversation
				if err := decode(s.schema, kindConversations, k, v, &c); err != nil {
					return err
				}
				return fns.Conversation(c)
			})
			if err != nil {
				return err
			}
		}
		if fns.Approval != nil {
			err := bucketApprovals.in(tx).ForEach(func(k, v []byte) error {
				var a chat.Approval
				if err := decode(s.schema, kindApprovals, k, v, &a); err != nil {
					return err
				}
				return fns.Approval(a)
			})
			if err != nil {
				return err
			}
		}
		if fns.Run != nil {
			err := bucketRuns.in(tx).ForEach(func(k, v []byte) error {
				var r chat.InFlightRun
				if err := decode(s.schema, kindRuns, k, v, &r); err != nil {
					return err
				}
				return fns.Run(r)
			})
			if err != nil {
				return err
			}
		}
		// A file not yet opened by a bridge with run records and grants
		// lacks their buckets.
		if b := bucketRunRecords.in(tx); fns.RunRecord != nil && b != nil {
			err := b.ForEach(func(k, v []byte) error {
				var r chat.RunRecord
				if err := decode(s.schema, kindRunRecords, k, v, &r); err != nil {
					return err
				}
				return fns.RunRecord(r)
			})
			if err != nil {
				return err
			}
		}
		if b := bucketGrants.in(tx); fns.Grant != nil && b != nil {
			err := b.ForEach(func(k, v []byte) error {
				var g chat.Grant
				if err := decode(s.schema, kindGrants, k, v, &g); err != nil {
					return err
				}
				return fns.Grant(g)
			})
			if err != nil {
				return err
			}
		}
		if fns.Installation != nil {
			if err := eachInstallation(tx, s.schema, fns.Installation); err != nil {
				return err
			}
		}
		if b := bucketFeedback.in(tx); fns.Feedback != nil && b != nil {
			return b.ForEach(func(k, v []byte) error {
				var f chat.FeedbackRecord
				if err := decode(s.schema, kindFeedback, k, v, &f); err != nil {
					return err
				}
				return fns.Feedback(f)
			})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: export: %w", err)
	}
	return nil
}
