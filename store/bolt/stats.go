package bolt

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"go.etcd.io/bbolt"
)

// Backend is the name of this backend in the store section (store.backend).
const Backend = "bbolt"

// Stats counts the records in every bucket and finds the oldest in-flight run.
// It walks the whole file in one read transaction (tens of milliseconds for
// 100,000 conversations); writers proceed meanwhile unless the file must grow.
func (s *Store) Stats(ctx context.Context) (chat.StoreStats, error) {
	if err := ctx.Err(); err != nil {
		return chat.StoreStats{}, err
	}
	st := chat.StoreStats{Backend: Backend, LocationKind: "file", Location: s.path, At: time.Now()}
	info, err := os.Stat(s.path)
	if err != nil {
		return chat.StoreStats{}, fmt.Errorf("store: stats: %w", err)
	}
	st.SizeBytes = info.Size()
	at := unixNano(st.At)
	err = s.view(func(tx *bbolt.Tx) error {
		if st.Schema, err = readSchema(tx); err != nil {
			return err
		}
		st.Conversations = bucketConversations.in(tx).Stats().KeyN
		st.Approvals = bucketApprovals.in(tx).Stats().KeyN
		st.DedupeEntries = bucketDedupe.in(tx).Stats().KeyN
		// Files from before run records and grants may lack their buckets.
		if b := bucketRunRecords.in(tx); b != nil {
			st.RunRecords = b.Stats().KeyN
		}
		if b := bucketGrants.in(tx); b != nil {
			st.Grants = b.Stats().KeyN
		}
		err := eachInstallation(tx, s.schema, func(in chat.Installation) error {
			st.Installations++
			if in.Broken != "" {
				st.BrokenInstallations++
			}
			return nil
		})
		if err != nil {
			return err
		}

		exp := bucketApprovalsExp.in(tx)
		st.PendingApprovals = exp.Stats().KeyN
		if k, _ := exp.Cursor().First(); k != nil {
			st.NextApprovalExpiry = time.Unix(0, stampTime(k)).UTC()
		}
		c := bucketDedupeExp.in(tx).Cursor()
		for k, _ := c.First(); k != nil && stampTime(k) <= at; k, _ = c.Next() {
			st.DedupeExpired++
		}
		return bucketRuns.in(tx).ForEach(func(k, v []byte) error {
			var r chat.InFlightRun
			if err := decode(s.schema, kindRuns, k, v, &r); err != nil {
				return err
			}
			st.Runs++
			if st.OldestRun == nil || r.Started.Before(st.OldestRun.Started) ||
				(r.Started.Equal(st.OldestRun.Started) && r.Key.String() < st.OldestRun.Key.String()) {
				st.OldestRun = &r
			}
			return nil
		})
	})
	if err != nil {
		return chat.StoreStats{}, fmt.Errorf("store: stats: %w", err)
	}
	return st, nil
}
