package slack

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
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

// blockingHandler holds HandleMessage until release is closed.
type blockingHandler struct {
	*recorder
	release chan struct{}
}

func (h *blockingHandler) HandleMessage(ctx context.Context, m chat.InboundMessage) error {
	select {
	case <-h.release:
	case <-time.After(10 * time.Second):
	}
	return h.recorder.HandleMessage(ctx, m)
}

func TestHTTPAckBeforeHandler(t *testing.T) {
	fake := slackfake.New(t)
	h := &blockingHandler{recorder: newRecorder(), release: make(chan struct{})}
	_, base := startHTTP(t, fake, h, nil)
	ev := fake.Mention("C1", "U1", "ack me first")
	// The 200 arrives while the handler is still held: the ack came first.
	resp, err := fake.PostEvent(base+DefaultEventsPath, ev, slackfake.PostOptions{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	readAll(t, resp)
	assert.Empty(t, h.messages())
	close(h.release)
	assert.Equal(t, ev.EventID, h.waitMessages(t, 1)[0].EventID)
}
