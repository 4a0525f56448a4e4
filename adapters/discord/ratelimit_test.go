package discord

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/discord/discordfake"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

// invalidCounter records InvalidRequest calls.
type invalidCounter struct {
	mu    sync.Mutex
	calls []string
}

func (c *invalidCounter) InvalidRequest(platform, route string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, fmt.Sprintf("%s %s %d", platform, route, status))
}

func (c *invalidCounter) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

func newTestLimiter(logs io.Writer, c chat.RequestCounter) *restLimiter {
	l := newRESTLimiter(slog.New(slog.NewTextHandler(logs, nil)), time.Now)
	l.counter = func() chat.RequestCounter { return c }
	return l
}

func answer(status int, h map[string]string) *http.Response {
	resp := &http.Response{StatusCode: status, Header: http.Header{}}
	for k, v := range h {
		resp.Header.Set(k, v)
	}
	return resp
}

func TestRESTLimiterBoundsEverySecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestLimiter(io.Discard, nil)
		ctx := context.Background()
		var times []time.Time
		start := time.Now()
		for i := range 200 {
			require.NoError(t, l.wait(ctx, "k"+strconv.Itoa(i%7)))
			times = append(times, time.Now())
		}
		assert.LessOrEqual(t, discordfake.MaxPerWindow(times, time.Second), restRate+restBurst-1, "under Discord's 50 per second with a margin")
		assert.Less(t, time.Since(start), 200*time.Second/restRate, "the rate is used")
	})
}

func TestRESTLimiterTypingKeepsReserve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestLimiter(io.Discard, nil)
		for range restBurst - typingReserve {
			require.NoError(t, l.wait(context.Background(), "k"))
		}
		assert.False(t, l.tryTake(typingReserve), "typing leaves the last tokens to other calls")
		time.Sleep(l.interval)
		assert.True(t, l.tryTake(typingReserve), "with a token back, typing goes")
		assert.False(t, l.tryTake(typingReserve))
	})
}

func TestRESTLimiterGlobal429PausesEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := &bridgetest.SyncBuffer{}
		l := newTestLimiter(logs, nil)
		l.observe("POST", "/channels/{id}/messages", "channel 1", answer(429, nil), true, 2*time.Second)
		start := time.Now()
		require.NoError(t, l.wait(context.Background(), "GET /users/@me"))
		assert.Equal(t, 2*time.Second, time.Since(start), "another route waits for the global pause")
		l.observe("POST", "/channels/{id}/messages", "channel 1", answer(429, nil), true, time.Second)
		assert.False(t, l.tryTake(0), "typing is skipped during a global pause")
		assert.Contains(t, logs.String(), "global rate limit")
	})
}

func TestRESTLimiterHoldsExhaustedBucket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := &bridgetest.SyncBuffer{}
		l := newTestLimiter(logs, nil)
		time.Sleep(time.Second)
		// Discord says this channel's bucket holds 2 and is spent for 3 s.
		l.observe("POST", "/channels/{id}/messages", "channel 1",
			answer(200, map[string]string{"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "3.000"}), false, 0)
		start := time.Now()
		require.NoError(t, l.wait(context.Background(), "channel 2"))
		assert.Equal(t, time.Duration(0), time.Since(start), "other channels are not held")
		require.NoError(t, l.wait(context.Background(), "channel 1"))
		assert.Equal(t, 3*time.Second, time.Since(start), "the spent bucket waits for its reset instead of drawing a 429")
		assert.Contains(t, logs.String(), "smaller than the budget assumes")
	})
}

func TestRESTLimiterCountsInvalidRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := &bridgetest.SyncBuffer{}
		c := &invalidCounter{}
		l := newTestLimiter(logs, c)
		l.observe("GET", "/channels/{id}", "GET /channels/{id}", answer(200, nil), false, 0)
		l.observe("GET", "/channels/{id}", "GET /channels/{id}", answer(404, nil), false, 0)
		assert.Empty(t, c.list(), "only 401, 403 and 429 are invalid")
		for i := range invalidWarnAt - 1 {
			l.observe("POST", "/channels/{id}/messages", "channel 1", answer([]int{401, 403, 429}[i%3], nil), false, 0)
		}
		assert.Len(t, c.list(), invalidWarnAt-1)
		assert.Equal(t, "discord POST /channels/{id}/messages 401", c.list()[0])
		assert.NotContains(t, logs.String(), "refused many requests")
		time.Sleep(invalidWarnWindow) // the old ones leave the window
		l.observe("POST", "/channels/{id}/messages", "channel 1", answer(403, nil), false, 0)
		assert.NotContains(t, logs.String(), "refused many requests")
		for range invalidWarnAt - 1 {
			l.observe("PATCH", "/channels/{id}/messages/{id}", "channel 1", answer(429, nil), false, 0)
		}
		assert.Contains(t, logs.String(), "refused many requests")
		assert.Contains(t, logs.String(), `route="PATCH /channels/{id}/messages/{id}"`)
		assert.Equal(t, 1, strings.Count(logs.String(), "refused many requests"), "one warning per window")
	})
}

func TestRouteOf(t *testing.T) {
	for _, tc := range []struct{ method, path, route, key string }{
		{"POST", "/api/v9/channels/123/messages", "/channels/{id}/messages", "channel 123"},
		{"PATCH", "/api/v9/channels/123/messages/456", "/channels/{id}/messages/{id}", "channel 123"},
		{"POST", "/api/v9/channels/123/messages/456/threads", "/channels/{id}/messages/{id}/threads", "channel 123"},
		{"GET", "/api/v9/channels/123", "/channels/{id}", "GET /channels/{id}"},
		{"POST", "/api/v9/webhooks/11/itok_abc", "/webhooks/{id}/{token}", "POST /webhooks/{id}/{token}"},
		{"POST", "/api/v9/interactions/11/itok_abc/callback", "/interactions/{id}/{token}/callback", "POST /interactions/{id}/{token}/callback"},
		{"POST", "/proxy/api/v10/channels/9/typing", "/channels/{id}/typing", "channel 9"},
	} {
		route, key := routeOf(tc.method, tc.path)
		assert.Equal(t, tc.route, route, tc.path)
		assert.Equal(t, tc.key, key, tc.path)
	}
	assert.True(t, isCallback("/api/v9/interactions/1/t/callback"))
	assert.False(t, isCallback("/api/v9/webhooks/1/t"))
}

// TestRESTBudgetOverEnforcingFake: many posts at once in many channels draw
// no 429 from a fake enforcing Discord's 50 requests per second, and no
// second holds more than 50 requests as they leave the adapter.
func TestRESTBudgetOverEnforcingFake(t *testing.T) {
	t.Parallel()
	fake := discordfake.New()
	t.Cleanup(fake.Close)
	client := fake.HTTPClient()
	tap := &sendTimes{base: client.Transport}
	client.Transport = tap
	r := &rig{fake: fake, h: newRecordingHandler(), logs: &bridgetest.SyncBuffer{}, done: make(chan error, 1)}
	r.a = newAdapter(t, fake, testConfig(), r.logs, WithHTTPClient(client))
	r.start(t)
	fake.EnforceRateLimits(true)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	for i := range 120 {
		wg.Go(func() {
			key := chat.ConversationKey{Platform: "discord", Workspace: workspaceDM, Channel: strconv.Itoa(1320000000000000000 + i)}
			_, err := r.a.Post(ctx, key, chat.Message{Body: "hello"})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Zero(t, fake.Snapshot().RateLimited, "no 429")
	assert.LessOrEqual(t, discordfake.MaxPerWindow(tap.list(), time.Second), discordfake.GlobalLimit)
}

// sendTimes records when requests are handed to the network.
type sendTimes struct {
	base  http.RoundTripper
	mu    sync.Mutex
	times []time.Time
}

func (s *sendTimes) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.times = append(s.times, time.Now())
	s.mu.Unlock()
	return s.base.RoundTrip(req)
}

func (s *sendTimes) list() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.times...)
}

// TestGlobal429MapsToGlobalRateLimitError: a 429 marked global in its body
// or by X-RateLimit-Scope reaches the bridge as a global RateLimitError.
func TestGlobal429MapsToGlobalRateLimitError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header map[string]string
		body   string
		global bool
	}{
		{"body global", nil, `{"message":"You are being rate limited.","retry_after":0.5,"global":true}`, true},
		{"scope header", map[string]string{"X-RateLimit-Scope": "global"}, `{"message":"x","retry_after":0.5,"global":false}`, true},
		{"legacy header", map[string]string{"X-RateLimit-Global": "true"}, ``, true},
		{"route bucket", map[string]string{"X-RateLimit-Scope": "user"}, `{"message":"x","retry_after":0.5,"global":false}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newStatic429(t, tc.header, tc.body)
			a := newBareAdapter(t, srv)
			_, err := a.Post(ctxT(t), dmKey, chat.Message{Body: "x"})
			var rl *chat.RateLimitError
			require.ErrorAs(t, err, &rl)
			assert.Equal(t, tc.global, rl.Global)
			assert.Positive(t, rl.RetryAfter)
		})
	}
}

// newStatic429 serves 429 with the given headers and body to every request.
func newStatic429(t *testing.T, header map[string]string, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// newBareAdapter is an adapter (not running) whose REST calls go to srv.
func newBareAdapter(t *testing.T, srv *httptest.Server) *Adapter {
	t.Helper()
	cfg := testConfig()
	cfg.APIURL = srv.URL + "/api/v9"
	a, err := New(cfg, slog.New(slog.DiscardHandler), WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	return a
}
