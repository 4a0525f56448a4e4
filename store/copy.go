package store

import (
	"context"
	"fmt"

	"github.com/promptev/promptev-bridge/chat"
)

// Copied counts the records Copy copied.
type Copied struct {
	Conversations int
	Approvals     int
	Runs          int
	RunRecords    int
	Grants        int
	// Feedback counts the ratings of answers copied.
	Feedback int
}

// Copy copies every conversation, approval (pending or decided), in-flight
// run, run record (so a Stop or Retry on an old message still answers right)
// and conversation grant of from into to, for moving a deployment to another backend
// (`promptev-bridge store copy`). The dedupe ledger is not copied: its marks
// live minutes, and the bridges are stopped during a move.
//
// It refuses a target that holds any record unless force is set (records of
// the same key are then replaced). Afterwards it checks the counts: the
// source's statistics must match what was read, and the target must hold
// every record copied (exactly as many when it started empty).
func Copy(ctx context.Context, from, to Store, force bool) (Copied, error) {
	var n Copied
	before, err := to.Stats(ctx)
	if err != nil {
		return n, fmt.Errorf("store: copy: target: %w", err)
	}
	grantsBefore, err := countGrants(ctx, to)
	if err != nil {
		return n, fmt.Errorf("store: copy: target: %w", err)
	}
	if !force && (before.Conversations > 0 || before.Approvals > 0 || before.Runs > 0 || grantsBefore > 0) {
		held := fmt.Sprintf("%d conversations, %d approvals, %d in-flight runs", before.Conversations, before.Approvals, before.Runs)
		if grantsBefore > 0 {
			held += fmt.Sprintf(", %d grants", grantsBefore)
		}
		return n, fmt.Errorf("store: copy: the target is not empty (%s): "+
			"copy into an empty store, or give --force to replace records of the same keys", held)
	}
	err = from.Export(ctx, chat.RecordFuncs{
		Conversation: func(c chat.Conversation) error {
			n.Conversations++
			return to.PutConversation(ctx, c)
		},
		Approval: func(a chat.Approval) error {
			n.Approvals++
			return to.PutApproval(ctx, a)
		},
		Run: func(r chat.InFlightRun) error {
			n.Runs++
			return to.PutRun(ctx, r)
		},
		RunRecord: func(r chat.RunRecord) error {
			n.RunRecords++
			return to.PutRunRecord(ctx, r)
		},
		Grant: func(g chat.Grant) error {
			n.Grants++
			return to.PutGrant(ctx, g)
		},
		Feedback: func(f chat.FeedbackRecord) error {
			n.Feedback++
			_, _, err := to.PutFeedback(ctx, f)
			return err
		},
	})
	if err != nil {
		return n, fmt.Errorf("store: copy: %w", err)
	}
	src, err := from.Stats(ctx)
	if err != nil {
		return n, fmt.Errorf("store: copy: source: %w", err)
	}
	if src.Conversations != n.Conversations || src.Approvals != n.Approvals || src.Runs != n.Runs {
		return n, fmt.Errorf("store: copy: the source changed during the copy (read %d/%d/%d conversations/approvals/runs, it now holds %d/%d/%d): stop every bridge that uses it and copy again",
			n.Conversations, n.Approvals, n.Runs, src.Conversations, src.Approvals, src.Runs)
	}
	if g, err := countGrants(ctx, from); err != nil || g != n.Grants {
		return n, fmt.Errorf("store: copy: the source's grants changed during the copy (read %d, it now holds %d, err %v): stop every bridge that uses it and copy again",
			n.Grants, g, err)
	}
	after, err := to.Stats(ctx)
	if err != nil {
		return n, fmt.Errorf("store: copy: target: %w", err)
	}
	grantsAfter, err := countGrants(ctx, to)
	if err != nil {
		return n, fmt.Errorf("store: copy: target: %w", err)
	}
	if grantsAfter < n.Grants || (!force && grantsAfter != n.Grants) {
		return n, fmt.Errorf("store: copy: the target holds %d grants after copying %d", grantsAfter, n.Grants)
	}
	short := after.Conversations < n.Conversations || after.Approvals < n.Approvals || after.Runs < n.Runs
	if !force {
		short = after.Conversations != n.Conversations || after.Approvals != n.Approvals || after.Runs != n.Runs
	}
	if short {
		return n, fmt.Errorf("store: copy: the target holds %d/%d/%d conversations/approvals/runs after copying %d/%d/%d",
			after.Conversations, after.Approvals, after.Runs, n.Conversations, n.Approvals, n.Runs)
	}
	return n, nil
}

// countGrants counts the conversation grants s holds.
func countGrants(ctx context.Context, s Store) (int, error) {
	gs, err := s.ListGrants(ctx)
	return len(gs), err
}
