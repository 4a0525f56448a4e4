package slack

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/chat"
)

// recorder is a chat.Handler that records what the adapter hands over.
type recorder struct {
	mu      sync.Mutex
	changed chan struct{}
	msgs    []chat.InboundMessage
	acts    []chat.Action
	result  chat.ActionResult
	err     error
}

var _ chat.Handler = (*recorder)(nil)

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) HandleMessage(_ context.Context, m chat.InboundMessage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	close(r.changed)
	r.changed = make(chan struct{})
	return r.err
}

func (r *recorder) HandleAction(_ context.Context, a chat.Action) (chat.ActionResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acts = append(r.acts, a)
	close(r.changed)
	r.changed = make(chan struct{})
	return r.result, r.err
}

func (r *recorder) messages() []chat.InboundMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]chat.InboundMessage(nil), r.msgs...)
}

func (r *recorder) actions() []chat.Action {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]chat.Action(nil), r.acts...)
}

// waitMessages waits until at least n messages were handed over.
func (r *recorder) waitMessages(t *testing.T, n int) []chat.InboundMessage {
	t.Helper()
	r.wait(t, func() bool { return len(r.msgs) >= n })
	return r.messages()
}

func (r *recorder) waitActions(t *testing.T, n int) []chat.Action {
	t.Helper()
	r.wait(t, func() bool { return len(r.acts) >= n })
	return r.actions()
}

func (r *recorder) wait(t *testing.T, cond func() bool) {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		r.mu.Lock()
		ok, ch := cond(), r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timeout.C:
			t.Fatal("timed out waiting for the handler")
		}
	}
}

func testLogger(t *testing.T, extra io.Writer) *slog.Logger {
	var w io.Writer = t.Output()
	if extra != nil {
		w = io.MultiWriter(w, extra)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func fakeConfig(fake *slackfake.Server, mode string) Config {
	cfg := DefaultConfig()
	cfg.Enabled = true
	cfg.Mode = mode
	cfg.BotToken = slackfake.BotToken
	cfg.AppToken = slackfake.AppToken
	cfg.SigningSecret = slackfake.SigningSecret
	cfg.APIURL = fake.APIURL()
	cfg.Listen = "127.0.0.1:0"
	return cfg
}

// running is an adapter running in the background until the test ends.
type running struct {
	a    *Adapter
	done chan error
	stop context.CancelFunc
}

// start runs an adapter for cfg; the test ends it and checks Run returned nil.
func start(t *testing.T, cfg Config, h chat.Handler, log io.Writer) *running {
	t.Helper()
	a, err := New(cfg, testLogger(t, log))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{a: a, done: make(chan error, 1), stop: cancel}
	go func() { r.done <- a.Run(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-r.done)
	})
	return r
}

// startSocket runs a socket-mode adapter against fake and waits for its
// connections.
func startSocket(t *testing.T, fake *slackfake.Server, h chat.Handler) *running {
	t.Helper()
	return startSocketN(t, fake, h, DefaultSocketConnections)
}

// startSocketN is startSocket with n Socket Mode connections (1 keeps the
// envelopes of a test in order: with more, Slack, and the fake, spread them
// across connections).
func startSocketN(t *testing.T, fake *slackfake.Server, h chat.Handler, n int) *running {
	t.Helper()
	cfg := fakeConfig(fake, ModeSocket)
	cfg.SocketConnections = n
	r := start(t, cfg, h, nil)
	fake.Await(t, "every socket connection", func() bool { return r.a.HealthyConnections() == n })
	return r
}

// startHTTP runs an http-mode adapter against fake and returns its base URL.
func startHTTP(t *testing.T, fake *slackfake.Server, h chat.Handler, log io.Writer) (*running, string) {
	t.Helper()
	r := start(t, fakeConfig(fake, ModeHTTP), h, log)
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	select {
	case <-r.a.Listening():
	case <-deadline.C:
		t.Fatal("http listener did not start")
	}
	return r, "http://" + r.a.HTTPAddr().String()
}
