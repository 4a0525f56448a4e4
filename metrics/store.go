package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/promptev/promptev-bridge/chat"
)

// StoreStatsFunc returns what the open store holds; the Stats method of every
// store backend (store.Store) is one.
type StoreStatsFunc func(ctx context.Context) (chat.StoreStats, error)

// DefaultStoreStatsMaxAge is how long the store gauges reuse one walk of the
// store (RegisterStore): Stats walks every bucket (about 3 ms warm, 30 ms
// cold, for 100,000 conversations), so scrapes closer together than this
// share it.
const DefaultStoreStatsMaxAge = 5 * time.Second

// RegisterStore exports the store's record counts as gauges, read at scrape
// time from stats and reused for maxAge (zero means DefaultStoreStatsMaxAge;
// negative never reuses). When stats fails (for example once the store is
// closed at shutdown) the store series are left out of that scrape and the
// rest of /metrics is still served. logger receives unexpected failures; nil
// discards them.
func (m *Metrics) RegisterStore(stats StoreStatsFunc, maxAge time.Duration, logger *slog.Logger) error {
	if maxAge == 0 {
		maxAge = DefaultStoreStatsMaxAge
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := newStoreCollector(stats, maxAge, logger)
	if err := m.reg.Register(c); err != nil {
		return fmt.Errorf("metrics: register store collector: %w", err)
	}
	return nil
}

// storeCollector is a prometheus.Collector over a cached StoreStatsFunc.
type storeCollector struct {
	stats  StoreStatsFunc
	maxAge time.Duration
	log    *slog.Logger
	now    func() time.Time

	conversations, pendingApprovals, runs, dedupe, oldestRunAge, fileSize *prometheus.Desc

	mu      sync.Mutex
	cached  chat.StoreStats
	err     error
	fetched time.Time // zero: nothing cached
}

func newStoreCollector(stats StoreStatsFunc, maxAge time.Duration, logger *slog.Logger) *storeCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "store", name), help, nil, nil)
	}
	return &storeCollector{
		stats: stats, maxAge: maxAge, log: logger, now: time.Now,
		conversations:    desc("conversations", "Conversation records in the store."),
		pendingApprovals: desc("pending_approvals", "Approvals in the store still awaiting a decision."),
		runs:             desc("inflight_runs", "Runs recorded as in flight in the store."),
		dedupe:           desc("dedupe_entries", "Marks in the store's dedupe ledger, expired or not."),
		oldestRunAge:     desc("oldest_inflight_run_age_seconds", "Age of the oldest in-flight run; 0 when none is in flight."),
		fileSize:         desc("file_size_bytes", "Storage the store's records take: the store file's size."),
	}
}

// Describe implements prometheus.Collector.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conversations, c.pendingApprovals, c.runs, c.dedupe, c.oldestRunAge, c.fileSize} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.get()
	if err != nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(c.conversations, float64(st.Conversations))
	gauge(c.pendingApprovals, float64(st.PendingApprovals))
	gauge(c.runs, float64(st.Runs))
	gauge(c.dedupe, float64(st.DedupeEntries))
	age := 0.0
	if r := st.OldestRun; r != nil && !r.Started.IsZero() {
		age = max(c.now().Sub(r.Started).Seconds(), 0)
	}
	gauge(c.oldestRunAge, age)
	gauge(c.fileSize, float64(st.SizeBytes))
}

// get returns the cached statistics, refreshing them when older than maxAge.
// Concurrent scrapes wait for one walk instead of each walking the store.
func (c *storeCollector) get() (chat.StoreStats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !c.fetched.IsZero() && c.maxAge > 0 && now.Sub(c.fetched) < c.maxAge {
		return c.cached, c.err
	}
	c.cached, c.err = c.stats(context.Background())
	c.fetched = now
	if c.err != nil && !errors.Is(c.err, chat.ErrClosed) {
		c.log.Warn("store gauges left out of the scrape", "err", c.err)
	}
	return c.cached, c.err
}

// StoreStatsJSON is the JSON form of chat.StoreStats served by
// /debug/store?format=json and printed by `store stats --json`. Like
// WriteStoreStats it carries counts, times and conversation keys only: never
// a session token or a message text.
type StoreStatsJSON struct {
	// Backend names the store backend ("bbolt").
	Backend string `json:"backend"`
	// Path is where the records live (chat.StoreStats.Location): the
	// store file for bbolt.
	Path string `json:"path"`
	// FileSizeBytes is the storage the records take (SizeBytes).
	FileSizeBytes      int64          `json:"file_size_bytes"`
	At                 time.Time      `json:"at"`
	Conversations      int            `json:"conversations"`
	Approvals          int            `json:"approvals"`
	PendingApprovals   int            `json:"pending_approvals"`
	NextApprovalExpiry *time.Time     `json:"next_approval_expiry,omitempty"`
	InFlightRuns       int            `json:"in_flight_runs"`
	OldestRun          *OldestRunJSON `json:"oldest_run"`
	RunRecords         int            `json:"run_records"`
	Grants             int            `json:"grants"`
	// Installations counts the app installations (never their tokens);
	// BrokenInstallations those whose token the platform refused.
	Installations       int            `json:"installations"`
	BrokenInstallations int            `json:"broken_installations"`
	DedupeEntries       int            `json:"dedupe_entries"`
	DedupeExpired       int            `json:"dedupe_expired"`
	Schema              map[string]int `json:"schema"`
}

// OldestRunJSON is the oldest in-flight run in StoreStatsJSON.
type OldestRunJSON struct {
	// Conversation is the conversation key ("platform/workspace/channel/thread").
	Conversation string    `json:"conversation"`
	Started      time.Time `json:"started"`
	// AgeSeconds is the run's age when the statistics were taken.
	AgeSeconds float64 `json:"age_seconds"`
	// Placeholder is the platform id of the run's placeholder message.
	Placeholder string `json:"placeholder"`
}

// NewStoreStatsJSON converts st to its JSON form.
func NewStoreStatsJSON(st chat.StoreStats) StoreStatsJSON {
	out := StoreStatsJSON{
		Backend: st.Backend, Path: st.Location, FileSizeBytes: st.SizeBytes, At: st.At.UTC(),
		Conversations: st.Conversations, Approvals: st.Approvals, PendingApprovals: st.PendingApprovals,
		InFlightRuns: st.Runs, RunRecords: st.RunRecords, Grants: st.Grants,
		Installations: st.Installations, BrokenInstallations: st.BrokenInstallations,
		DedupeEntries: st.DedupeEntries, DedupeExpired: st.DedupeExpired,
		Schema: st.Schema,
	}
	if out.Schema == nil {
		out.Schema = map[string]int{}
	}
	if !st.NextApprovalExpiry.IsZero() {
		t := st.NextApprovalExpiry.UTC()
		out.NextApprovalExpiry = &t
	}
	if r := st.OldestRun; r != nil {
		o := &OldestRunJSON{Conversation: r.Key.String(), Started: r.Started.UTC(), Placeholder: r.Placeholder.ID}
		if !st.At.IsZero() && !r.Started.IsZero() {
			o.AgeSeconds = max(st.At.Sub(r.Started).Seconds(), 0)
		}
		out.OldestRun = o
	}
	return out
}

// WriteStoreStatsJSON writes st as indented JSON (StoreStatsJSON).
func WriteStoreStatsJSON(w io.Writer, st chat.StoreStats) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(NewStoreStatsJSON(st)); err != nil {
		return fmt.Errorf("metrics: write store stats: %w", err)
	}
	return nil
}

// debugStore serves GET /debug/store: the open store's statistics, fresh on
// every request, as text (WriteStoreStats) or, with ?format=json, as JSON.
func (s *Server) debugStore(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	format := r.URL.Query().Get("format")
	if format != "" && format != "text" && format != "json" {
		http.Error(w, fmt.Sprintf("unknown format %q: use text or json", format), http.StatusBadRequest)
		return
	}
	st, err := s.opts.StoreStats(r.Context())
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, chat.ErrClosed) {
			code = http.StatusServiceUnavailable
		} else {
			s.opts.Logger.Warn("store stats failed", "err", err)
		}
		http.Error(w, err.Error(), code)
		return
	}
	if format == "json" {
		w.Header().Set("Content-Type", "application/json")
		_ = WriteStoreStatsJSON(w, st)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_ = WriteStoreStats(w, st)
}
