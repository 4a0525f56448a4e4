package slack

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestHTTPURLVerification(t *testing.T) {
	fake := slackfake.New(t)
	r, base := startHTTP(t, fake, newRecorder(), nil)
	assert.True(t, r.a.Ready())
	resp, err := slackfake.PostSigned(base+DefaultEventsPath, "application/json", slackfake.URLVerificationBody("chal-123"), slackfake.PostOptions{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "chal-123", readAll(t, resp))

	// Unsigned, even the challenge is refused.
	resp, err = slackfake.PostSigned(base+DefaultEventsPath, "application/json", slackfake.URLVerificationBody("chal-123"), slackfake.PostOptions{Unsigned: true})
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.NotContains(t, readAll(t, resp), "chal-123")
}

func TestHTTPSignature(t *testing.T) {
	fake := slackfake.New(t)
	rec := newRecorder()
	var logs bridgetest.SyncBuffer
	_, base := startHTTP(t, fake, rec, &logs)
	url := base + DefaultEventsPath

	tests := []struct {
		name string
		opts slackfake.PostOptions
		want int
	}{
		{"wrong secret", slackfake.PostOptions{Secret: "not-the-secret"}, http.StatusUnauthorized},
		{"expired timestamp", slackfake.PostOptions{At: time.Now().Add(-6 * time.Minute)}, http.StatusUnauthorized},
		{"future timestamp", slackfake.PostOptions{At: time.Now().Add(6 * time.Minute)}, http.StatusUnauthorized},
		{"missing signature", slackfake.PostOptions{Unsigned: true}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := fake.PostEvent(url, fake.Mention("C1", "U1", "sneaky"), tt.opts)
			require.NoError(t, err)
			assert.Equal(t, tt.want, resp.StatusCode)
			readAll(t, resp)
		})
	}
	t.Run("tampered body", func(t *testing.T) {
		body := fake.EventBody(fake.Mention("C1", "U1", "original"))
		at := time.Now()
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(strings.Replace(string(body), "original", "tampered", 1)))
		require.NoError(t, err)
		req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(at.Unix(), 10))
		req.Header.Set("X-Slack-Signature", slackfake.Sign(slackfake.SigningSecret, at, body))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		readAll(t, resp)
	})
	t.Run("bad click signature", func(t *testing.T) {
		resp, err := fake.PostClick(base+DefaultInteractionsPath, slackfake.Click{Channel: "C1", User: "U1", ActionID: ActionApprove, Value: "ap-1"},
			slackfake.PostOptions{Secret: "wrong"})
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		readAll(t, resp)
	})

	// A valid request afterwards is the only thing handed over: none of the
	// rejected ones reached the bridge.
	good := fake.Mention("C1", "U1", "legit")
	resp, err := fake.PostEvent(url, good, slackfake.PostOptions{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	readAll(t, resp)
	msgs := rec.waitMessages(t, 1)
	require.Len(t, msgs, 1)
	assert.Equal(t, good.EventID, msgs[0].EventID)
	assert.Equal(t, "legit", msgs[0].Text)
	assert.Empty(t, rec.actions())
	assert.Contains(t, logs.String(), "expired timestamp")
	assert.NotContains(t, logs.String(), slackfake.SigningSecret)
}

func TestHTTPEventsAndRetries(t *testing.T) {
	fake := slackfake.New(t)
	rec := newRecorder()
	_, base := startHTTP(t, fake, rec, nil)
	url := base + DefaultEventsPath

	mention := fake.Mention("C1", "U1", "do the thing")
	for retry := range 4 {
		resp, err := fake.PostEvent(url, mention, slackfake.PostOptions{RetryNum: retry})
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		readAll(t, resp)
	}
	resp, err := fake.PostEvent(url, fake.Twin(mention), slackfake.PostOptions{})
	require.NoError(t, err)
	readAll(t, resp)
	own := fake.Reply("C1", mention.TS, slackfake.BotUserID, "me")
	resp, err = fake.PostEvent(url, own, slackfake.PostOptions{})
	require.NoError(t, err)
	readAll(t, resp)
	reply := fake.Reply("C1", mention.TS, "U2", "follow-up")
	resp, err = fake.PostEvent(url, reply, slackfake.PostOptions{})
	require.NoError(t, err)
	readAll(t, resp)

	msgs := rec.waitMessages(t, 6)
	require.Len(t, msgs, 6, "4 deliveries + the twin + the reply; the bridge dedupes")
	for _, m := range msgs[:5] {
		assert.Equal(t, mention.TS, m.MessageID)
		assert.Equal(t, chat.ConversationKey{Platform: "slack", Workspace: slackfake.TeamID, Channel: "C1", Thread: mention.TS}, m.Key)
	}
	assert.Equal(t, reply.EventID, msgs[5].EventID)
	assert.False(t, msgs[5].Mentioned)
}

func TestHTTPOddRequests(t *testing.T) {
	fake := slackfake.New(t)
	rec := newRecorder()
	_, base := startHTTP(t, fake, rec, nil)
	url := base + DefaultEventsPath

	resp, err := slackfake.PostSigned(url, "application/json",
		[]byte(`{"type":"event_callback","team_id":"T0FAKE","event_id":"EvZ","event":{"type":"brand_new_event"}}`), slackfake.PostOptions{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "unknown event types are acknowledged so Slack stops retrying")
	readAll(t, resp)

	resp, err = slackfake.PostSigned(url, "application/json", []byte(`{not json`), slackfake.PostOptions{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	readAll(t, resp)

	resp, err = slackfake.PostSigned(base+DefaultInteractionsPath, "application/x-www-form-urlencoded", []byte(`payload=%7Bbad`), slackfake.PostOptions{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	readAll(t, resp)

	resp, err = http.Get(url)
	require.NoError(t, err)
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	readAll(t, resp)

	big := make([]byte, maxRequestBody+10)
	resp, err = slackfake.PostSigned(url, "application/json", big, slackfake.PostOptions{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	readAll(t, resp)

	assert.Empty(t, rec.messages())
}

func TestHTTPClick(t *testing.T) {
	fake := slackfake.New(t)
	rec := newRecorder()
	rec.result = chat.ActionResult{Notice: "Already approved by ana"}
	_, base := startHTTP(t, fake, rec, nil)

	click := slackfake.Click{Channel: "C1", MessageTS: "1700000000.000010", ThreadTS: "1700000000.000001",
		User: "U8", UserName: "bo", ActionID: ActionDeny, Value: "ap-7"}
	resp, err := fake.PostClick(base+DefaultInteractionsPath, click, slackfake.PostOptions{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	readAll(t, resp)
	acts := rec.waitActions(t, 1)
	assert.Equal(t, chat.Action{Platform: "slack", Kind: chat.Deny, Target: "ap-7",
		User: chat.User{ID: "U8", Name: "bo"}, Received: acts[0].Received,
		Card: chat.MessageRef{Key: chat.ConversationKey{Platform: "slack", Workspace: slackfake.TeamID, Channel: "C1", Thread: click.ThreadTS},
			ID: click.MessageTS, Channel: "C1"}}, acts[0])
	fake.Await(t, "ephemeral notice", func() bool { return len(fake.Calls("chat.postEphemeral")) == 1 })
	eph := fake.Calls("chat.postEphemeral")[0]
	assert.Equal(t, "U8", eph.User)
	assert.Equal(t, "Already approved by ana", eph.Text)
	assert.Equal(t, click.ThreadTS, eph.ThreadTS)
}

// blockingClickHandler holds HandleAction until release is closed (or a
// 5-second backstop passes, so a wrong adapter fails instead of hanging).
type blockingClickHandler struct {
	*recorder
	release chan struct{}
}

func (h *blockingClickHandler) HandleAction(ctx context.Context, act chat.Action) (chat.ActionResult, error) {
	select {
	case <-h.release:
	case <-time.After(5 * time.Second):
	}
	return h.recorder.HandleAction(ctx, act)
}

func TestHTTPClickAckBeforeHandler(t *testing.T) {
	fake := slackfake.New(t)
	h := &blockingClickHandler{recorder: newRecorder(), release: make(chan struct{})}
	h.result = chat.ActionResult{Notice: "You are not allowed to approve this."}
	_, base := startHTTP(t, fake, h, nil)

	click := slackfake.Click{Channel: "C1", MessageTS: "1700000000.000010", ThreadTS: "1700000000.000001",
		User: "U8", UserName: "bo", ActionID: ActionApprove, Value: "ap-9"}
	// The empty 200 arrives while HandleAction is still held: the ack came first.
	resp, err := fake.PostClick(base+DefaultInteractionsPath, click, slackfake.PostOptions{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Empty(t, readAll(t, resp))
	assert.Empty(t, h.actions(), "the click was processed before the ack")
	assert.Empty(t, fake.Calls("chat.postEphemeral"))

	close(h.release)
	acts := h.waitActions(t, 1)
	assert.Equal(t, "ap-9", acts[0].Target)
	fake.Await(t, "ephemeral notice", func() bool { return len(fake.Calls("chat.postEphemeral")) == 1 })
	eph := fake.Calls("chat.postEphemeral")[0]
	assert.Equal(t, "U8", eph.User)
	assert.Equal(t, "You are not allowed to approve this.", eph.Text)
}

func TestHTTPListenError(t *testing.T) {
	fake := slackfake.New(t)
	_, base := startHTTP(t, fake, newRecorder(), nil)
	cfg := fakeConfig(fake, ModeHTTP)
	cfg.Listen = strings.TrimPrefix(base, "http://")
	a, err := New(cfg, testLogger(t, nil))
	require.NoError(t, err)
	err = a.Run(t.Context(), newRecorder())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "listen on")
}

// refusingHandler fails HandleMessage while refuse is set, as the bridge
// does when its store cannot be reached, and records each call's deadline.
type refusingHandler struct {
	*recorder
	refuse    atomic.Bool
	deadlines chan time.Duration
}

var errStoreDown = errors.New("postgres: connection refused")

func (h *refusingHandler) HandleMessage(ctx context.Context, m chat.InboundMessage) error {
	if d, ok := ctx.Deadline(); ok {
		h.deadlines <- time.Until(d)
	} else {
		h.deadlines <- -1
	}
	if h.refuse.Load() {
		return errStoreDown
	}
	return h.recorder.HandleMessage(ctx, m)
}

// TestHTTPHandOverBeforeAck: a message is handed to the bridge, within a
// bound below Slack's 3-second deadline, before the request is answered; a
// message the bridge cannot take is answered 503 so that Slack delivers it
// again, and the redelivery is taken once the bridge can.
func TestHTTPHandOverBeforeAck(t *testing.T) {
	fake := slackfake.New(t)
	h := &refusingHandler{recorder: newRecorder(), deadlines: make(chan time.Duration, 10)}
	var logs bridgetest.SyncBuffer
	_, base := startHTTP(t, fake, h, &logs)
	ev := fake.Mention("C1", "U1", "take me")

	steps := []struct {
		name     string
		refuse   bool
		retry    int
		wantCode int
		wantMsgs int
	}{
		{"store down: Slack is told to retry", true, 0, http.StatusServiceUnavailable, 0},
		{"first retry, store still down", true, 1, http.StatusServiceUnavailable, 0},
		{"second retry, store back: taken", false, 2, http.StatusOK, 1},
	}
	for _, s := range steps {
		h.refuse.Store(s.refuse)
		resp, err := fake.PostEvent(base+DefaultEventsPath, ev, slackfake.PostOptions{RetryNum: s.retry})
		require.NoError(t, err, s.name)
		readAll(t, resp)
		assert.Equal(t, s.wantCode, resp.StatusCode, s.name)
		// The answer came after the hand-over: no waiting needed.
		assert.Len(t, h.messages(), s.wantMsgs, s.name)
		d := <-h.deadlines
		assert.True(t, d > 0 && d <= handOverTimeout, "%s: the hand-over is bounded (%s left)", s.name, d)
	}
	assert.Equal(t, ev.EventID, h.messages()[0].EventID)
	assert.Contains(t, logs.String(), "answered 503 so Slack delivers it again")

	// Events that are not messages are acknowledged at once, as before.
	resp, err := slackfake.PostSigned(base+DefaultEventsPath, "application/json",
		[]byte(`{"type":"event_callback","team_id":"T0FAKE","event_id":"EvQ","event":{"type":"brand_new_event"}}`), slackfake.PostOptions{})
	require.NoError(t, err)
	readAll(t, resp)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
