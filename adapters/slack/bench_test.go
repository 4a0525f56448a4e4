package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack"
	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// dedupeHandler does what the bridge does first with a message: one dedupe
// check of both keys (event_id and channel+ts) against a Store, then counts it.
type dedupeHandler struct {
	store *bridgetest.MemStore
	done  atomic.Int64
	fresh atomic.Int64
	all   chan struct{}
	want  int64
}

func (h *dedupeHandler) HandleMessage(ctx context.Context, m chat.InboundMessage) error {
	now := time.Now()
	seen, err := h.store.SeenOrMark(ctx, []string{"slack:ev:" + m.EventID, "slack:ts:" + m.Key.Channel + ":" + m.MessageID}, 15*time.Minute, now)
	if err != nil {
		return err
	}
	if !seen {
		h.fresh.Add(1)
	}
	if h.done.Add(1) == h.want {
		close(h.all)
	}
	return nil
}

func (h *dedupeHandler) HandleAction(context.Context, chat.Action) (chat.ActionResult, error) {
	return chat.ActionResult{}, nil
}

// envelopes pre-builds n Socket Mode envelopes: distinct mentions, each
// followed by its message twin (so half the deliveries are duplicates).
func envelopes(fake *slackfake.Server, n int) [][]byte {
	out := make([][]byte, 0, n)
	for i := 0; len(out) < n; i++ {
		ev := fake.Mention(fmt.Sprintf("C%d", i%50), "U1", "benchmark event")
		for _, e := range []slackfake.Event{ev, fake.Twin(ev)} {
			if len(out) == n {
				break
			}
			data, err := json.Marshal(slackfake.Envelope{
				EnvelopeID: fmt.Sprintf("env-%d-%s", i, e.EventID), Type: "events_api", Payload: fake.EventBody(e),
			})
			if err != nil {
				panic(err)
			}
			out = append(out, data)
		}
	}
	return out
}

func runSocketAdapter(b *testing.B, fake *slackfake.Server, h chat.Handler) func() {
	cfg := slack.DefaultConfig()
	cfg.Enabled = true
	cfg.BotToken, cfg.AppToken, cfg.APIURL = slackfake.BotToken, slackfake.AppToken, fake.APIURL()
	a, err := slack.New(cfg, slog.New(slog.DiscardHandler))
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, h) }()
	fake.Await(b, "socket connection", fake.Connected)
	return func() {
		cancel()
		require.NoError(b, <-done)
	}
}

// BenchmarkSocketModeEvents measures events per second from the Socket Mode
// WebSocket to the handler: slack-go's read and parse, the adapter's ack and
// translation, and the two dedupe checks against the in-memory store.
func BenchmarkSocketModeEvents(b *testing.B) {
	fake := slackfake.New(b)
	h := &dedupeHandler{store: bridgetest.NewMemStore(), all: make(chan struct{}), want: int64(b.N)}
	stop := runSocketAdapter(b, fake, h)
	defer stop()
	frames := envelopes(fake, b.N)

	b.ResetTimer()
	start := time.Now()
	for _, f := range frames {
		if err := fake.SendRaw(f); err != nil {
			b.Fatal(err)
		}
	}
	<-h.all
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(elapsed.Microseconds())/float64(b.N), "µs/event")
	require.Equal(b, int64((b.N+1)/2), h.fresh.Load(), "each twin is caught by the (channel, ts) dedupe")
}

// countingMetrics counts the bridge's dedupe hits and closes all at the
// expected number.
type countingMetrics struct {
	bridge.NopMetrics
	dupes atomic.Int64
	all   chan struct{}
	want  int64
}

func newCountingMetrics(wantDupes int64) *countingMetrics {
	m := &countingMetrics{all: make(chan struct{}), want: wantDupes}
	if wantDupes == 0 {
		close(m.all)
	}
	return m
}

func (m *countingMetrics) DedupeHit(string) {
	if m.dupes.Add(1) == m.want {
		close(m.all)
	}
}

// BenchmarkSocketModeEventsBridge measures a retry storm through the whole
// bridge: one mention delivered b.N times (Slack retries and message twins)
// over Socket Mode; the first starts a run, the rest are dedupe hits. The
// clock stops at the last dedupe hit.
func BenchmarkSocketModeEventsBridge(b *testing.B) {
	fake := slackfake.New(b)
	api := promptevtest.NewServer(projectKey)
	defer api.Close()
	api.AddAgent(agentID, promptevtest.Agent{})
	client, err := promptev.New(projectKey, promptev.WithBaseURL(api.URL))
	require.NoError(b, err)

	cfg := slack.DefaultConfig()
	cfg.Enabled = true
	cfg.BotToken, cfg.AppToken, cfg.APIURL = slackfake.BotToken, slackfake.AppToken, fake.APIURL()
	a, err := slack.New(cfg, slog.New(slog.DiscardHandler))
	require.NoError(b, err)
	metrics := newCountingMetrics(int64(b.N - 1))
	bcfg := bridge.DefaultConfig()
	bcfg.Routes.Default.Agent = agentID
	br, err := bridge.New(bridge.Options{Config: bcfg, Agent: bridge.ClientAgent(client), Store: bridgetest.NewMemStore(),
		Platforms: []chat.Platform{a}, Metrics: metrics})
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	bDone, aDone := make(chan error, 1), make(chan error, 1)
	go func() { bDone <- br.Run(ctx) }()
	go func() { aDone <- a.Run(ctx, br) }()
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = br.Shutdown(sctx)
		cancel()
		require.NoError(b, <-aDone)
		require.NoError(b, <-bDone)
	}()
	fake.Await(b, "socket connection", fake.Connected)

	ev := fake.Mention("C1", "U1", "storm")
	twin := fake.Twin(ev)
	frames := make([][]byte, b.N)
	for i := range frames {
		e := ev
		if i%5 == 4 {
			e = twin
		}
		data, err := json.Marshal(slackfake.Envelope{EnvelopeID: fmt.Sprintf("env-%d", i), Type: "events_api",
			Payload: fake.EventBody(e), RetryAttempt: min(i%5, 3)})
		require.NoError(b, err)
		frames[i] = data
	}

	b.ResetTimer()
	start := time.Now()
	for _, f := range frames {
		if err := fake.SendRaw(f); err != nil {
			b.Fatal(err)
		}
	}
	<-metrics.all
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(elapsed.Microseconds())/float64(b.N), "µs/event")
	fake.Await(b, "the single run's answer", func() bool { return len(fake.Thread("C1", ev.TS)) == 1 })
	require.Equal(b, int64(b.N-1), metrics.dupes.Load(), "every redelivery was a dedupe hit")
}
