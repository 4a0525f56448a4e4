package bolt

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"go.etcd.io/bbolt"
)

// Stats describes what a store file holds, for operators.
type Stats struct {
	// Path is the store file.
	Path string
	// FileSize is the file's size in bytes.
	FileSize int64
	// At is when the statistics were taken.
	At time.Time
	// Conversations is the number of conversation records.
	Conversations int
	// Approvals is the number of approval records, decided or not.
	Approvals int
	// PendingApprovals is the number of approvals still awaiting a decision.
	PendingApprovals int
	// NextApprovalExpiry is the earliest expiry among pending approvals
	// (zero when none is pending).
	NextApprovalExpiry time.Time
	// Runs is the number of in-flight runs.
	Runs int
	// OldestRun is the in-flight run that started first, nil when none.
	OldestRun *chat.InFlightRun
	// DedupeEntries is the number of marks in the dedupe ledger, expired or not.
	DedupeEntries int
	// DedupeExpired is how many of them had expired at At (awaiting a sweep).
	DedupeExpired int
	// Schema maps each record kind to its schema version in the file.
	Schema map[string]int
}

// Stats counts the records in every bucket and finds the oldest in-flight run.
// It walks the whole file in one read transaction (tens of milliseconds for
// 100,000 conversations); writers proceed meanwhile unless the file must grow.
func (s *Store) Stats() (Stats, error) {
	st := Stats{Path: s.path, At: time.Now()}
	info, err := os.Stat(s.path)
	if err != nil {
		return Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	st.FileSize = info.Size()
	at := unixNano(st.At)
	err = s.view(func(tx *bbolt.Tx) error {
		if st.Schema, err = readSchema(tx); err != nil {
			return err
		}
		st.Conversations = bucketConversations.in(tx).Stats().KeyN
		st.Approvals = bucketApprovals.in(tx).Stats().KeyN
		st.DedupeEntries = bucketDedupe.in(tx).Stats().KeyN

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
		return Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	return st, nil
}

// WriteStats writes st for a person to read (`promptev-bridge store stats`).
func WriteStats(w io.Writer, st Stats) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	p("file:\t%s (%s)", st.Path, byteSize(st.FileSize))
	p("conversations:\t%d", st.Conversations)
	pending := fmt.Sprintf("%d pending", st.PendingApprovals)
	if !st.NextApprovalExpiry.IsZero() {
		pending += ", next expiry " + st.NextApprovalExpiry.UTC().Format(time.RFC3339)
	}
	p("approvals:\t%d (%s)", st.Approvals, pending)
	p("in-flight runs:\t%d", st.Runs)
	if r := st.OldestRun; r != nil {
		age := ""
		if !st.At.IsZero() && !r.Started.IsZero() {
			age = fmt.Sprintf(" (%s ago)", st.At.Sub(r.Started).Round(time.Second))
		}
		p("oldest run:\t%s started %s%s, placeholder %s",
			r.Key, r.Started.UTC().Format(time.RFC3339), age, r.Placeholder.ID)
	} else {
		p("oldest run:\tnone")
	}
	p("dedupe entries:\t%d (%d expired, awaiting sweep)", st.DedupeEntries, st.DedupeExpired)
	kinds := make([]string, 0, len(st.Schema))
	for k := range st.Schema {
		kinds = append(kinds, k)
	}
	slices.SortFunc(kinds, cmp.Compare)
	schema := ""
	for i, k := range kinds {
		if i > 0 {
			schema += ", "
		}
		schema += fmt.Sprintf("%s v%d", k, st.Schema[k])
	}
	p("schema:\t%s", schema)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("store: write stats: %w", err)
	}
	return nil
}

// byteSize renders n bytes with a binary unit.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
