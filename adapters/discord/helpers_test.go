package discord

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/discord/discordfake"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

// Identities used across the tests.
const (
	testToken   = "test-token-SECRET-value"
	testGuild   = "1300000000000000001"
	testChannel = "1300000000000000002"
	testUser    = "1300000000000000003"
	otherUser   = "1300000000000000004"
	testDM      = "1300000000000000005"
)

// waitTimeout guards against hangs; it is never used to wait for an outcome.
const waitTimeout = 10 * time.Second

// dmKey is the conversation of the test user's DM with the bot.
var dmKey = chat.ConversationKey{Platform: "discord", Workspace: "dm", Channel: testDM}

// recordingHandler is a chat.Handler that records what the adapter hands over.
type recordingHandler struct {
	msgs chan chat.InboundMessage
	acts chan chat.Action

	mu     sync.Mutex
	result chat.ActionResult
	err    error
}

var _ chat.Handler = (*recordingHandler)(nil)

func newRecordingHandler() *recordingHandler {
	return &recordingHandler{msgs: make(chan chat.InboundMessage, 100), acts: make(chan chat.Action, 100)}
}

func (h *recordingHandler) HandleMessage(_ context.Context, m chat.InboundMessage) error {
	h.msgs <- m
	return nil
}

func (h *recordingHandler) HandleAction(_ context.Context, a chat.Action) (chat.ActionResult, error) {
	h.acts <- a
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.result, h.err
}

func (h *recordingHandler) setResult(r chat.ActionResult, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.result, h.err = r, err
}

func (h *recordingHandler) nextMessage(t *testing.T) chat.InboundMessage {
	t.Helper()
	select {
	case m := <-h.msgs:
		return m
	case <-time.After(waitTimeout):
		t.Fatal("no message reached the handler")
		return chat.InboundMessage{}
	}
}

func (h *recordingHandler) nextAction(t *testing.T) chat.Action {
	t.Helper()
	select {
	case a := <-h.acts:
		return a
	case <-time.After(waitTimeout):
		t.Fatal("no action reached the handler")
		return chat.Action{}
	}
}

// rig is an adapter running against a fresh fake.
type rig struct {
	fake *discordfake.Server
	a    *Adapter
	h    *recordingHandler
	logs *bridgetest.SyncBuffer
	done chan error
	stop context.CancelFunc
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Enabled = true
	cfg.Token = testToken
	cfg.SlashCommand.GuildIDs = []string{testGuild}
	return cfg
}

func newAdapter(t testing.TB, fake *discordfake.Server, cfg Config, logs *bridgetest.SyncBuffer, opts ...Option) *Adapter {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts = append([]Option{WithHTTPClient(fake.HTTPClient()), WithReconnectBackoff(10*time.Millisecond, 50*time.Millisecond)}, opts...)
	a, err := New(cfg, logger, opts...)
	require.NoError(t, err)
	return a
}

// startRig starts an adapter against a new fake and waits until the gateway
// session is up. mutate may change the config.
func startRig(t *testing.T, mutate func(*Config), opts ...Option) *rig {
	t.Helper()
	fake := discordfake.New()
	t.Cleanup(fake.Close)
	fake.AddChannel(discordfake.Channel{ID: testChannel, GuildID: testGuild, Name: "general", Type: discordfake.ChannelTypeGuildText})
	cfg := testConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	r := &rig{fake: fake, h: newRecordingHandler(), logs: &bridgetest.SyncBuffer{}, done: make(chan error, 1)}
	r.a = newAdapter(t, fake, cfg, r.logs, opts...)
	r.start(t)
	return r
}

func (r *rig) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() { r.done <- r.a.Run(ctx, r.h) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			require.NoError(t, err)
		case <-time.After(waitTimeout):
			t.Error("Run did not return after cancel")
		}
		require.NotContains(t, r.logs.String(), testToken, "the bot token reached the logs")
	})
	r.waitFor(t, func(s discordfake.Snapshot) bool { return s.Connections == 1 })
	require.Eventually(t, r.a.Ready, waitTimeout, time.Millisecond)
}

// waitFor waits until cond holds for the fake's snapshot.
func (r *rig) waitFor(t *testing.T, cond func(discordfake.Snapshot) bool) discordfake.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s, err := r.fake.Wait(ctx, cond)
	require.NoError(t, err, "fake did not reach the expected state")
	return s
}

// mention sends "@bot text" in the test channel and returns what the handler got.
func (r *rig) mention(t *testing.T, text string) chat.InboundMessage {
	t.Helper()
	_, err := r.fake.SendMessage(discordfake.UserMessage{GuildID: testGuild, ChannelID: testChannel,
		AuthorID: testUser, AuthorName: "ana", Content: text, MentionBot: true})
	require.NoError(t, err)
	return r.h.nextMessage(t)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// atomicTime is a settable clock for WithClock.
type atomicTime struct {
	mu sync.Mutex
	t  time.Time
}

func (c *atomicTime) get() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *atomicTime) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
