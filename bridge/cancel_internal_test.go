package bridge

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// cancelRig is a Bridge on a fake platform, a memory store and the real
// promptev client of an in-memory promptevtest server, inside a synctest
// bubble: a cancelled run's HTTP request is seen closing by the server.
type cancelRig struct {
	b      *Bridge
	p      *bridgetest.Platform
	store  *bridgetest.MemStore
	srv    *promptevtest.Server
	client *promptev.Client
	runs   *outcomes
	seq    int
	stop   func()
}

// outcomes records the outcomes of finished runs.
type outcomes struct {
	NopMetrics
	mu   sync.Mutex
	list []string
}

func (o *outcomes) RunFinished(_, outcome string, _ time.Duration) {
	o.mu.Lock()
	o.list = append(o.list, outcome)
	o.mu.Unlock()
}

func (o *outcomes) get() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.list...)
}

// startCancelRig answers each query with a status, then (a minute later) done.
func startCancelRig(t *testing.T) *cancelRig {
	t.Helper()
	srv := promptevtest.NewInMemoryServer("pk-test")
	srv.AddAgent("agent-1", promptevtest.Agent{Script: []promptevtest.Event{
		{Type: promptevtest.TypeProcessing, Output: "Searching Jira"},
		{Type: promptevtest.TypeDone, Output: "Answer to {{query}}", Delay: time.Minute},
	}})
	client, err := promptev.New("pk-test", promptev.WithBaseURL(srv.URL), promptev.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	cfg := DefaultConfig()
	cfg.Routes.Default.Agent = "agent-1"
	p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
	store := bridgetest.NewMemStore()
	runs := &outcomes{}
	b, err := New(Options{Config: cfg, Agent: ClientAgent(client), Store: store, Platforms: []chat.Platform{p}, Metrics: runs})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	r := &cancelRig{b: b, p: p, store: store, srv: srv, client: client, runs: runs}
	r.stop = func() {
		cancel()
		require.NoError(t, <-done)
		client.CloseIdleConnections()
		srv.Close()
	}
	return r
}

func (r *cancelRig) send(t *testing.T, key chat.ConversationKey, text string) {
	t.Helper()
	r.seq++
	require.NoError(t, r.b.HandleMessage(context.Background(), chat.InboundMessage{
		Key: key, User: chat.User{ID: "U1", Name: "ana"}, Text: text,
		MessageID: "m" + strconv.Itoa(r.seq), Mentioned: true, Received: time.Now(),
	}))
}

// texts returns what users see in key, message by message.
func (r *cancelRig) texts(key chat.ConversationKey) []string {
	var out []string
	for _, m := range r.p.Messages(key) {
		out = append(out, r.p.Text(m.Ref))
	}
	return out
}

// settle lets fake time pass (edit intervals) until the bubble is idle.
func settle() {
	time.Sleep(5 * time.Second)
	synctest.Wait()
}

func cancelKey(thread string) chat.ConversationKey {
	return chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: "C1", Thread: thread}
}

// TestCancelRun cancels a run mid-stream by its id and by its
// conversation: either way the agent's HTTP request is closed before done,
// the placeholder ends with the cancellation notice (never left on
// "Thinking…"), the run's handle is gone, and the conversation goes on in
// the same agent session.
func TestCancelRun(t *testing.T) {
	for _, by := range []string{"run id", "conversation"} {
		t.Run("by "+by, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := startCancelRig(t)
				defer r.stop()
				key := cancelKey("1")
				r.send(t, key, "find the outage ticket")
				settle()
				require.Len(t, r.texts(key), 1)
				require.Contains(t, r.texts(key)[0], "… Searching Jira", "the run is under way")
				h, ok := r.b.active.byConversation(key)
				require.True(t, ok)
				assert.Len(t, h.id, 26)
				byID, ok := r.b.active.byRunID(h.id)
				require.True(t, ok)
				assert.Same(t, h, byID)
				other := cancelKey("2")
				assert.False(t, r.b.cancelConversation(other, nil), "no run in another conversation")

				cause := errors.New("test cancel")
				if by == "run id" {
					assert.True(t, r.b.cancelRun(h.id, cause))
				} else {
					assert.True(t, r.b.cancelConversation(key, cause))
				}
				settle()

				assert.Equal(t, 1, r.srv.StreamsClosedByClient(), "the agent saw the stream's connection close before done")
				texts := r.texts(key)
				require.Len(t, texts, 1)
				assert.Contains(t, texts[0], cancelledText)
				assert.NotContains(t, texts[0], thinkingText)
				assert.NotContains(t, texts[0], "Answer to")
				assert.True(t, r.p.Messages(key)[0].Message.Final, "the placeholder is final")
				assert.ErrorIs(t, context.Cause(h.ctx), cause, "the cause is kept")
				runs, err := r.store.ListRuns(t.Context())
				require.NoError(t, err)
				assert.Empty(t, runs, "the in-flight record is removed")
				assertNoActiveRuns(t, r.b)

				// Cancelling the ended run is a no-op, reported as such.
				assert.False(t, r.b.cancelRun(h.id, nil))
				assert.False(t, r.b.cancelConversation(key, nil))

				// The next message is answered in the same session.
				r.send(t, key, "try again")
				time.Sleep(2 * time.Minute)
				settle()
				texts = r.texts(key)
				assert.Contains(t, texts[0], cancelledText, "the cancelled run's message stays")
				assert.Contains(t, strings.Join(texts[1:], "\n"), "Answer to try again")
				starts := 0
				for _, req := range r.srv.Requests() {
					if strings.HasSuffix(req.Path, "/start") {
						starts++
					}
				}
				assert.Equal(t, 1, starts, "no new session after a cancel")
				assert.Equal(t, []string{outcomeCancelled, outcomeDone}, r.runs.get())
				assert.Equal(t, 1, r.srv.StreamsClosedByClient())
				assertNoActiveRuns(t, r.b)
			})
		})
	}
}

// TestCancelRunTwiceAndUnknown: an unknown id is a no-op; a second cancel of
// a run already cancelled reports false and keeps the first cause.
func TestCancelRunTwiceAndUnknown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startCancelRig(t)
		defer r.stop()
		assert.False(t, r.b.cancelRun("NOSUCHRUN", nil))
		key := cancelKey("1")
		r.send(t, key, "go")
		settle()
		h, ok := r.b.active.byConversation(key)
		require.True(t, ok)
		first, second := errors.New("first"), errors.New("second")
		assert.True(t, r.b.cancelRun(h.id, first))
		assert.False(t, r.b.cancelRun(h.id, second), "a second cancel changes nothing")
		assert.False(t, r.b.cancelConversation(key, second))
		settle()
		assert.ErrorIs(t, context.Cause(h.ctx), first)
		assert.Equal(t, 1, r.srv.StreamsClosedByClient())
		assertNoActiveRuns(t, r.b)
	})
}

// TestCancelBeforeTheStream cancels a run whose handle exists but whose
// agent call has not started (the default cause): the run still ends with
// the notice, and no stream is opened.
func TestCancelBeforeTheStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startCancelRig(t)
		defer r.stop()
		key := cancelKey("1")
		r.p.SetLatency(time.Second) // the placeholder post takes a second
		r.send(t, key, "go")
		synctest.Wait()
		h, ok := r.b.active.byConversation(key)
		require.True(t, ok, "the handle exists before the placeholder is posted")
		assert.True(t, r.b.cancelRun(h.id, nil))
		r.p.SetLatency(0)
		settle()
		texts := r.texts(key)
		require.Len(t, texts, 1)
		assert.Contains(t, texts[0], cancelledText)
		assert.ErrorIs(t, context.Cause(h.ctx), errRunCancelled)
		for _, req := range r.srv.Requests() {
			assert.False(t, strings.HasSuffix(req.Path, "/stream"), "no stream after the cancel: %s", req.Path)
		}
		assertNoActiveRuns(t, r.b)
	})
}

// TestRunHandleRemovedAfterNormalRun: a run that ends normally leaves no handle.
func TestRunHandleRemovedAfterNormalRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startCancelRig(t)
		defer r.stop()
		for _, thread := range []string{"1", "2", "3"} {
			r.send(t, cancelKey(thread), "hello")
		}
		settle()
		n, _ := r.b.active.len()
		assert.Equal(t, 3, n, "three runs under way")
		time.Sleep(2 * time.Minute)
		settle()
		for _, thread := range []string{"1", "2", "3"} {
			assert.Contains(t, strings.Join(r.texts(cancelKey(thread)), "\n"), "Answer to hello")
		}
		assertNoActiveRuns(t, r.b)
		assert.Zero(t, r.srv.StreamsClosedByClient())
	})
}

func assertNoActiveRuns(t *testing.T, b *Bridge) {
	t.Helper()
	byID, byKey := b.active.len()
	assert.Zero(t, byID, "run ids left behind")
	assert.Zero(t, byKey, "conversations left behind")
}

// TestOnActionRefusesBadRegistrations: the registry takes each valid kind once.
func TestOnActionRefusesBadRegistrations(t *testing.T) {
	b := &Bridge{actions: map[chat.ActionKind]actionHandler{}}
	h := func(context.Context, chat.Action) (chat.ActionResult, error) { return chat.ActionResult{}, nil }
	b.onAction("stop", h)
	assert.Panics(t, func() { b.onAction("stop", h) }, "registered twice")
	assert.Panics(t, func() { b.onAction("Stop!", h) }, "invalid kind")
}

// TestShutdownIsNotACancel: a run cut by Shutdown ends as interrupted (not
// cancelled), its handle is gone, and cancelling it afterwards is a no-op.
func TestShutdownIsNotACancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startCancelRig(t)
		defer r.stop()
		key := cancelKey("1")
		r.send(t, key, "go")
		settle()
		h, ok := r.b.active.byConversation(key)
		require.True(t, ok)
		require.NoError(t, r.b.Shutdown(t.Context()))
		settle()
		assert.Equal(t, []string{outcomeInterrupted}, r.runs.get())
		assert.Contains(t, r.texts(key)[0], interruptedText)
		assert.Nil(t, h.cancelCause())
		assert.False(t, r.b.cancelRun(h.id, nil))
		assertNoActiveRuns(t, r.b)
	})
}
