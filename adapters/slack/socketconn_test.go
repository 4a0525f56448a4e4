package slack

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
)

// TestWatchSilenceDefaults checks, in fake time, the production values: the
// adapter pings Slack every few seconds, so a connection whose pongs come
// back is left alone for as long as it lives, even with none of Slack's own
// pings (they come only about every 30 s); once nothing comes back, it is
// closed within 15 s.
func TestWatchSilenceDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAdapter(DefaultConfig(), nil, nil)
		client, server := net.Pipe()
		defer server.Close()
		s := newSocketSlot(1, time.Now)
		conn := s.attach(client, true)
		a.setSlotReady(s, true)

		// The client side reads everything, as the WebSocket library does.
		closed := make(chan time.Time, 1)
		go func() {
			buf := make([]byte, 64)
			for {
				if _, err := conn.Read(buf); err != nil {
					closed <- time.Now()
					return
				}
			}
		}()
		// Slack's side answers each ping with a pong while healthy.
		var healthy atomic.Bool
		healthy.Store(true)
		var pings atomic.Int32
		var lastPong atomic.Int64
		go func() {
			frame := make([]byte, 6)
			for {
				if _, err := io.ReadFull(server, frame); err != nil {
					return
				}
				if frame[0] != 0x89 || frame[1] != 0x80 {
					t.Errorf("not a masked empty ping frame: % x", frame)
					return
				}
				pings.Add(1)
				if healthy.Load() {
					if _, err := server.Write([]byte{0x8a, 0x00}); err != nil {
						return
					}
					lastPong.Store(time.Now().UnixNano())
				}
			}
		}()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.watchSilence(ctx, []*socketSlot{s})
		}()

		time.Sleep(2 * time.Minute)
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("a connection that answers pings was closed")
		default:
		}
		assert.True(t, a.Ready())
		assert.GreaterOrEqual(t, int(pings.Load()), 25, "a ping every 4 s")

		// Half-open: the pings go out, nothing comes back.
		healthy.Store(false)
		at := <-closed
		silent := at.Sub(time.Unix(0, lastPong.Load()))
		assert.LessOrEqual(t, silent, 15*time.Second)
		assert.Greater(t, silent, a.silenceLimit, "not closed before the limit")
		assert.False(t, a.Ready())
		assert.Zero(t, a.HealthyConnections())
		cancel()
		<-done
	})
}

// TestSocketReplacesSilencedConnection silences one of two live connections
// on the fake: the adapter stays ready on the other, notices the silent one
// and opens a replacement, and events flow on every connection again.
func TestSocketReplacesSilencedConnection(t *testing.T) {
	fake := slackfake.New(t, slackfake.WithPingInterval(time.Hour))
	rec := newRecorder()
	cfg := fakeConfig(fake, ModeSocket)
	a, err := New(cfg, testLogger(t, nil))
	require.NoError(t, err)
	// Short limits so the test takes seconds; TestWatchSilenceDefaults
	// covers the production values. The fake sends no pings of its own in
	// that time: only the pongs to the adapter's pings keep a connection.
	a.silenceLimit, a.clientPing, a.watchEvery = 2*time.Second, 100*time.Millisecond, 20*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, rec) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	fake.Await(t, "two healthy connections", func() bool { return a.HealthyConnections() == 2 })

	ids := fake.ConnIDs()
	require.Len(t, ids, 2)
	require.True(t, fake.Silence(ids[0]))
	fake.Await(t, "the silenced connection replaced", func() bool {
		open := fake.ConnIDs()
		return len(open) == 2 && open[0] == ids[1] && a.HealthyConnections() == 2
	})
	assert.True(t, a.Ready())
	assert.Equal(t, 3, fake.Connections(), "the healthy connection, kept by its pongs, was not replaced")
	assert.Positive(t, fake.ClientPings(), "the adapter pings Slack")

	// Both open connections deliver.
	for _, id := range fake.ConnIDs() {
		env, err := fake.SendEnvelopeOn(id, slackfake.Envelope{Type: "events_api", Payload: fake.EventBody(fake.Mention("C1", "U1", "hi"))})
		require.NoError(t, err)
		fake.Await(t, "ack", func() bool { return fake.Acked(env) })
	}
	assert.Len(t, rec.waitMessages(t, 2), 2)
}

// TestSocketPingsDoNotCorruptFrames pings as often as possible while
// envelopes are acknowledged on the same connection: every ack arrives
// whole (a ping written inside an ack frame would break the connection).
func TestSocketPingsDoNotCorruptFrames(t *testing.T) {
	fake := slackfake.New(t, slackfake.WithPingInterval(time.Hour))
	rec := newRecorder()
	cfg := fakeConfig(fake, ModeSocket)
	cfg.SocketConnections = 1
	a, err := New(cfg, testLogger(t, nil))
	require.NoError(t, err)
	a.clientPing, a.watchEvery = 0, time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, rec) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	fake.Await(t, "connection", func() bool { return a.HealthyConnections() == 1 })

	// Send envelopes until pings have crossed the acks at least ten times,
	// however fast this machine is (bounded, so a broken ping loop fails).
	const minEnvelopes, maxEnvelopes = 200, 20000
	var envs []string
	for len(envs) < minEnvelopes || fake.ClientPings() <= 10 {
		require.Less(t, len(envs), maxEnvelopes, "the adapter stopped pinging")
		env, err := fake.SendEvent(fake.Mention("C1", "U1", "ping storm"), 0)
		require.NoError(t, err)
		envs = append(envs, env)
	}
	n := len(envs)
	fake.Await(t, "every ack", func() bool { return len(fake.Acks()) >= n })
	for _, env := range envs {
		assert.True(t, fake.Acked(env))
	}
	assert.Len(t, rec.waitMessages(t, n), n)
	assert.Equal(t, 1, fake.Connections(), "the connection never broke")
}

// TestSocketOverTLS runs Socket Mode over wss://, as with Slack: the adapter
// does the TLS handshake itself, its pings cross the TLS connection, events
// are acknowledged and handed over, and a silenced connection is replaced.
func TestSocketOverTLS(t *testing.T) {
	fake := slackfake.New(t, slackfake.WithTLSSocket(), slackfake.WithPingInterval(time.Hour))
	rec := newRecorder()
	a, err := New(fakeConfig(fake, ModeSocket), testLogger(t, nil))
	require.NoError(t, err)
	a.socketTLS = fake.SocketTLSConfig()
	a.silenceLimit, a.clientPing, a.watchEvery = 2*time.Second, 100*time.Millisecond, 20*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, rec) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	fake.Await(t, "two healthy connections", func() bool { return a.HealthyConnections() == 2 })
	fake.Await(t, "pongs to the adapter's pings", func() bool { return fake.ClientPings() >= 4 })

	env, err := fake.SendEvent(fake.Mention("C1", "U1", "over tls"), 0)
	require.NoError(t, err)
	fake.Await(t, "ack", func() bool { return fake.Acked(env) })
	assert.Equal(t, "over tls", rec.waitMessages(t, 1)[0].Text)

	ids := fake.ConnIDs()
	require.True(t, fake.Silence(ids[0]))
	fake.Await(t, "the silenced connection replaced", func() bool {
		open := fake.ConnIDs()
		return len(open) == 2 && open[0] == ids[1] && a.HealthyConnections() == 2
	})
	assert.Equal(t, 3, fake.Connections())
}

// TestSocketTLSRefusesUnknownCertificate: without trusting the fake's
// certificate (the system's roots), the handshake fails and the adapter
// keeps retrying instead of connecting.
func TestSocketTLSRefusesUnknownCertificate(t *testing.T) {
	fake := slackfake.New(t, slackfake.WithTLSSocket())
	seen := &logWatch{want: "certificate", found: make(chan struct{})}
	r := start(t, fakeConfig(fake, ModeSocket), newRecorder(), seen)
	select {
	case <-seen.found:
	case <-time.After(10 * time.Second):
		t.Fatal("no refused handshake logged")
	}
	assert.False(t, r.a.Ready())
	assert.Zero(t, fake.OpenConnections())
}

// logWatch is a log writer that closes found once a line contains want.
type logWatch struct {
	want  string
	found chan struct{}
	once  sync.Once
}

func (w *logWatch) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.want) {
		w.once.Do(func() { close(w.found) })
	}
	return len(p), nil
}
