package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

const testSessionToken = "sess-tok-must-never-show"

// fileStore is an in-memory store that reports a location, a size and a
// schema, as a file-backed backend does: metrics renders whatever a
// backend's Stats returns, and imports no store package.
type fileStore struct{ *bridgetest.MemStore }

func (s fileStore) Path() string { return "/var/lib/pvb/bridge.db" }

func (s fileStore) Stats(ctx context.Context) (chat.StoreStats, error) {
	st, err := s.MemStore.Stats(ctx)
	if err != nil {
		return chat.StoreStats{}, err
	}
	st.Backend, st.LocationKind, st.Location, st.SizeBytes = "bbolt", "file", s.Path(), 32<<10
	st.Schema = map[string]int{"conversations": 1}
	return st, nil
}

// filledStore returns a store holding two conversations, one pending and one
// decided approval, one in-flight run started 90 s ago and three dedupe marks.
func filledStore(t *testing.T) fileStore {
	t.Helper()
	st := fileStore{bridgetest.NewMemStore()}
	ctx := context.Background()
	now := time.Now()
	keyA := chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: "C1", Thread: "1.2"}
	keyB := chat.ConversationKey{Platform: "discord", Workspace: "G1", Channel: "42"}
	for _, k := range []chat.ConversationKey{keyA, keyB} {
		require.NoError(t, st.PutConversation(ctx, chat.Conversation{
			Key: k, AgentID: "a", Mode: chat.ModeStream, SessionToken: testSessionToken,
			Visitor: "v", Created: now, LastActive: now,
		}))
	}
	require.NoError(t, st.PutApproval(ctx, chat.Approval{ID: "ap1", Key: keyA, State: chat.ApprovalPending,
		Created: now, Expires: now.Add(time.Hour)}))
	require.NoError(t, st.PutApproval(ctx, chat.Approval{ID: "ap2", Key: keyA, State: chat.ApprovalApproved,
		Created: now, Expires: now.Add(time.Hour)}))
	require.NoError(t, st.PutRun(ctx, chat.InFlightRun{Key: keyA,
		Placeholder: chat.MessageRef{Key: keyA, ID: "1.3"}, InboundID: "1.2", Started: now.Add(-90 * time.Second)}))
	_, err := st.SeenOrMark(ctx, []string{"ev1", "ev2", "ev3"}, 10*time.Minute, now)
	require.NoError(t, err)
	return st
}

func TestStoreGauges(t *testing.T) {
	st := filledStore(t)
	m := New(Options{NoRuntimeCollectors: true})
	require.NoError(t, m.RegisterStore(st.Stats, 0, nil))
	m.MessageReceived("slack")

	for series, want := range map[string]float64{
		"promptev_bridge_store_conversations":     2,
		"promptev_bridge_store_pending_approvals": 1,
		"promptev_bridge_store_inflight_runs":     1,
		"promptev_bridge_store_dedupe_entries":    3,
	} {
		assert.Contains(t, gather(t, m, series), series+" "+formatFloat(want), series)
	}
	age := gatherValue(t, m, "promptev_bridge_store_oldest_inflight_run_age_seconds")
	assert.InDelta(t, 90, age, 30)
	assert.Greater(t, gatherValue(t, m, "promptev_bridge_store_file_size_bytes"), 0.0)

	// The whole exposition still lints clean and serves the other series.
	problems, err := testutil.GatherAndLint(m.Registry())
	require.NoError(t, err)
	assert.Empty(t, problems)
}

func TestStoreGaugesEmptyStoreHasZeroRunAge(t *testing.T) {
	st := bridgetest.NewMemStore()
	m := New(Options{NoRuntimeCollectors: true})
	require.NoError(t, m.RegisterStore(st.Stats, -1, nil))
	assert.Equal(t, 0.0, gatherValue(t, m, "promptev_bridge_store_oldest_inflight_run_age_seconds"))
	assert.Equal(t, 0.0, gatherValue(t, m, "promptev_bridge_store_inflight_runs"))
}

func TestStoreGaugesCacheStats(t *testing.T) {
	var mu sync.Mutex
	calls, conversations := 0, 1
	fail := false
	stats := func(context.Context) (chat.StoreStats, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if fail {
			return chat.StoreStats{}, errors.New("boom")
		}
		return chat.StoreStats{Conversations: conversations}, nil
	}
	m := New(Options{NoRuntimeCollectors: true})
	c := newStoreCollector(stats, 5*time.Second, slog.New(slog.DiscardHandler))
	now := time.Unix(1_000_000, 0)
	c.now = func() time.Time { return now }
	require.NoError(t, m.reg.Register(c))
	m.MessageReceived("slack")

	assert.Equal(t, 1.0, gatherValue(t, m, "promptev_bridge_store_conversations"))
	conversations = 7
	now = now.Add(4 * time.Second)
	assert.Equal(t, 1.0, gatherValue(t, m, "promptev_bridge_store_conversations"), "reused within maxAge")
	assert.Equal(t, 1, calls)
	now = now.Add(2 * time.Second)
	assert.Equal(t, 7.0, gatherValue(t, m, "promptev_bridge_store_conversations"), "refreshed after maxAge")
	assert.Equal(t, 2, calls)

	// A failing Stats leaves the store series out; the rest is still served.
	fail = true
	now = now.Add(10 * time.Second)
	n, err := testutil.GatherAndCount(m.Registry(), "promptev_bridge_store_conversations")
	require.NoError(t, err)
	assert.Zero(t, n)
	n, err = testutil.GatherAndCount(m.Registry(), "promptev_bridge_messages_received_total")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

func TestStoreGaugesAfterClose(t *testing.T) {
	st := filledStore(t)
	m := New(Options{NoRuntimeCollectors: true})
	require.NoError(t, m.RegisterStore(st.Stats, -1, nil))
	require.NoError(t, st.Close())
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	assert.Equal(t, http.StatusOK, rec.Code, "a closed store does not fail the scrape")
	assert.NotContains(t, rec.Body.String(), "promptev_bridge_store_")
	assert.Contains(t, rec.Body.String(), "promptev_bridge_build_info")
}

func TestRegisterStoreTwiceFails(t *testing.T) {
	m := New(Options{NoRuntimeCollectors: true})
	stats := func(context.Context) (chat.StoreStats, error) { return chat.StoreStats{}, nil }
	require.NoError(t, m.RegisterStore(stats, 0, nil))
	assert.Error(t, m.RegisterStore(stats, 0, nil))
}

func TestDebugStore(t *testing.T) {
	st := filledStore(t)
	s := NewServer(ServerOptions{Metrics: New(Options{NoRuntimeCollectors: true}), StoreStats: st.Stats})
	get := func(target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		return rec
	}

	t.Run("text", func(t *testing.T) {
		rec := get("/debug/store")
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, "text/plain; charset=utf-8", rec.Header().Get("Content-Type"))
		body := rec.Body.String()
		assert.Regexp(t, `conversations:\s+2\n`, body)
		assert.Regexp(t, `approvals:\s+2 \(1 pending, next expiry `, body)
		assert.Regexp(t, `in-flight runs:\s+1\n`, body)
		assert.Regexp(t, `oldest run:\s+slack/T1/C1/1\.2 started .* ago\), placeholder 1\.3`, body)
		assert.Regexp(t, `dedupe entries:\s+3 \(0 expired`, body)
		assert.NotContains(t, body, testSessionToken)
	})
	t.Run("json", func(t *testing.T) {
		rec := get("/debug/store?format=json")
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
		assert.NotContains(t, rec.Body.String(), testSessionToken)
		var got StoreStatsJSON
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
		assert.Equal(t, "bbolt", got.Backend)
		assert.Equal(t, st.Path(), got.Path)
		assert.Equal(t, int64(32<<10), got.FileSizeBytes)
		assert.Equal(t, 2, got.Conversations)
		assert.Equal(t, 2, got.Approvals)
		assert.Equal(t, 1, got.PendingApprovals)
		assert.NotNil(t, got.NextApprovalExpiry)
		assert.Equal(t, 1, got.InFlightRuns)
		require.NotNil(t, got.OldestRun)
		assert.Equal(t, "slack/T1/C1/1.2", got.OldestRun.Conversation)
		assert.Equal(t, "1.3", got.OldestRun.Placeholder)
		assert.InDelta(t, 90, got.OldestRun.AgeSeconds, 30)
		assert.Equal(t, 3, got.DedupeEntries)
		assert.NotEmpty(t, got.Schema)
	})
	t.Run("unknown format", func(t *testing.T) {
		assert.Equal(t, http.StatusBadRequest, get("/debug/store?format=xml").Code)
	})
	t.Run("closed store", func(t *testing.T) {
		require.NoError(t, st.Close())
		rec := get("/debug/store")
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
		assert.Contains(t, rec.Body.String(), "closed")
	})
}

func TestDebugStoreOffWithoutStats(t *testing.T) {
	s := NewServer(ServerOptions{})
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/store", nil))
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

func TestStoreStatsJSONNoRun(t *testing.T) {
	got := NewStoreStatsJSON(chat.StoreStats{Backend: "bbolt", Location: "x.db"})
	b, err := json.Marshal(got)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"oldest_run":null`)
	assert.Contains(t, string(b), `"schema":{}`)
	assert.NotContains(t, string(b), "next_approval_expiry")
}

func gatherValue(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			require.Len(t, mf.GetMetric(), 1)
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("series %s not found", name)
	return 0
}

func formatFloat(v float64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// /debug/store and the gauges take any backend's statistics: here a store
// with no file at all.
func TestDebugStoreAnyBackend(t *testing.T) {
	st := bridgetest.NewMemStore()
	ctx := context.Background()
	require.NoError(t, st.PutConversation(ctx, chat.Conversation{Key: chat.ConversationKey{Platform: "chat", Channel: "C1"}, AgentID: "a", Mode: chat.ModeStream}))
	m := New(Options{NoRuntimeCollectors: true})
	require.NoError(t, m.RegisterStore(st.Stats, -1, nil))
	s := NewServer(ServerOptions{Metrics: m, StoreStats: st.Stats})

	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/store", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Regexp(t, `^backend:\s+memory \(0 B\)\n`, rec.Body.String())
	assert.Regexp(t, `conversations:\s+1\n`, rec.Body.String())

	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/store?format=json", nil))
	var got StoreStatsJSON
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	assert.Equal(t, "memory", got.Backend)
	assert.Equal(t, 1, got.Conversations)
	assert.Equal(t, 1.0, gatherValue(t, m, "promptev_bridge_store_conversations"))
}
