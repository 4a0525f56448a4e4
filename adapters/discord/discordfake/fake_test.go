package discordfake

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func do(t *testing.T, s *Server, method, path, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "https://discord.com/api/v9"+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bot x")
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.HTTPClient().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestRESTChecksWhatDiscordChecks(t *testing.T) {
	t.Parallel()
	s := New()
	t.Cleanup(s.Close)
	long := strings.Repeat("x", 2001)
	bigID := strings.Repeat("i", 101)
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantCode   string
	}{
		{"ok", `{"content":"hi","allowed_mentions":{"parse":[]}}`, http.StatusOK, ""},
		{"too long", `{"content":"` + long + `"}`, http.StatusBadRequest, "50035"},
		{"empty", `{"content":"  "}`, http.StatusBadRequest, "50006"},
		{"custom_id too long", `{"content":"x","components":[{"type":1,"components":[{"type":2,"custom_id":"` + bigID + `"}]}]}`,
			http.StatusBadRequest, "50035"},
	}
	for _, tt := range tests {
		status, _, body := do(t, s, "POST", "/channels/9/messages", tt.body)
		assert.Equal(t, tt.wantStatus, status, tt.name)
		if tt.wantCode != "" {
			assert.Contains(t, body, `"code":`+tt.wantCode, tt.name)
		}
	}
	snap := s.Snapshot()
	require.Len(t, snap.Messages, 1)
	assert.True(t, snap.Messages[0].AllowedMentions.None())
	assert.True(t, snap.Messages[0].FromBot)

	req, _ := http.NewRequest("GET", "https://discord.com/api/v9/channels/9", nil)
	resp, err := s.HTTPClient().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a bot token is required")
}

func TestThreadsAndRateLimits(t *testing.T) {
	t.Parallel()
	s := New()
	t.Cleanup(s.Close)
	_, _, body := do(t, s, "POST", "/channels/9/messages", `{"content":"root"}`)
	var m struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(body), &m))

	status, _, _ := do(t, s, "POST", "/channels/9/messages/"+m.ID+"/threads", `{"name":"t","auto_archive_duration":60}`)
	assert.Equal(t, http.StatusCreated, status)
	status, _, body = do(t, s, "POST", "/channels/9/messages/"+m.ID+"/threads", `{"name":"t"}`)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, "160004")
	snap := s.Snapshot()
	require.Len(t, snap.Threads, 1)
	assert.Equal(t, Thread{ID: m.ID, ParentID: "9", Name: "t", ArchiveMinutes: 60}, snap.Threads[0])

	s.RateLimitEdits(1, 1500*time.Millisecond)
	status, h, body := do(t, s, "PATCH", "/channels/9/messages/"+m.ID, `{"content":"x"}`)
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Equal(t, "2", h.Get("Retry-After"))
	assert.Equal(t, "1.500", h.Get("X-RateLimit-Reset-After"))
	assert.JSONEq(t, `{"message":"You are being rate limited.","retry_after":1.5,"global":false}`, body)
	status, _, _ = do(t, s, "PATCH", "/channels/9/messages/"+m.ID, `{"content":"x"}`)
	assert.Equal(t, http.StatusOK, status)
	snap = s.Snapshot()
	assert.Equal(t, 1, snap.RateLimited)
	require.Len(t, snap.Edits, 1)
	assert.Equal(t, "x", *snap.Edits[0].Content)
	assert.Nil(t, snap.Edits[0].Components, "components left unchanged")
}

func TestGatewayHandshakeAndClose(t *testing.T) {
	t.Parallel()
	s := New()
	t.Cleanup(s.Close)
	s.AddChannel(Channel{ID: "2", GuildID: "1", Type: ChannelTypeGuildText})
	ws, _, err := websocket.DefaultDialer.Dial(s.GatewayURL()+"/?v=9&encoding=json", nil)
	require.NoError(t, err)
	defer ws.Close()

	var p struct {
		Op int             `json:"op"`
		T  string          `json:"t"`
		D  json.RawMessage `json:"d"`
	}
	require.NoError(t, ws.ReadJSON(&p))
	assert.Equal(t, 10, p.Op)
	require.NoError(t, ws.WriteJSON(map[string]any{"op": 2, "d": map[string]any{"token": "Bot x", "intents": 33281}}))
	require.NoError(t, ws.ReadJSON(&p))
	assert.Equal(t, "READY", p.T)
	require.NoError(t, ws.ReadJSON(&p))
	assert.Equal(t, "GUILD_CREATE", p.T)
	require.NoError(t, ws.WriteJSON(map[string]any{"op": 1, "d": 1}))
	require.NoError(t, ws.ReadJSON(&p))
	assert.Equal(t, 11, p.Op)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	snap, err := s.Wait(ctx, func(s Snapshot) bool { return s.Connections == 1 && s.Heartbeats == 1 })
	require.NoError(t, err)
	assert.Equal(t, int64(33281), snap.Identifies[0].Intents)

	s.CloseGateway(4004)
	_, _, err = ws.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 4004, ce.Code)
}

func TestWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	s := New()
	t.Cleanup(s.Close)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Wait(ctx, func(Snapshot) bool { return false })
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, s.Dispatch("X", nil), ErrNoConnection)
}

// identifyOn opens a gateway connection at url, identifies (or resumes
// session when not empty) and returns the connection and the first answer
// after Hello.
func identifyOn(t *testing.T, url, session string) (*websocket.Conn, string, int) {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url+"/?v=9&encoding=json", nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ws.Close() })
	var p struct {
		Op int             `json:"op"`
		T  string          `json:"t"`
		D  json.RawMessage `json:"d"`
	}
	require.NoError(t, ws.ReadJSON(&p))
	if session == "" {
		require.NoError(t, ws.WriteJSON(map[string]any{"op": 2, "d": map[string]any{"token": "Bot x", "intents": 1}}))
	} else {
		require.NoError(t, ws.WriteJSON(map[string]any{"op": 6, "d": map[string]any{"token": "Bot x", "session_id": session, "seq": 1}}))
	}
	require.NoError(t, ws.ReadJSON(&p))
	if p.T == "READY" {
		var r struct {
			SessionID string `json:"session_id"`
			Resume    string `json:"resume_gateway_url"`
		}
		require.NoError(t, json.Unmarshal(p.D, &r))
		assert.NotEqual(t, url, r.Resume, "resume_gateway_url is another host")
		return ws, r.SessionID, p.Op
	}
	return ws, p.T, p.Op
}

func TestGatewayResumeOnlyOnResumeURL(t *testing.T) {
	t.Parallel()
	s := New()
	t.Cleanup(s.Close)
	s.RequireResumeURL(true)
	ws, session, _ := identifyOn(t, s.GatewayURL(), "")
	_ = ws.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.Wait(ctx, func(s Snapshot) bool { return s.Connections == 0 })
	require.NoError(t, err)

	_, _, op := identifyOn(t, s.GatewayURL(), session)
	assert.Equal(t, 9, op, "a RESUME on the original URL is refused")
	_, typ, op := identifyOn(t, s.ResumeGatewayURL(), session)
	assert.Equal(t, 0, op)
	assert.Equal(t, "RESUMED", typ)
	snap := s.Snapshot()
	assert.Equal(t, 1, snap.InvalidSessions)
	assert.Equal(t, 1, snap.Resumed)
}

func TestGatewayZombieAndReconnect(t *testing.T) {
	t.Parallel()
	s := New()
	t.Cleanup(s.Close)
	ws, _, _ := identifyOn(t, s.GatewayURL(), "")
	var p struct {
		Op int    `json:"op"`
		T  string `json:"t"`
	}
	s.ZombieHeartbeats(true)
	require.NoError(t, ws.WriteJSON(map[string]any{"op": 1, "d": 1}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.Wait(ctx, func(s Snapshot) bool { return s.Heartbeats == 1 })
	require.NoError(t, err)
	require.NoError(t, s.RequestReconnect())
	for {
		require.NoError(t, ws.ReadJSON(&p))
		require.NotEqual(t, 11, p.Op, "no heartbeat ACK from a zombied connection")
		if p.T == "" {
			break
		}
	}
	assert.Equal(t, 7, p.Op)
}

func TestRateLimitsLikeDiscord(t *testing.T) {
	t.Parallel()
	s := New()
	t.Cleanup(s.Close)
	s.EnforceRateLimits(true)
	body := `{"content":"hi"}`
	for i := range ChannelWrites {
		code, h, _ := do(t, s, "POST", "/channels/7/messages", body)
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, "5", h.Get("X-RateLimit-Limit"))
		assert.Equal(t, strconv.Itoa(ChannelWrites-1-i), h.Get("X-RateLimit-Remaining"))
	}
	code, h, b := do(t, s, "POST", "/channels/7/messages", body)
	require.Equal(t, http.StatusTooManyRequests, code, "the sixth write in one channel")
	assert.Equal(t, "user", h.Get("X-RateLimit-Scope"))
	assert.Contains(t, b, `"global":false`)
	code, _, _ = do(t, s, "POST", "/channels/8/messages", body)
	assert.Equal(t, http.StatusOK, code, "another channel has its own bucket")

	globals := 0
	for i := range GlobalLimit + 5 {
		code, h, b := do(t, s, "POST", "/channels/"+strconv.Itoa(100+i)+"/typing", "")
		if code == http.StatusTooManyRequests {
			globals++
			assert.Equal(t, "global", h.Get("X-RateLimit-Scope"))
			assert.Contains(t, b, `"global":true`)
		}
	}
	assert.Positive(t, globals, "more than 50 requests in a second hit the global limit")
	assert.Equal(t, globals, s.Snapshot().GlobalRateLimited)
	assert.GreaterOrEqual(t, MaxPerWindow(s.RequestTimes(), time.Second), GlobalLimit)
}

func TestGatewayResumeReplaysMissedEvents(t *testing.T) {
	t.Parallel()
	s := New()
	t.Cleanup(s.Close)
	ws, session, _ := identifyOn(t, s.GatewayURL(), "") // READY is seq 1
	require.NoError(t, s.Dispatch("FIRST", map[string]any{}))
	var p struct {
		Op int    `json:"op"`
		S  int64  `json:"s"`
		T  string `json:"t"`
	}
	require.NoError(t, ws.ReadJSON(&p))
	require.Equal(t, "FIRST", p.T)
	require.NoError(t, s.Dispatch("MISSED", map[string]any{})) // sent, never processed
	_ = ws.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.Wait(ctx, func(s Snapshot) bool { return s.Connections == 0 })
	require.NoError(t, err)

	ws2, _, err := websocket.DefaultDialer.Dial(s.ResumeGatewayURL()+"/?v=9&encoding=json", nil)
	require.NoError(t, err)
	defer ws2.Close()
	require.NoError(t, ws2.ReadJSON(&p)) // Hello
	require.NoError(t, ws2.WriteJSON(map[string]any{"op": 6, "d": map[string]any{"token": "Bot x", "session_id": session, "seq": 2}}))
	require.NoError(t, ws2.ReadJSON(&p))
	assert.Equal(t, "MISSED", p.T, "what the client missed is replayed first")
	assert.Equal(t, int64(3), p.S)
	require.NoError(t, ws2.ReadJSON(&p))
	assert.Equal(t, "RESUMED", p.T)
	assert.Equal(t, 1, s.Snapshot().Replayed)
}
