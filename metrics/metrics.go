package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
)

// Namespace prefixes every series this package exports.
const Namespace = "promptev_bridge"

// Histogram buckets, in seconds. Placeholders and first statuses are expected
// in milliseconds; runs and approval waits in seconds to minutes.
func fastBuckets() []float64 {
	return []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
}
func runBuckets() []float64  { return []float64{.25, .5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600} }
func waitBuckets() []float64 { return []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600} }

// Metrics is the Prometheus implementation of bridge.Metrics. Its methods are
// safe for concurrent use and never block.
type Metrics struct {
	reg *prometheus.Registry

	messages      *prometheus.CounterVec
	dedupe        *prometheus.CounterVec
	events        *prometheus.CounterVec
	runs          *prometheus.CounterVec
	runDuration   *prometheus.HistogramVec
	edits         *prometheus.CounterVec
	rateLimited   *prometheus.CounterVec
	invalid       *prometheus.CounterVec
	approvals     *prometheus.CounterVec
	feedback      *prometheus.CounterVec
	approvalWait  *prometheus.HistogramVec
	toPlaceholder *prometheus.HistogramVec
	toFirstStatus *prometheus.HistogramVec
	adapterReady  *prometheus.GaugeVec
	buildInfo     *prometheus.GaugeVec
	install       installMetrics
}

var (
	_ bridge.Metrics      = (*Metrics)(nil)
	_ chat.RequestCounter = (*Metrics)(nil)
)

// Options tune New.
type Options struct {
	// Version is exported as the version label of promptev_bridge_build_info.
	Version string
	// NoRuntimeCollectors leaves out the Go runtime and process collectors
	// (useful in tests that compare the whole exposition).
	NoRuntimeCollectors bool
}

// New creates the metrics on a new registry.
func New(opts Options) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		messages: counter("messages_received_total",
			"Inbound messages handed to the bridge, by platform.",
			"platform"),
		dedupe: counter("dedupe_hits_total",
			"Inbound messages dropped as duplicate deliveries, by platform.",
			"platform"),
		events: counter("agent_events_total",
			"Agent stream events, by platform and event type (unknown types are counted as \"other\").",
			"platform", "type"),
		runs: counter("runs_total",
			"Finished agent runs, by platform and outcome (done, error, approval, interrupted, cancelled, stopped, busy).",
			"platform", "outcome"),
		runDuration: histogram("run_duration_seconds",
			"Duration of agent runs, from the inbound message to the end of the run, by platform and outcome.",
			runBuckets(), "platform", "outcome"),
		edits: counter("edits_total",
			"Live edits by platform and result (sent, coalesced, dropped, failed).",
			"platform", "result"),
		rateLimited: counter("rate_limited_total",
			"HTTP 429 answers from the platform, by platform and operation (post, edit).",
			"platform", "op"),
		invalid: counter("invalid_requests_total",
			"Platform requests refused as invalid (HTTP 401, 403, 429), by platform, route and status. Discord bans an IP for an hour at 10,000 in 10 minutes.",
			"platform", "route", "status"),
		approvals: counter("approvals_total",
			"Approval decisions and refused clicks, by platform and outcome (approved, denied, expired, stopped, auto: approved by a conversation grant, unauthorized, duplicate).",
			"platform", "outcome"),
		feedback: counter("feedback_total",
			"Ratings of answers that changed the record (a first press or a changed one), by platform and value (up, down).",
			"platform", "value"),
		approvalWait: histogram("approval_wait_seconds",
			"Time from an approval card to its decision, by platform and outcome.",
			waitBuckets(), "platform", "outcome"),
		toPlaceholder: histogram("time_to_placeholder_seconds",
			"Time from receiving a message to posting its placeholder, by platform.",
			fastBuckets(), "platform"),
		toFirstStatus: histogram("time_to_first_status_seconds",
			"Time from receiving a message to its first status edit, by platform.",
			append(fastBuckets(), 10, 30), "platform"),
		adapterReady: gauge("adapter_ready",
			"1 when the platform adapter is connected, 0 otherwise (sampled on each scrape of /readyz or /metrics).",
			"platform"),
		buildInfo: gauge("build_info",
			"Always 1; the version label names the running build.",
			"version"),
	}
	reg.MustRegister(m.messages, m.dedupe, m.events, m.runs, m.runDuration, m.edits,
		m.rateLimited, m.invalid, m.approvals, m.feedback, m.approvalWait, m.toPlaceholder, m.toFirstStatus,
		m.adapterReady, m.buildInfo)
	if !opts.NoRuntimeCollectors {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	version := opts.Version
	if version == "" {
		version = "unknown"
	}
	m.buildInfo.WithLabelValues(version).Set(1)
	return m
}

// counter, histogram and gauge build the vectors of the bridge's series.
func counter(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
}

func histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
}

func gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
}

// Registry returns the registry the metrics are registered on, so callers
// may add collectors of their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// The label values the bridge counts, pre-created at zero by AddPlatform so
// that a dashboard or an alert sees 0, not "no data", before the first event.
var (
	eventTypes       = []string{promptev.EventThoughts, promptev.EventProcessing, promptev.EventApprovalRequired, promptev.EventDone, promptev.EventError, "other"}
	runOutcomes      = []string{"done", "error", "approval", "interrupted", "busy", "stopped"}
	editResults      = []string{"sent", "coalesced", "dropped", "failed"}
	rateLimitedOps   = []string{"post", "edit"}
	approvalOutcomes = []string{"approved", "denied", "expired", "stopped", "auto", "unauthorized", "duplicate", "unknown"}
)

// AddPlatform creates every counter series of platform at zero (and marks
// its adapter not ready), so each known label set is exported from the start.
func (m *Metrics) AddPlatform(platform string) {
	m.messages.WithLabelValues(platform)
	m.dedupe.WithLabelValues(platform)
	for _, t := range eventTypes {
		m.events.WithLabelValues(platform, t)
	}
	for _, o := range runOutcomes {
		m.runs.WithLabelValues(platform, o)
	}
	for _, r := range editResults {
		m.edits.WithLabelValues(platform, r)
	}
	for _, op := range rateLimitedOps {
		m.rateLimited.WithLabelValues(platform, op)
	}
	for _, o := range approvalOutcomes {
		m.approvals.WithLabelValues(platform, o)
	}
	for _, v := range []chat.FeedbackValue{chat.FeedbackUp, chat.FeedbackDown} {
		m.feedback.WithLabelValues(platform, string(v))
	}
	m.adapterReady.WithLabelValues(platform)
}

// SetAdapterReady records whether a platform's adapter is connected.
func (m *Metrics) SetAdapterReady(platform string, ready bool) {
	v := 0.0
	if ready {
		v = 1
	}
	m.adapterReady.WithLabelValues(platform).Set(v)
}

// MessageReceived implements bridge.Metrics.
func (m *Metrics) MessageReceived(platform string) { m.messages.WithLabelValues(platform).Inc() }

// DedupeHit implements bridge.Metrics.
func (m *Metrics) DedupeHit(platform string) { m.dedupe.WithLabelValues(platform).Inc() }

// AgentEvent implements bridge.Metrics. Event types the protocol does not
// define are counted as "other" so a misbehaving API cannot grow the label set.
func (m *Metrics) AgentEvent(platform, eventType string) {
	m.events.WithLabelValues(platform, eventLabel(eventType)).Inc()
}

// RunFinished implements bridge.Metrics.
func (m *Metrics) RunFinished(platform, outcome string, d time.Duration) {
	m.runs.WithLabelValues(platform, outcome).Inc()
	m.runDuration.WithLabelValues(platform, outcome).Observe(d.Seconds())
}

// Edit implements bridge.Metrics.
func (m *Metrics) Edit(platform, result string) { m.edits.WithLabelValues(platform, result).Inc() }

// RateLimited implements bridge.Metrics.
func (m *Metrics) RateLimited(platform, op string) { m.rateLimited.WithLabelValues(platform, op).Inc() }

// Feedback implements bridge.Metrics: a rating of an answer that changed
// the record.
func (m *Metrics) Feedback(platform, value string) {
	m.feedback.WithLabelValues(platform, value).Inc()
}

// InvalidRequest implements chat.RequestCounter.
func (m *Metrics) InvalidRequest(platform, route string, status int) {
	m.invalid.WithLabelValues(platform, route, strconv.Itoa(status)).Inc()
}

// Approval implements bridge.Metrics. The wait is observed only for decisions
// (approved, denied, expired), not for refused or repeated clicks.
func (m *Metrics) Approval(platform, outcome string, wait time.Duration) {
	m.approvals.WithLabelValues(platform, outcome).Inc()
	switch outcome {
	case string(chat.ApprovalApproved), string(chat.ApprovalDenied), string(chat.ApprovalExpired), string(chat.ApprovalStopped):
		m.approvalWait.WithLabelValues(platform, outcome).Observe(wait.Seconds())
	}
}

// TimeToPlaceholder implements bridge.Metrics.
func (m *Metrics) TimeToPlaceholder(platform string, d time.Duration) {
	m.toPlaceholder.WithLabelValues(platform).Observe(d.Seconds())
}

// TimeToFirstStatus implements bridge.Metrics.
func (m *Metrics) TimeToFirstStatus(platform string, d time.Duration) {
	m.toFirstStatus.WithLabelValues(platform).Observe(d.Seconds())
}

func eventLabel(t string) string {
	switch t {
	case promptev.EventThoughts, promptev.EventProcessing, promptev.EventApprovalRequired,
		promptev.EventDone, promptev.EventError:
		return t
	}
	return "other"
}
