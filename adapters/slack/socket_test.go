package slack

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

func TestSocketHelloPingReady(t *testing.T) {
	fake := slackfake.New(t, slackfake.WithPingInterval(20*time.Millisecond))
	r := startSocket(t, fake, newRecorder())
	fake.Await(t, "ready after hello", r.a.Ready)
	fake.Await(t, "pongs", func() bool { return fake.Pongs() >= 2 })
	assert.Equal(t, slackfake.BotUserID, r.a.BotUserID())
	assert.Equal(t, 2, fake.Connections(), "two connections by default")
	assert.Equal(t, 2, r.a.HealthyConnections())
}

// ackFirstHandler checks, inside HandleMessage and HandleAction, that the
// envelope was already acknowledged: if the adapter called the handler
// before acking, the ack could not arrive while the handler blocks and the
// check fails.
type ackFirstHandler struct {
	*recorder
	fake    *slackfake.Server
	mu      sync.Mutex
	unacked []string
}

// waitAck waits for an ack and records id when none came.
func (h *ackFirstHandler) waitAck(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := h.fake.WaitFor(ctx, func() bool { return len(h.fake.Acks()) > 0 }); err != nil {
		h.mu.Lock()
		h.unacked = append(h.unacked, id)
		h.mu.Unlock()
	}
}

func (h *ackFirstHandler) HandleMessage(ctx context.Context, m chat.InboundMessage) error {
	h.waitAck(ctx, m.EventID)
	return h.recorder.HandleMessage(ctx, m)
}

func (h *ackFirstHandler) HandleAction(ctx context.Context, act chat.Action) (chat.ActionResult, error) {
	h.waitAck(ctx, act.Target)
	return h.recorder.HandleAction(ctx, act)
}

// TestSocketHandOverBeforeAck: a message's envelope is acknowledged once
// the bridge has it, not before, so a message the bridge could not take is
// never acknowledged.
func TestSocketHandOverBeforeAck(t *testing.T) {
	fake := slackfake.New(t)
	h := &ackLaterHandler{recorder: newRecorder(), fake: fake}
	startSocket(t, fake, h)
	ev := fake.Mention("C1", "U1", "hello there")
	env, err := fake.SendEvent(ev, 0)
	require.NoError(t, err)
	msgs := h.waitMessages(t, 1)
	fake.Await(t, "the ack", func() bool { return fake.Acked(env) })
	h.mu.Lock()
	assert.Empty(t, h.early, "the envelope was acknowledged before the bridge had the message")
	h.mu.Unlock()
	assert.Equal(t, chat.InboundMessage{
		Key:       chat.ConversationKey{Platform: "slack", Workspace: slackfake.TeamID, Channel: "C1", Thread: ev.TS},
		User:      chat.User{ID: "U1"},
		Text:      "hello there",
		MessageID: ev.TS,
		EventID:   ev.EventID,
		Mentioned: true,
		Received:  msgs[0].Received,
	}, msgs[0])
	assert.False(t, msgs[0].Received.IsZero())
}

// ackLaterHandler records, inside HandleMessage, an envelope already
// acknowledged.
type ackLaterHandler struct {
	*recorder
	fake  *slackfake.Server
	mu    sync.Mutex
	early []string
}

func (h *ackLaterHandler) HandleMessage(ctx context.Context, m chat.InboundMessage) error {
	if len(h.fake.Acks()) > 0 {
		h.mu.Lock()
		h.early = append(h.early, m.EventID)
		h.mu.Unlock()
	}
	return h.recorder.HandleMessage(ctx, m)
}

// TestSocketRefusedMessageDeliveredAgain: a message the bridge refused is
// left unacknowledged; Slack sends it again (retry_attempt 1) and the
// bridge takes it then.
func TestSocketRefusedMessageDeliveredAgain(t *testing.T) {
	fake := slackfake.New(t, slackfake.WithAckTimeout(200*time.Millisecond))
	h := &refusingHandler{recorder: newRecorder(), deadlines: make(chan time.Duration, 8)}
	h.refuse.Store(true)
	startSocketN(t, fake, h, 1)
	id := fake.Deliver(fake.Mention("C1", "U1", "is prod down?"))
	select {
	case d := <-h.deadlines:
		assert.LessOrEqual(t, d, handOverTimeout, "the hand-over is bounded within Slack's deadline")
	case <-time.After(30 * time.Second):
		t.Fatal("the message never reached the bridge")
	}
	h.refuse.Store(false)
	msgs := h.waitMessages(t, 1)
	assert.Equal(t, id, msgs[0].EventID, "the same event, delivered again")
	fake.Await(t, "the redelivery acknowledged", func() bool {
		ds := fake.Deliveries(id)
		return len(ds) >= 2 && fake.Acked(ds[len(ds)-1].EnvelopeID)
	})
	ds := fake.Deliveries(id)
	assert.False(t, fake.Acked(ds[0].EnvelopeID), "the refused delivery was not acknowledged")
	assert.Positive(t, ds[len(ds)-1].RetryAttempt)
}

func TestSocketClickAckBeforeHandler(t *testing.T) {
	fake := slackfake.New(t)
	h := &ackFirstHandler{recorder: newRecorder(), fake: fake}
	h.result = chat.ActionResult{Notice: "Already approved by ana"}
	startSocket(t, fake, h)

	click := slackfake.Click{Channel: "C1", MessageTS: "1700000000.000010", ThreadTS: "1700000000.000001",
		User: "U7", UserName: "mallory", ActionID: ActionApprove, Value: "ap-42"}
	env, err := fake.SendClick(click)
	require.NoError(t, err)
	acts := h.waitActions(t, 1)
	assert.True(t, fake.Acked(env))
	h.mu.Lock()
	assert.Empty(t, h.unacked, "HandleAction ran before the click was acked")
	h.mu.Unlock()
	assert.Equal(t, "ap-42", acts[0].Target)

	// The notice follows the click's processing, as an ephemeral message.
	fake.Await(t, "ephemeral notice", func() bool { return len(fake.Calls("chat.postEphemeral")) == 1 })
	eph := fake.Calls("chat.postEphemeral")[0]
	assert.Equal(t, "U7", eph.User)
	assert.Equal(t, click.ThreadTS, eph.ThreadTS)
	assert.Equal(t, "Already approved by ana", eph.Text)
}

func TestSocketEventsAreHandedOverAndAcked(t *testing.T) {
	fake := slackfake.New(t)
	rec := newRecorder()
	startSocketN(t, fake, rec, 1) // one connection: the events arrive in order

	mention := fake.Mention("C1", "U1", "first")
	twin := fake.Twin(mention)
	reply := fake.Reply("C1", mention.TS, "U2", "a reply")
	own := fake.Reply("C1", mention.TS, slackfake.BotUserID, "my own")
	edit := fake.Reply("C1", mention.TS, "U2", "changed")
	edit.SubType = "message_changed"
	dm := fake.DM("D9", "U3", "psst")

	var envs []string
	// Slack retries the same event (same event_id) up to 3 times: each is handed over.
	for i, ev := range []slackfake.Event{mention, twin, mention, mention, own, edit, reply, dm} {
		retry := 0
		if i == 2 || i == 3 {
			retry = i - 1
		}
		env, err := fake.SendEvent(ev, retry)
		require.NoError(t, err)
		envs = append(envs, env)
	}
	msgs := rec.waitMessages(t, 6)
	fake.Await(t, "all acks", func() bool { return len(fake.Acks()) >= len(envs) })
	for _, env := range envs {
		assert.True(t, fake.Acked(env), env)
	}
	require.Len(t, msgs, 6)
	ids := []string{}
	for _, m := range msgs {
		ids = append(ids, m.EventID)
	}
	assert.Equal(t, []string{mention.EventID, twin.EventID, mention.EventID, mention.EventID, reply.EventID, dm.EventID}, ids,
		"own messages and edits are dropped; retries and the twin go to the bridge, which dedupes")
	assert.Equal(t, msgs[0].Key, msgs[1].Key)
	assert.Equal(t, msgs[0].MessageID, msgs[1].MessageID, "the twin has the mention's channel and ts")
	assert.False(t, msgs[4].Mentioned)
	assert.True(t, msgs[5].Mentioned)
	assert.Empty(t, msgs[5].Key.Thread)
}

func TestSocketBadEnvelopesAreAcked(t *testing.T) {
	fake := slackfake.New(t)
	rec := newRecorder()
	startSocketN(t, fake, rec, 1) // one connection: the good event comes after the bad ones

	unknownInner := json.RawMessage(`{"type":"event_callback","team_id":"T0FAKE","event_id":"EvX","event":{"type":"brand_new_event_type","user":"U1"}}`)
	env1, err := fake.SendEnvelope(slackfake.Envelope{Type: "events_api", Payload: unknownInner})
	require.NoError(t, err)
	env2, err := fake.SendEnvelope(slackfake.Envelope{Type: "some_future_type", Payload: json.RawMessage(`{}`)})
	require.NoError(t, err)
	env3, err := fake.SendEnvelope(slackfake.Envelope{Type: "slash_commands", Payload: json.RawMessage(`{"command":"/x","text":"y"}`)})
	require.NoError(t, err)
	fake.Await(t, "acks of unparseable envelopes", func() bool {
		return fake.Acked(env1) && fake.Acked(env2) && fake.Acked(env3)
	})
	require.NoError(t, fake.SendRaw([]byte(`this is not json`)))

	// A good event afterwards is the only thing handed over.
	ev := fake.Mention("C1", "U1", "still alive")
	_, err = fake.SendEvent(ev, 0)
	require.NoError(t, err)
	msgs := rec.waitMessages(t, 1)
	require.Len(t, msgs, 1)
	assert.Equal(t, ev.EventID, msgs[0].EventID)
	assert.Equal(t, 1, fake.Connections(), "no reconnect needed")
}

func TestSocketClick(t *testing.T) {
	fake := slackfake.New(t)
	rec := newRecorder()
	rec.result = chat.ActionResult{Notice: "You are not allowed to approve this."}
	startSocket(t, fake, rec)

	click := slackfake.Click{Channel: "C1", MessageTS: "1700000000.000010", ThreadTS: "1700000000.000001",
		User: "U7", UserName: "mallory", ActionID: ActionApprove, Value: "ap-42"}
	env, err := fake.SendClick(click)
	require.NoError(t, err)
	acts := rec.waitActions(t, 1)
	assert.Equal(t, "ap-42", acts[0].Target)
	assert.Equal(t, chat.Approve, acts[0].Kind)
	assert.Equal(t, chat.User{ID: "U7", Name: "mallory"}, acts[0].User)
	assert.Equal(t, "slack", acts[0].Platform)
	fake.Await(t, "ack and ephemeral", func() bool {
		return fake.Acked(env) && len(fake.Calls("chat.postEphemeral")) == 1
	})
	eph := fake.Calls("chat.postEphemeral")[0]
	assert.Equal(t, "U7", eph.User)
	assert.Equal(t, "C1", eph.Channel)
	assert.Equal(t, click.ThreadTS, eph.ThreadTS)
	assert.Equal(t, "You are not allowed to approve this.", eph.Text)

	// An accepted click gets no notice.
	rec.mu.Lock()
	rec.result = chat.ActionResult{Accepted: true}
	rec.mu.Unlock()
	click.User, click.ActionID = "U1", ActionDeny
	env, err = fake.SendClick(click)
	require.NoError(t, err)
	fake.Await(t, "ack", func() bool { return fake.Acked(env) })
	acts = rec.waitActions(t, 2)
	assert.Equal(t, chat.Deny, acts[1].Kind)
	assert.Len(t, fake.Calls("chat.postEphemeral"), 1)
}

func TestSocketReconnectsOnDisconnect(t *testing.T) {
	fake := slackfake.New(t)
	rec := newRecorder()
	startSocket(t, fake, rec)
	require.NoError(t, fake.Disconnect())
	fake.Await(t, "a replacement connection", func() bool { return fake.Connections() == 3 && fake.OpenConnections() == 2 })
	ev := fake.Mention("C1", "U1", "after reconnect")
	_, err := fake.SendEvent(ev, 0)
	require.NoError(t, err)
	assert.Equal(t, ev.EventID, rec.waitMessages(t, 1)[0].EventID)
}

func TestRunFatalAuth(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		code    string
		setting string
	}{
		{"bad bot token", "auth.test", "invalid_auth", "slack.bot_token"},
		{"revoked bot token", "auth.test", "token_revoked", "slack.bot_token"},
		{"inactive account", "auth.test", "account_inactive", "slack.bot_token"},
		{"bad app token", "apps.connections.open", "invalid_auth", "slack.app_token"},
		{"app token missing", "apps.connections.open", "not_authed", "slack.app_token"},
		{"wrong token type (slack-go would retry forever)", "apps.connections.open", "not_allowed_token_type", "slack.app_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := slackfake.New(t)
			fake.FailAuth(tt.method, tt.code)
			var logs bridgetest.SyncBuffer
			a, err := New(fakeConfig(fake, ModeSocket), testLogger(t, &logs))
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = a.Run(ctx, newRecorder())
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrAuth), "got %v", err)
			assert.NoError(t, ctx.Err(), "Run gave up at once instead of reconnecting")
			assert.Contains(t, err.Error(), tt.code)
			assert.Contains(t, err.Error(), tt.setting)
			for _, secret := range []string{slackfake.BotToken, slackfake.AppToken, "ticket="} {
				assert.NotContains(t, err.Error(), secret)
				assert.NotContains(t, logs.String(), secret)
			}
			assert.False(t, a.Ready())
		})
	}
}

func TestRunReturnsNilOnCancel(t *testing.T) {
	fake := slackfake.New(t)
	a, err := New(fakeConfig(fake, ModeSocket), testLogger(t, nil))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, newRecorder()) }()
	fake.Await(t, "connection", fake.Connected)
	cancel()
	require.NoError(t, <-done)
	assert.False(t, a.Ready())
	require.Error(t, a.Run(context.Background(), nil), "nil handler")
}

func TestRedact(t *testing.T) {
	in := `dial wss://wss-primary.slack.com/link/?ticket=abc-123&app_id=A1 failed; token xoxb-123-456-abc and xapp-1-A1-xyz`
	out := redact(in)
	assert.NotContains(t, out, "abc-123")
	assert.NotContains(t, out, "xoxb-123")
	assert.NotContains(t, out, "xapp-1")
	assert.Contains(t, out, "ticket=REDACTED&app_id=A1")
}

func TestSocketHandlerErrors(t *testing.T) {
	fake := slackfake.New(t)
	rec := newRecorder()
	rec.err = errors.New("store unavailable")
	startSocket(t, fake, rec)

	// A failed message is logged; the connection carries on.
	_, err := fake.SendEvent(fake.Mention("C1", "U1", "x"), 0)
	require.NoError(t, err)
	rec.waitMessages(t, 1)

	// A failed click tells the clicker something went wrong.
	_, err = fake.SendClick(slackfake.Click{Channel: "C1", MessageTS: "1.2", User: "U1", ActionID: ActionApprove, Value: "ap-1"})
	require.NoError(t, err)
	fake.Await(t, "error notice", func() bool { return len(fake.Calls("chat.postEphemeral")) == 1 })
	assert.Contains(t, fake.Calls("chat.postEphemeral")[0].Text, "could not be processed")
	assert.Equal(t, 2, fake.Connections(), "no reconnection")
}
