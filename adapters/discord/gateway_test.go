package discord

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/discord/discordfake"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

func TestGatewayHandshake(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	s := r.waitFor(t, func(s discordfake.Snapshot) bool { return len(s.Commands) == 1 })

	require.Len(t, s.Identifies, 1)
	assert.Equal(t, "Bot "+testToken, s.Identifies[0].Token)
	// Guilds (1<<0) | GuildMessages (1<<9) | DirectMessages (1<<12) |
	// MessageContent (1<<15): the literal value, not the package's constant,
	// so a wrong constant cannot pass.
	assert.Equal(t, int64(37377), s.Identifies[0].Intents)
	assert.Nil(t, s.Identifies[0].Shard, "no shard sent for a single shard")
	assert.Equal(t, discordfake.BotID, r.a.BotUserID())
	assert.Equal(t, discordfake.AppID, r.a.ApplicationID())

	cmd := s.Commands[0]
	assert.Equal(t, "ask", cmd.Name)
	assert.Equal(t, testGuild, cmd.GuildID)
	assert.Equal(t, discordfake.AppID, cmd.ApplicationID)
	assert.Contains(t, string(cmd.Options), `"question"`)
	assert.Nil(t, cmd.Contexts, "a guild command carries no contexts (documented for global commands only)")
	assert.Contains(t, r.logs.String(), "client_id="+discordfake.AppID, "the invite URL is printed")
}

func TestGatewayThroughAPIURL(t *testing.T) {
	t.Parallel()
	// No rewriting client: api_url alone sends REST (and gateway discovery)
	// to the fake.
	fake := discordfake.New()
	t.Cleanup(fake.Close)
	cfg := testConfig()
	cfg.APIURL = fake.APIURL()
	cfg.SlashCommand.GuildIDs = nil
	cfg.ShardID, cfg.ShardCount = 1, 2
	logs := &bridgetest.SyncBuffer{}
	// A custom dialer (here: every gateway host goes to the fake) is wrapped, not replaced.
	a, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)), WithHTTPClient(&http.Client{}), WithDialer(fake.Dialer()))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, newRecordingHandler()) }()

	wctx, wcancel := context.WithTimeout(context.Background(), waitTimeout)
	defer wcancel()
	s, err := fake.Wait(wctx, func(s discordfake.Snapshot) bool { return s.Connections == 1 && len(s.Commands) == 1 })
	require.NoError(t, err)
	require.NotNil(t, s.Identifies[0].Shard)
	assert.Equal(t, [2]int{1, 2}, *s.Identifies[0].Shard)
	assert.Empty(t, s.Commands[0].GuildID, "no guilds configured: registered globally")
	assert.JSONEq(t, `[0, 1]`, string(s.Commands[0].Contexts), "a global command is usable in guilds and bot DMs")

	cancel()
	require.NoError(t, <-done)
	assert.False(t, a.Ready())
}

func TestFatalCloseCodesStopRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code int
		want string
	}{
		{CloseAuthenticationFailed, "discord.token"},
		{CloseDisallowedIntents, "Message Content intent"},
		{CloseInvalidShard, "shard_id"},
		{CloseShardingRequired, "discord.shards: auto"},
		{CloseInvalidIntents, "invalid intents"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			t.Parallel()
			fake := discordfake.New()
			t.Cleanup(fake.Close)
			fake.RejectIdentify(tt.code)
			logs := &bridgetest.SyncBuffer{}
			a := newAdapter(t, fake, testConfig(), logs)
			h := newRecordingHandler()

			done := make(chan error, 1)
			go func() { done <- a.Run(context.Background(), h) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(waitTimeout):
				t.Fatal("Run kept reconnecting after a fatal close code")
			}
			var ce *GatewayCloseError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tt.code, ce.Code)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), testToken)
			assert.NotContains(t, logs.String(), testToken)
			assert.False(t, a.Ready())
			assert.Len(t, fake.Snapshot().Identifies, 1, "no retry after a fatal code")
		})
	}
}

func TestFatalCloseAfterConnectedStopsRun(t *testing.T) {
	t.Parallel()
	// The token is revoked while connected: the resume is refused with 4004.
	r := startRig(t, nil)
	r.fake.RejectIdentify(CloseAuthenticationFailed)
	r.fake.CloseGateway(4000)
	select {
	case err := <-r.done:
		var ce *GatewayCloseError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, CloseAuthenticationFailed, ce.Code)
		r.done <- nil // for the rig's cleanup
	case <-time.After(waitTimeout):
		t.Fatal("Run did not stop")
	}
}

func TestDisconnectResumes(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	r.fake.RequireResumeURL(true)
	r.fake.CloseGateway(4000)
	r.waitFor(t, func(s discordfake.Snapshot) bool { return s.Resumes >= 1 && s.Connections == 1 })
	require.Eventually(t, r.a.Ready, waitTimeout, time.Millisecond)

	in := r.mention(t, "still there?")
	assert.Equal(t, "still there?", in.Text)
	s := r.fake.Snapshot()
	assert.Len(t, s.Identifies, 1, "resumed on resume_gateway_url, not re-identified")
	assert.Zero(t, s.InvalidSessions)
}

func TestRunRejectsSecondCallAndNilHandler(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	err := r.a.Run(context.Background(), r.h)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "already running")
	assert.Error(t, r.a.Run(context.Background(), nil))
}

func TestRunStopsWhileServerUnreachable(t *testing.T) {
	t.Parallel()
	fake := discordfake.New()
	fake.Close() // nothing listens any more
	a := newAdapter(t, fake, testConfig(), &bridgetest.SyncBuffer{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, newRecordingHandler()) }()
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(waitTimeout):
		t.Fatal("Run did not stop")
	}
}

func TestFatalCloseClassification(t *testing.T) {
	t.Parallel()
	assert.Nil(t, fatalClose(errors.New("boom")))
	assert.Nil(t, fatalClose(nil))
	for _, code := range []int{4000, 4001, 4007, 4009, 1000, 1006} {
		assert.Nil(t, fatalClose(&websocket.CloseError{Code: code}), "code %d resumes", code)
	}
	for _, code := range []int{4004, 4010, 4011, 4012, 4013, 4014} {
		require.NotNil(t, fatalClose(&websocket.CloseError{Code: code}), "code %d is fatal", code)
	}
	var _ chat.Adapter = (*Adapter)(nil)
}

func TestRunStopsDuringStalledGatewayDiscovery(t *testing.T) {
	t.Parallel()
	stalled := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case stalled <- struct{}{}:
		default:
		}
		<-r.Context().Done() // never answers
	}))
	t.Cleanup(srv.Close)
	cfg := testConfig()
	cfg.APIURL = srv.URL + "/api/v9"
	a, err := New(cfg, slog.New(slog.DiscardHandler), WithHTTPClient(&http.Client{Timeout: time.Hour}))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, newRecordingHandler()) }()
	select {
	case <-stalled:
	case <-time.After(waitTimeout):
		t.Fatal("gateway discovery never started")
	}
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(waitTimeout):
		t.Fatal("Run waited for the stalled gateway discovery")
	}
}

// TestWatchedConnZombieRule: a write that follows a write with nothing read
// in between (a heartbeat after an unacknowledged one) closes the
// connection; an answered write does not.
func TestWatchedConnZombieRule(t *testing.T) {
	t.Parallel()
	client, server := net.Pipe()
	defer server.Close()
	go func() { _, _ = io.Copy(io.Discard, server) }()
	go func() { _, _ = server.Write([]byte{0x81, 2, '{', '}'}) }() // READY
	w := &watchedConn{Conn: client, log: slog.New(slog.DiscardHandler)}
	text := func(s string) []byte { return append([]byte{0x81, byte(len(s))}, s...) }
	_, err := w.Write(text("identify"))
	require.NoError(t, err)
	_, err = w.Read(make([]byte, 4))
	require.NoError(t, err)
	_, err = w.Write(text("heartbeat 1"))
	require.NoError(t, err)
	_, err = w.Write([]byte{0x8a, 0}) // a pong is not a heartbeat
	require.NoError(t, err)
	_, err = w.Write(text("heartbeat 2"))
	require.NoError(t, err, "swallowed")
	assert.True(t, w.isClosed(), "heartbeat 1 was never acknowledged: the connection is closed")
}

// TestZombieConnectionResumes: heartbeats sent but never acknowledged (a
// half-dead connection) close the connection at the first missed ACK, not
// after discordgo's five, and the session resumes.
func TestZombieConnectionResumes(t *testing.T) {
	t.Parallel()
	fake := discordfake.New()
	t.Cleanup(fake.Close)
	// Longer than discordgo's 1 s close, shorter than its own five-ACK rule.
	fake.SetHeartbeatInterval(500 * time.Millisecond)
	r := &rig{fake: fake, h: newRecordingHandler(), logs: &bridgetest.SyncBuffer{}, done: make(chan error, 1)}
	r.a = newAdapter(t, fake, testConfig(), r.logs)
	r.start(t)
	fake.RequireResumeURL(true)
	start := r.fake.Snapshot().Heartbeats
	fake.ZombieHeartbeats(true)
	s := r.waitFor(t, func(s discordfake.Snapshot) bool { return s.Connections == 0 })
	fake.ZombieHeartbeats(false)
	assert.LessOrEqual(t, s.Heartbeats-start, 2, "closed at the first heartbeat sent after a missed ACK (discordgo waits for five)")
	assert.Contains(t, r.logs.String(), "heartbeat not acknowledged")
	r.waitFor(t, func(s discordfake.Snapshot) bool { return s.Resumed == 1 && s.Connections == 1 })
	assert.Len(t, r.fake.Snapshot().Identifies, 1, "resumed, not re-identified")
	in := r.mention(t, "alive again?")
	assert.Equal(t, "alive again?", in.Text)
}

// TestReconnectRequestsAndFaultsResumeAtOnce: op 7 Reconnect, a storm of
// them, and back-to-back drops each resume on resume_gateway_url without a
// backoff wait, because each RESUME succeeded.
func TestReconnectRequestsAndFaultsResumeAtOnce(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil, WithReconnectBackoff(time.Second, time.Minute))
	r.fake.RequireResumeURL(true)
	for i := 1; i <= 4; i++ {
		if i%2 == 1 {
			require.NoError(t, r.fake.RequestReconnect())
		} else {
			r.fake.CloseGateway(4000)
		}
		r.waitFor(t, func(s discordfake.Snapshot) bool { return s.Resumed == i && s.Connections == 1 })
	}
	s := r.fake.Snapshot()
	assert.Len(t, s.Identifies, 1, "every fault resumed")
	assert.Zero(t, s.InvalidSessions, "every RESUME went to resume_gateway_url")
	assert.Equal(t, 4, strings.Count(r.logs.String(), "retry_in=0s"), "no backoff wait after a resumed session")
	assert.NotContains(t, r.logs.String(), "retry_in=1s")
	in := r.mention(t, "after the storm")
	assert.Equal(t, "after the storm", in.Text)
}

// TestResumeGatewayURLFromReady reads READY's resume_gateway_url from
// Discord's documented payload (testdata/wire) and sends only the next
// gateway dial after an up session there.
func TestResumeGatewayURLFromReady(t *testing.T) {
	t.Parallel()
	a, err := New(testConfig(), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join("testdata", "wire", "ready_resume_gateway_url.json"))
	require.NoError(t, err)
	s, err := a.newShard(0, shardPlan{count: 1, ids: []int{0}, concurrency: 1})
	require.NoError(t, err)
	s.onReadyRaw(raw)
	assert.Equal(t, "gateway.discord.gg:443", s.gatewayAddr("gateway.discord.gg:443"), "no resume pending")
	s.resumeNext.Store(true)
	assert.Equal(t, "gateway-us-east1-b.discord.gg:443", s.gatewayAddr("gateway.discord.gg:443"))
	assert.Equal(t, "gateway.discord.gg:443", s.gatewayAddr("gateway.discord.gg:443"), "only the first attempt")
}
