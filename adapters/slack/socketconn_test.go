package slack

import (
	"context"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
)

// TestWatchSilenceDefaults checks, in fake time, the production limits: a
// connection that keeps receiving (Slack's pings every few seconds) is left
// alone; once nothing arrives, it is closed within 15 s.
func TestWatchSilenceDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAdapter(DefaultConfig(), nil, nil)
		client, server := net.Pipe()
		defer server.Close()
		s := newSocketSlot(1, time.Now)
		conn := s.attach(client)
		a.setSlotReady(s, true)

		// The client side reads everything, as slack-go's reader does.
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
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go a.watchSilence(ctx, []*socketSlot{s})

		// A ping-sized frame every 5 s for a minute: never silent.
		for range 12 {
			time.Sleep(5 * time.Second)
			_, err := server.Write([]byte{0x89, 0x04, 'p', 'i', 'n', 'g'})
			require.NoError(t, err)
		}
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("a connection that receives pings was closed")
		default:
		}
		assert.True(t, a.Ready())

		// Then silence: closed within 15 s of the last frame, and no longer ready.
		last := time.Now()
		at := <-closed
		assert.LessOrEqual(t, at.Sub(last), 15*time.Second)
		assert.Greater(t, at.Sub(last), a.silenceLimit-time.Second, "not closed before the limit")
		assert.False(t, a.Ready())
		assert.Zero(t, a.HealthyConnections())
	})
}

// TestSocketReplacesSilencedConnection silences one of two live connections
// on the fake: the adapter stays ready on the other, notices the silent one
// and opens a replacement, and events flow on every connection again.
func TestSocketReplacesSilencedConnection(t *testing.T) {
	fake := slackfake.New(t, slackfake.WithPingInterval(50*time.Millisecond))
	rec := newRecorder()
	cfg := fakeConfig(fake, ModeSocket)
	a, err := New(cfg, testLogger(t, nil))
	require.NoError(t, err)
	// Short limits so the test takes well under a second of silence;
	// TestWatchSilenceDefaults covers the production values.
	a.silenceLimit, a.watchEvery = 400*time.Millisecond, 20*time.Millisecond
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
	assert.Equal(t, 3, fake.Connections())

	// Both open connections deliver.
	for _, id := range fake.ConnIDs() {
		env, err := fake.SendEnvelopeOn(id, slackfake.Envelope{Type: "events_api", Payload: fake.EventBody(fake.Mention("C1", "U1", "hi"))})
		require.NoError(t, err)
		fake.Await(t, "ack", func() bool { return fake.Acked(env) })
	}
	assert.Len(t, rec.messages(), 2)
}
