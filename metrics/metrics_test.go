package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetricsSeries(t *testing.T) {
	tests := []struct {
		name   string
		record func(m *Metrics)
		series string
		want   string
	}{
		{
			name:   "messages received",
			record: func(m *Metrics) { m.MessageReceived("slack"); m.MessageReceived("slack") },
			series: "promptev_bridge_messages_received_total",
			want:   `promptev_bridge_messages_received_total{platform="slack"} 2`,
		},
		{
			name:   "dedupe hits",
			record: func(m *Metrics) { m.DedupeHit("discord") },
			series: "promptev_bridge_dedupe_hits_total",
			want:   `promptev_bridge_dedupe_hits_total{platform="discord"} 1`,
		},
		{
			name:   "known event type",
			record: func(m *Metrics) { m.AgentEvent("slack", "processing") },
			series: "promptev_bridge_agent_events_total",
			want:   `promptev_bridge_agent_events_total{platform="slack",type="processing"} 1`,
		},
		{
			name:   "unknown event types are folded into other",
			record: func(m *Metrics) { m.AgentEvent("slack", "x-1"); m.AgentEvent("slack", "x-2") },
			series: "promptev_bridge_agent_events_total",
			want:   `promptev_bridge_agent_events_total{platform="slack",type="other"} 2`,
		},
		{
			name:   "runs by outcome",
			record: func(m *Metrics) { m.RunFinished("console", "done", 3*time.Second) },
			series: "promptev_bridge_runs_total",
			want:   `promptev_bridge_runs_total{outcome="done",platform="console"} 1`,
		},
		{
			name:   "run duration histogram",
			record: func(m *Metrics) { m.RunFinished("console", "done", 3*time.Second) },
			series: "promptev_bridge_run_duration_seconds",
			want:   `promptev_bridge_run_duration_seconds_sum{outcome="done",platform="console"} 3`,
		},
		{
			name:   "edits by result",
			record: func(m *Metrics) { m.Edit("slack", "coalesced") },
			series: "promptev_bridge_edits_total",
			want:   `promptev_bridge_edits_total{platform="slack",result="coalesced"} 1`,
		},
		{
			name:   "rate limited",
			record: func(m *Metrics) { m.RateLimited("discord", "edit") },
			series: "promptev_bridge_rate_limited_total",
			want:   `promptev_bridge_rate_limited_total{op="edit",platform="discord"} 1`,
		},
		{
			name:   "invalid requests by route and status",
			record: func(m *Metrics) { m.InvalidRequest("discord", "POST /channels/{id}/messages", 429) },
			series: "promptev_bridge_invalid_requests_total",
			want:   `promptev_bridge_invalid_requests_total{platform="discord",route="POST /channels/{id}/messages",status="429"} 1`,
		},
		{
			name:   "approvals by outcome with wait",
			record: func(m *Metrics) { m.Approval("slack", "approved", 90*time.Second) },
			series: "promptev_bridge_approval_wait_seconds",
			want:   `promptev_bridge_approval_wait_seconds_sum{outcome="approved",platform="slack"} 90`,
		},
		{
			name:   "refused clicks are counted but not observed",
			record: func(m *Metrics) { m.Approval("slack", "unauthorized", time.Second) },
			series: "promptev_bridge_approvals_total",
			want:   `promptev_bridge_approvals_total{outcome="unauthorized",platform="slack"} 1`,
		},
		{
			name:   "feedback by value",
			record: func(m *Metrics) { m.Feedback("slack", "down") },
			series: "promptev_bridge_feedback_total",
			want:   `promptev_bridge_feedback_total{platform="slack",value="down"} 1`,
		},
		{
			name:   "time to placeholder",
			record: func(m *Metrics) { m.TimeToPlaceholder("slack", 4*time.Millisecond) },
			series: "promptev_bridge_time_to_placeholder_seconds",
			want:   `promptev_bridge_time_to_placeholder_seconds_bucket{platform="slack",le="0.005"} 1`,
		},
		{
			name:   "time to first status",
			record: func(m *Metrics) { m.TimeToFirstStatus("discord", 2*time.Second) },
			series: "promptev_bridge_time_to_first_status_seconds",
			want:   `promptev_bridge_time_to_first_status_seconds_count{platform="discord"} 1`,
		},
		{
			name:   "adapter ready gauge",
			record: func(m *Metrics) { m.SetAdapterReady("slack", true); m.SetAdapterReady("discord", false) },
			series: "promptev_bridge_adapter_ready",
			want:   `promptev_bridge_adapter_ready{platform="slack"} 1`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(Options{Version: "test", NoRuntimeCollectors: true})
			tt.record(m)
			text := gather(t, m, tt.series)
			assert.Contains(t, text, tt.want)
		})
	}
}

func TestRefusedClickHasNoWaitObservation(t *testing.T) {
	m := New(Options{NoRuntimeCollectors: true})
	m.Approval("slack", "duplicate", time.Minute)
	assert.Equal(t, 0, testutil.CollectAndCount(m.approvalWait))
	assert.Equal(t, 1, testutil.CollectAndCount(m.approvals))
}

func TestBuildInfoAndOwnRegistry(t *testing.T) {
	a := New(Options{Version: "v1.2.3"})
	b := New(Options{}) // a second instance must not collide: no global registry
	assert.Contains(t, gather(t, a, "promptev_bridge_build_info"), `promptev_bridge_build_info{version="v1.2.3"} 1`)
	assert.Contains(t, gather(t, b, "promptev_bridge_build_info"), `version="unknown"`)
	n, err := testutil.GatherAndCount(a.Registry(), "go_goroutines")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "runtime collectors are registered by default")
}

func gather(t *testing.T, m *Metrics, name string) string {
	t.Helper()
	mfs, err := m.Registry().Gather()
	require.NoError(t, err)
	var b strings.Builder
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		require.NoError(t, writeText(&b, mf))
	}
	return b.String()
}

// TestAddPlatformPrecreatesSeries checks that every counter a dashboard or
// alert reads exists at zero before its first event.
func TestAddPlatformPrecreatesSeries(t *testing.T) {
	m := New(Options{NoRuntimeCollectors: true})
	m.AddPlatform("chat")
	tests := []struct {
		series string
		want   []string
	}{
		{"promptev_bridge_messages_received_total", []string{`{platform="chat"} 0`}},
		{"promptev_bridge_rate_limited_total", []string{`{op="edit",platform="chat"} 0`, `{op="post",platform="chat"} 0`}},
		{"promptev_bridge_approvals_total", []string{`{outcome="approved",platform="chat"} 0`, `{outcome="unauthorized",platform="chat"} 0`, `{outcome="unknown",platform="chat"} 0`}},
		{"promptev_bridge_runs_total", []string{`{outcome="error",platform="chat"} 0`, `{outcome="busy",platform="chat"} 0`, `{outcome="stopped",platform="chat"} 0`}},
		{"promptev_bridge_approvals_total", []string{`{outcome="stopped",platform="chat"} 0`, `{outcome="auto",platform="chat"} 0`}},
		{"promptev_bridge_edits_total", []string{`{platform="chat",result="failed"} 0`}},
		{"promptev_bridge_agent_events_total", []string{`{platform="chat",type="other"} 0`}},
		{"promptev_bridge_adapter_ready", []string{`{platform="chat"} 0`}},
		{"promptev_bridge_feedback_total", []string{`{platform="chat",value="up"} 0`, `{platform="chat",value="down"} 0`}},
	}
	for _, tc := range tests {
		t.Run(tc.series, func(t *testing.T) {
			text := gather(t, m, tc.series)
			for _, w := range tc.want {
				assert.Contains(t, text, tc.series+w)
			}
		})
	}
	m.RateLimited("chat", "post")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.rateLimited.WithLabelValues("chat", "post")), "a pre-created series counts on")
}
