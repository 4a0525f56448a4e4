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

func TestShardOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		guild string
		count int
		want  int
	}{
		{"81384788765712384", 17, 7}, // the example of Discord's libraries' docs
		{"81384788765712384", 1, 0},
		{"", 4, 0}, // DMs go to shard 0
		{strconv.FormatUint(5<<22, 10), 4, 1},
		{strconv.FormatUint(6<<22|(1<<22-1), 10), 4, 2}, // the low 22 bits (the timestamp's rest) do not count
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ShardOf(tt.guild, tt.count), "%s of %d", tt.guild, tt.count)
	}
}

// TestGatewayRoutesByShard identifies shards 0 and 1 of 2: each gets the
// GUILD_CREATE and the events of its guilds only, DMs go to shard 0, and an
// out-of-range shard is closed with 4010.
func TestGatewayRoutesByShard(t *testing.T) {
	t.Parallel()
	s := New()
	t.Cleanup(s.Close)
	even, odd := strconv.FormatUint(2<<22, 10), strconv.FormatUint(3<<22, 10)
	s.AddChannel(Channel{ID: "20", GuildID: even, Type: ChannelTypeGuildText})
	s.AddChannel(Channel{ID: "30", GuildID: odd, Type: ChannelTypeGuildText})

	type frame struct {
		Op int             `json:"op"`
		T  string          `json:"t"`
		D  json.RawMessage `json:"d"`
	}
	identify := func(shard [2]int) *websocket.Conn {
		ws, _, err := websocket.DefaultDialer.Dial(s.GatewayURL()+"/?v=9&encoding=json", nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = ws.Close() })
		var p frame
		require.NoError(t, ws.ReadJSON(&p)) // Hello
		require.NoError(t, ws.WriteJSON(map[string]any{"op": 2, "d": map[string]any{"token": "Bot x", "intents": 1, "shard": shard}}))
		return ws
	}
	next := func(ws *websocket.Conn) (string, string) {
		var p frame
		require.NoError(t, ws.SetReadDeadline(time.Now().Add(5*time.Second)))
		require.NoError(t, ws.ReadJSON(&p))
		var d struct {
			ID      string `json:"id"`
			GuildID string `json:"guild_id"`
			Content string `json:"content"`
		}
		_ = json.Unmarshal(p.D, &d)
		if p.T == "GUILD_CREATE" {
			return p.T, d.ID
		}
		return p.T, d.GuildID + "/" + d.Content
	}
	ws0, ws1 := identify([2]int{0, 2}), identify([2]int{1, 2})
	for _, c := range []struct {
		ws    *websocket.Conn
		guild string
	}{{ws0, even}, {ws1, odd}} {
		typ, _ := next(c.ws)
		require.Equal(t, "READY", typ)
		typ, id := next(c.ws)
		assert.Equal(t, "GUILD_CREATE", typ)
		assert.Equal(t, c.guild, id, "a shard gets its own guilds only")
	}

	_, err := s.SendMessage(UserMessage{GuildID: odd, ChannelID: "30", AuthorID: "9", Content: "to odd"})
	require.NoError(t, err)
	_, err = s.SendMessage(UserMessage{GuildID: even, ChannelID: "20", AuthorID: "9", Content: "to even"})
	require.NoError(t, err)
	_, err = s.SendMessage(UserMessage{ChannelID: "40", AuthorID: "9", Content: "a dm"})
	require.NoError(t, err)
	typ, got := next(ws1)
	assert.Equal(t, "MESSAGE_CREATE", typ)
	assert.Equal(t, odd+"/to odd", got)
	_, got = next(ws0)
	assert.Equal(t, even+"/to even", got, "shard 0 never saw the odd guild's message")
	_, got = next(ws0)
	assert.Equal(t, "/a dm", got, "DMs go to shard 0")
	assert.Equal(t, [][2]int{{0, 2}, {1, 2}}, s.Snapshot().ConnectedShards)

	bad := identify([2]int{2, 2})
	_, _, err = bad.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 4010, ce.Code, "shard_id must be less than num_shards")
}

func TestGatewayBotRecommendsShards(t *testing.T) {
	t.Parallel()
	s := New()
	t.Cleanup(s.Close)
	s.SetRecommendedShards(3)
	status, _, body := do(t, s, "GET", "/gateway/bot", "")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `"shards":3`)
	assert.Contains(t, body, `"max_concurrency":1`)
	status, _, body = do(t, s, "GET", "/gateway", "")
	require.Equal(t, http.StatusOK, status)
	assert.NotContains(t, body, "shards", "GET /gateway names the URL alone")
}
