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
	// Feedback counts the ratings of answers copied.
	Feedback int
}

// Copy copies every conversation, approval (pending or decided) and
// in-flight run of from into to, for moving a deployment to another backend
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
	if !force && (before.Conversations > 0 || before.Approvals > 0 || before.Runs > 0) {
		return n, fmt.Errorf("store: copy: the target is not empty (%d conversations, %d approvals, %d in-flight runs): "+
			"copy into an empty store, or give --force to replace records of the same keys",
			before.Conversations, before.Approvals, before.Runs)
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
	after, err := to.Stats(ctx)
	if err != nil {
		return n, fmt.Errorf("store: copy: target: %w", err)
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
