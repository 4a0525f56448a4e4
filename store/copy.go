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
	// Installations counts the app installations copied (tokens sealed as
	// they were: the target needs the same slack.oauth.token_key).
	Installations int
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
	if held := counted(before); !force && held != (Copied{}) {
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
		Installation: func(in chat.Installation) error {
			n.Installations++
			return to.PutInstallation(ctx, in)
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
	read := n
	read.Feedback = 0 // Stats does not count ratings
	if now := counted(src); now != read {
		return n, fmt.Errorf("store: copy: the source changed during the copy (read %s, it now holds %s): "+
			"stop every bridge that uses it and copy again", read, now)
	}
	after, err := to.Stats(ctx)
	if err != nil {
		return n, fmt.Errorf("store: copy: target: %w", err)
	}
	held := counted(after)
	if held != read && (!force || !held.atLeast(read)) {
		return n, fmt.Errorf("store: copy: the target holds %s after copying %s", held, read)
	}
	return n, nil
}

// counted is the part of st that Copy checks.
func counted(st chat.StoreStats) Copied {
	return Copied{Conversations: st.Conversations, Approvals: st.Approvals, Runs: st.Runs,
		RunRecords: st.RunRecords, Grants: st.Grants, Installations: st.Installations}
}

// atLeast reports whether c holds at least as many records of each kind as o.
func (c Copied) atLeast(o Copied) bool {
	return c.Conversations >= o.Conversations && c.Approvals >= o.Approvals && c.Runs >= o.Runs &&
		c.RunRecords >= o.RunRecords && c.Grants >= o.Grants && c.Feedback >= o.Feedback &&
		c.Installations >= o.Installations
}

// String renders the counts for messages.
func (c Copied) String() string {
	s := fmt.Sprintf("%d conversations, %d approvals, %d in-flight runs", c.Conversations, c.Approvals, c.Runs)
	if c.RunRecords > 0 {
		s += fmt.Sprintf(", %d run records", c.RunRecords)
	}
	if c.Grants > 0 {
		s += fmt.Sprintf(", %d grants", c.Grants)
	}
	if c.Installations > 0 {
		s += fmt.Sprintf(", %d installations", c.Installations)
	}
	return s
}
