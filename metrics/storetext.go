package metrics

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// WriteStoreStats writes st for a person to read: `promptev-bridge store
// stats` and /debug/store print it, for every backend. Like StoreStatsJSON it
// carries counts, times and conversation keys only.
func WriteStoreStats(w io.Writer, st chat.StoreStats) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	// The first line names where the records live ("file: PATH"), or the
	// backend when it has no location.
	kind, loc := st.LocationKind, st.Location
	if kind == "" {
		kind, loc = "backend", st.Backend
	}
	p("%s:\t%s (%s)", kind, loc, byteSize(st.SizeBytes))
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
	p("run records:\t%d", st.RunRecords)
	p("grants:\t%d", st.Grants)
	p("installations:\t%d (%d broken)", st.Installations, st.BrokenInstallations)
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
		return fmt.Errorf("metrics: write store stats: %w", err)
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
