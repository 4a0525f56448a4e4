package promptev_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

const key = "pk_live_abc123"

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// setup starts a fake API with a few agents and a client for it.
func setup(t *testing.T, opts ...promptev.Option) (*promptevtest.Server, *promptev.Client) {
	t.Helper()
	srv := promptevtest.NewServer(key)
	t.Cleanup(srv.Close)
	srv.AddAgent("echo", promptevtest.Agent{Name: "Echo", MemoryEnabled: true, Script: []promptevtest.Event{
		{Type: "thoughts", Output: "thinking"},
		{Type: "processing", Output: "Searching Jira..."},
		{Type: "done", Output: "echo {{query}} [{{history}}]"},
	}})
	srv.AddAgent("approver", promptevtest.Agent{
		Script:    []promptevtest.Event{{Type: "approval_required", Output: "Create ticket?", Tool: "jira.create", Arguments: map[string]any{"title": "VPN"}, ApprovalID: "ap-7"}},
		OnApprove: []promptevtest.Event{{Type: "processing", Output: "creating"}, {Type: "done", Output: "created"}},
	})
	all := append([]promptev.Option{promptev.WithBaseURL(srv.URL), promptev.WithRetryBackoff(time.Millisecond, 2*time.Millisecond)}, opts...)
	c, err := promptev.New(key, all...)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return srv, c
}

// drain reads a stream to its end and returns the events and the final error.
func drain(t *testing.T, st *promptev.Stream) ([]promptev.AgentEvent, error) {
	t.Helper()
	var evs []promptev.AgentEvent
	for {
		ev, err := st.Next()
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func outputs(evs []promptev.AgentEvent) []string {
	if len(evs) == 0 {
		return nil
	}
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type + ":" + e.Output
	}
	return out
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name string
		key  string
		opts []promptev.Option
		want string
	}{
		{name: "ok", key: key},
		{name: "missing key", key: "", want: "project key is missing"},
		{name: "key with space", key: "pk abc", want: "malformed"},
		{name: "key with newline", key: "pk_abc\n", want: "malformed"},
		{name: "unexpanded env", key: "${PROMPTEV_PROJECT_KEY}", want: "malformed"},
		{name: "huge key", key: strings.Repeat("k", 600), want: "malformed"},
		{name: "bad base url", key: key, opts: []promptev.Option{promptev.WithBaseURL("api.promptev.ai")}, want: "absolute http"},
		{name: "base url query", key: key, opts: []promptev.Option{promptev.WithBaseURL("https://x/?a=b")}, want: "must not carry"},
		{name: "zero values keep defaults", key: key, opts: []promptev.Option{promptev.WithTimeout(0), promptev.WithIdleTimeout(0), promptev.WithMaxEventSize(0), promptev.WithBaseURL("")}},
		{name: "negative timeout", key: key, opts: []promptev.Option{promptev.WithTimeout(-time.Second)}, want: "timeout must not be negative"},
		{name: "negative retries", key: key, opts: []promptev.Option{promptev.WithMaxRetries(-1)}, want: "must not be negative"},
		{name: "bad header name", key: key, opts: []promptev.Option{promptev.WithHeaders(map[string]string{"Bad Header": "x"})}, want: "header name"},
		{name: "bad header value", key: key, opts: []promptev.Option{promptev.WithHeaders(map[string]string{"X-A": "a\r\nb"})}, want: "invalid value"},
		{name: "nil http client", key: key, opts: []promptev.Option{promptev.WithHTTPClient(nil)}, want: "nil"},
		{name: "path auth needs project_key", key: key, opts: []promptev.Option{promptev.WithAuth(promptev.AuthPath())}, want: "{project_key}"},
		{name: "endpoint without agent", key: key, opts: []promptev.Option{promptev.WithEndpoints(promptev.Endpoints{Stream: "/stream"})}, want: "{agent_id}"},
		{name: "endpoint relative", key: key, opts: []promptev.Option{promptev.WithEndpoints(promptev.Endpoints{Start: "v1/{agent_id}"})}, want: "start with /"},
		{name: "endpoint unknown placeholder", key: key, opts: []promptev.Option{promptev.WithEndpoints(promptev.Endpoints{Start: "/v1/{agent}/{agent_id}"})}, want: "unknown placeholder"},
		{name: "bad auth header", key: key, opts: []promptev.Option{promptev.WithAuth(promptev.AuthHeader("X Key"))}, want: "not a valid HTTP header"},
		{name: "bad idle", key: key, opts: []promptev.Option{promptev.WithIdleTimeout(-time.Second)}, want: "idle timeout"},
		{name: "bad backoff", key: key, opts: []promptev.Option{promptev.WithRetryBackoff(time.Second, time.Millisecond)}, want: "backoff"},
		{name: "bad max event", key: key, opts: []promptev.Option{promptev.WithMaxEventSize(-1)}, want: "max event size"},
		{name: "huge max event", key: key, opts: []promptev.Option{promptev.WithMaxEventSize(math.MaxInt)}, want: "max event size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := promptev.New(tt.key, tt.opts...)
			if tt.want == "" {
				require.NoError(t, err)
				require.NotNil(t, c)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			if tt.key != "" && tt.key != key {
				assert.NotContains(t, err.Error(), tt.key, "the key is never echoed")
			}
		})
	}
}

func TestParseAuth(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "bearer", want: "bearer"},
		{in: "", want: "bearer"},
		{in: "path", want: "path"},
		{in: "header:X-Api-Key", want: "header:X-Api-Key"},
		{in: "header:", wantErr: true},
		{in: "header:Bad Name", wantErr: true},
		{in: "query", wantErr: true},
		{in: "Bearer", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			a, err := promptev.ParseAuth(tt.in)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, a.String())
		})
	}
}

func TestTrigger(t *testing.T) {
	srv, c := setup(t, promptev.WithHeaders(map[string]string{"X-Team": "ops", "Authorization": "ignored"}))
	ctx := t.Context()

	res, err := c.Trigger(ctx, "echo", "hello", promptev.TriggerOptions{Variables: map[string]any{"company": "Acme"}, Visitor: "slack:T1:U1"})
	require.NoError(t, err)
	assert.Equal(t, "echo hello []", res.Response)
	require.NotEmpty(t, res.SessionID)
	assert.JSONEq(t, `{"response":"echo hello []","session_id":"`+res.SessionID+`"}`, string(res.Raw))

	res2, err := c.Trigger(ctx, "echo", "again", promptev.TriggerOptions{SessionID: res.SessionID})
	require.NoError(t, err)
	assert.Equal(t, "echo again [hello]", res2.Response)
	assert.Equal(t, res.SessionID, res2.SessionID)

	reqs := srv.Requests()
	require.Len(t, reqs, 2)
	r := reqs[0]
	assert.Equal(t, http.MethodPost, r.Method)
	assert.Equal(t, "/api/sdk/v1/agent/echo/trigger", r.Path)
	assert.JSONEq(t, `{"message":"hello","variables":{"company":"Acme"},"visitor":"slack:T1:U1"}`, string(r.Body))
	assert.Equal(t, "Bearer "+key, r.Header.Get("Authorization"), "extra headers cannot replace auth")
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(t, "application/json", r.Header.Get("Accept"))
	assert.Equal(t, "ops", r.Header.Get("X-Team"))
	assert.Contains(t, r.Header.Get("User-Agent"), "promptev-go/")
	assert.JSONEq(t, `{"message":"again","session_id":"`+res.SessionID+`"}`, string(reqs[1].Body))
}

func TestTriggerErrors(t *testing.T) {
	srv, c := setup(t)
	srv.AddAgent("broken", promptevtest.Agent{Script: []promptevtest.Event{{Type: "error", Output: "tool crashed"}}})
	ctx := t.Context()

	_, err := c.Trigger(ctx, "nobody", "x", promptev.TriggerOptions{})
	var nf *promptev.NotFoundError
	require.ErrorAs(t, err, &nf)
	assert.Equal(t, 404, nf.StatusCode)
	assert.Contains(t, nf.ResponseText, "agent not found")

	_, err = c.Trigger(ctx, "echo", "x", promptev.TriggerOptions{SessionID: "lost"})
	require.ErrorAs(t, err, &nf)

	_, err = c.Trigger(ctx, "broken", "x", promptev.TriggerOptions{})
	var se *promptev.ServerError
	require.ErrorAs(t, err, &se)
	assert.Contains(t, err.Error(), "tool crashed")

	for _, bad := range [][2]string{{"", "x"}, {"echo", ""}} {
		_, err = c.Trigger(ctx, bad[0], bad[1], promptev.TriggerOptions{})
		var ve *promptev.ValidationError
		require.ErrorAs(t, err, &ve)
	}
	assert.Len(t, srv.Requests(), 3, "invalid arguments are rejected before sending")
}

func TestStart(t *testing.T) {
	srv, c := setup(t)
	sess, err := c.Start(t.Context(), "echo", promptev.StartOptions{Visitor: "discord:123", Platform: "discord"})
	require.NoError(t, err)
	assert.Equal(t, "echo", sess.AgentID)
	assert.Equal(t, "Echo", sess.Name)
	assert.True(t, sess.MemoryEnabled)
	assert.NotEmpty(t, sess.SessionToken)
	assert.Empty(t, sess.Messages)
	reqs := srv.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "/api/sdk/v1/agent/echo/start", reqs[0].Path)
	assert.JSONEq(t, `{"visitor":"discord:123","platform":"discord"}`, string(reqs[0].Body))

	_, err = c.Start(t.Context(), "echo", promptev.StartOptions{})
	require.NoError(t, err)
	assert.JSONEq(t, `{}`, string(srv.Requests()[1].Body))
}

// TestStartResponseShapes checks the alias, unknown fields and bad answers
// against a hand-written server.
func TestStartResponseShapes(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    promptev.AgentSession
		wantErr string
	}{
		{name: "chatbot_id alias", body: `{"session_token":"s1","chatbot_id":"bot","name":"B","memory_enabled":false,"messages":[{"role":"user","content":"hi"}],"extra":1}`,
			want: promptev.AgentSession{SessionToken: "s1", AgentID: "bot", Name: "B", Messages: []json.RawMessage{json.RawMessage(`{"role":"user","content":"hi"}`)}}},
		{name: "no token", body: `{"agent_id":"a"}`, wantErr: "no session_token"},
		{name: "not json", body: `<html>`, wantErr: "unusable response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, tt.body)
			}))
			defer ts.Close()
			c, err := promptev.New(key, promptev.WithBaseURL(ts.URL))
			require.NoError(t, err)
			sess, err := c.Start(t.Context(), "a", promptev.StartOptions{})
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				var base *promptev.Error
				require.ErrorAs(t, err, &base)
				assert.Equal(t, 200, base.StatusCode)
				return
			}
			require.NoError(t, err)
			assert.JSONEq(t, tt.body, string(sess.Raw))
			sess.Raw = nil
			assert.Equal(t, tt.want, *sess)
		})
	}
}

func TestStream(t *testing.T) {
	srv, c := setup(t)
	ctx := t.Context()
	sess, err := c.Start(ctx, "echo", promptev.StartOptions{})
	require.NoError(t, err)

	for i, q := range []string{"one", "two"} {
		st, err := c.Stream(ctx, "echo", sess.SessionToken, q)
		require.NoError(t, err)
		evs, err := drain(t, st)
		require.ErrorIs(t, err, io.EOF)
		want := []string{"thoughts:thinking", "processing:Searching Jira...", "done:echo one []"}
		if i == 1 {
			want[2] = "done:echo two [one]"
		}
		assert.Equal(t, want, outputs(evs))
		assert.True(t, evs[2].Terminal())
		assert.JSONEq(t, `{"type":"thoughts","output":"thinking"}`, string(evs[0].Raw))
		require.NoError(t, st.Close())
	}
	r := srv.Requests()[1]
	assert.Equal(t, "/api/sdk/v1/agent/echo/stream", r.Path)
	assert.Equal(t, "text/event-stream", r.Header.Get("Accept"))
	assert.JSONEq(t, `{"session_token":"`+sess.SessionToken+`","query":"one"}`, string(r.Body))

	for _, bad := range [][3]string{{"", "t", "q"}, {"echo", "", "q"}, {"echo", "t", ""}} {
		_, err := c.Stream(ctx, bad[0], bad[1], bad[2])
		var ve *promptev.ValidationError
		require.ErrorAs(t, err, &ve)
	}
}

func TestApprovalRoundTrip(t *testing.T) {
	for _, tt := range []struct{ query, want string }{{"approve", "done:created"}, {"deny", "done:Cancelled."}} {
		t.Run(tt.query, func(t *testing.T) {
			_, c := setup(t)
			ctx := t.Context()
			sess, err := c.Start(ctx, "approver", promptev.StartOptions{})
			require.NoError(t, err)
			st, err := c.Stream(ctx, "approver", sess.SessionToken, "make a ticket")
			require.NoError(t, err)
			evs, err := drain(t, st)
			require.ErrorIs(t, err, io.EOF)
			require.Len(t, evs, 1)
			ev := evs[0]
			assert.Equal(t, promptev.EventApprovalRequired, ev.Type)
			assert.Equal(t, "Create ticket?", ev.Output)
			assert.Equal(t, "jira.create", ev.Tool)
			assert.JSONEq(t, `{"title":"VPN"}`, string(ev.Arguments))
			assert.Equal(t, "ap-7", ev.ApprovalID)

			st, err = c.Stream(ctx, "approver", sess.SessionToken, tt.query)
			require.NoError(t, err)
			evs, err = drain(t, st)
			require.ErrorIs(t, err, io.EOF)
			assert.Equal(t, tt.want, outputs(evs)[len(evs)-1])
		})
	}
}

func TestStreamSessionLost(t *testing.T) {
	srv, c := setup(t)
	sess, err := c.Start(t.Context(), "echo", promptev.StartOptions{})
	require.NoError(t, err)
	srv.ForgetSessions()
	_, err = c.Stream(t.Context(), "echo", sess.SessionToken, "hi")
	var nf *promptev.NotFoundError
	require.ErrorAs(t, err, &nf)
	assert.Len(t, srv.Requests(), 2, "404 is not retried")
}

func TestAuthPlacements(t *testing.T) {
	pathEndpoints := promptev.Endpoints{
		Trigger: "/v1/{project_key}/agent/{agent_id}/trigger",
		Start:   "/v1/{project_key}/agent/{agent_id}/start",
		Stream:  "/v1/{project_key}/agent/{agent_id}/stream",
	}
	tests := []struct {
		name      string
		serverCfg string
		auth      promptev.Auth
		endpoints promptev.Endpoints
		check     func(t *testing.T, r promptevtest.Request)
	}{
		{name: "bearer", serverCfg: "bearer", auth: promptev.AuthBearer(), check: func(t *testing.T, r promptevtest.Request) {
			assert.Equal(t, "Bearer "+key, r.Header.Get("Authorization"))
		}},
		{name: "header", serverCfg: "header:X-Api-Key", auth: promptev.AuthHeader("X-Api-Key"), check: func(t *testing.T, r promptevtest.Request) {
			assert.Equal(t, key, r.Header.Get("X-Api-Key"))
			assert.Empty(t, r.Header.Get("Authorization"))
		}},
		{name: "path", serverCfg: "path", auth: promptev.AuthPath(), endpoints: pathEndpoints, check: func(t *testing.T, r promptevtest.Request) {
			assert.True(t, strings.HasPrefix(r.Path, "/v1/"+key+"/agent/echo/"), r.Path)
			assert.Empty(t, r.Header.Get("Authorization"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := setup(t, promptev.WithAuth(tt.auth), promptev.WithEndpoints(tt.endpoints))
			require.NoError(t, srv.SetAuth(tt.serverCfg))
			srv.SetEndpoints(promptevtest.Endpoints(tt.endpoints))
			ctx := t.Context()
			sess, err := c.Start(ctx, "echo", promptev.StartOptions{})
			require.NoError(t, err)
			st, err := c.Stream(ctx, "echo", sess.SessionToken, "hi")
			require.NoError(t, err)
			_, err = drain(t, st)
			require.ErrorIs(t, err, io.EOF)
			_, err = c.Trigger(ctx, "echo", "hi", promptev.TriggerOptions{})
			require.NoError(t, err)
			for _, r := range srv.Requests() {
				tt.check(t, r)
			}

			// A wrong key is refused with 401, and the key never shows in the error.
			bad, err := promptev.New("pk_wrong_key", promptev.WithBaseURL(srv.URL), promptev.WithAuth(tt.auth), promptev.WithEndpoints(tt.endpoints))
			require.NoError(t, err)
			_, err = bad.Start(ctx, "echo", promptev.StartOptions{})
			var ae *promptev.AuthenticationError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, 401, ae.StatusCode)
			assert.NotContains(t, err.Error(), "pk_wrong_key")
		})
	}
}

func TestAgentIDIsPathEscaped(t *testing.T) {
	srv, c := setup(t)
	srv.AddAgent("a/b c", promptevtest.Agent{})
	_, err := c.Start(t.Context(), "a/b c", promptev.StartOptions{})
	require.NoError(t, err)
	assert.Equal(t, "/api/sdk/v1/agent/a%2Fb%20c/start", srv.Requests()[0].Path)
}

func TestBaseURLWithPrefix(t *testing.T) {
	srv := promptevtest.NewServer(key)
	defer srv.Close()
	srv.AddAgent("echo", promptevtest.Agent{})
	srv.SetEndpoints(promptevtest.Endpoints{Start: "/prefix/api/sdk/v1/agent/{agent_id}/start"})
	c, err := promptev.New(key, promptev.WithBaseURL(srv.URL+"/prefix/"))
	require.NoError(t, err)
	_, err = c.Start(t.Context(), "echo", promptev.StartOptions{})
	require.NoError(t, err)
}

// TestStatusErrors checks the mapping of each status to its typed error.
func TestStatusErrors(t *testing.T) {
	tests := []struct {
		status int
		check  func(error) bool
	}{
		{400, func(err error) bool { var e *promptev.ValidationError; return errors.As(err, &e) }},
		{422, func(err error) bool { var e *promptev.ValidationError; return errors.As(err, &e) }},
		{401, func(err error) bool { var e *promptev.AuthenticationError; return errors.As(err, &e) }},
		{403, func(err error) bool { var e *promptev.AuthenticationError; return errors.As(err, &e) }},
		{404, func(err error) bool { var e *promptev.NotFoundError; return errors.As(err, &e) }},
		{429, func(err error) bool {
			var e *promptev.RateLimitError
			return errors.As(err, &e) && e.RetryAfter == 7*time.Second
		}},
		{500, func(err error) bool { var e *promptev.ServerError; return errors.As(err, &e) }},
		{502, func(err error) bool { var e *promptev.ServerError; return errors.As(err, &e) }},
		{409, func(err error) bool { var e *promptev.ServerError; return !errors.As(err, &e) }},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv, c := setup(t, promptev.WithMaxRetries(0))
			srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultStatus, Status: tt.status, RetryAfter: 7 * time.Second, Body: `{"detail":"nope"}`})
			calls := map[string]func() error{
				"trigger": func() error { _, err := c.Trigger(t.Context(), "echo", "x", promptev.TriggerOptions{}); return err },
				"start":   func() error { _, err := c.Start(t.Context(), "echo", promptev.StartOptions{}); return err },
				"stream":  func() error { _, err := c.Stream(t.Context(), "echo", "tok", "x"); return err },
			}
			for name, call := range calls {
				err := call()
				require.Error(t, err, name)
				assert.True(t, tt.check(err), "%s: %T %v", name, err, err)
				var base *promptev.Error
				require.ErrorAs(t, err, &base)
				assert.Equal(t, tt.status, base.StatusCode)
				assert.Equal(t, `{"detail":"nope"}`, base.ResponseText)
				assert.Contains(t, err.Error(), name+":")
			}
		})
	}
}

func TestErrorBodyIsCapped(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		_, _ = io.WriteString(w, strings.Repeat("e", 1<<20))
	}))
	defer ts.Close()
	c, err := promptev.New(key, promptev.WithBaseURL(ts.URL))
	require.NoError(t, err)
	_, err = c.Start(t.Context(), "a", promptev.StartOptions{})
	var base *promptev.Error
	require.ErrorAs(t, err, &base)
	assert.LessOrEqual(t, len(base.ResponseText), 4<<10+3)
}

func TestUnaryBodyIsCapped(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"response":"`+strings.Repeat("r", 5000)+`"}`)
	}))
	defer ts.Close()
	c, err := promptev.New(key, promptev.WithBaseURL(ts.URL), promptev.WithMaxEventSize(1000))
	require.NoError(t, err)
	_, err = c.Trigger(t.Context(), "a", "m", promptev.TriggerOptions{})
	require.ErrorIs(t, err, promptev.ErrEventTooLarge)
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name       string
		fault      promptevtest.Fault
		maxRetries int
		wantCalls  int
		wantErr    func(error) bool
	}{
		{name: "503 twice then success", fault: promptevtest.Fault{Kind: promptevtest.FaultStatus, Status: 503, Times: 2}, maxRetries: 2, wantCalls: 3},
		{name: "502 once", fault: promptevtest.Fault{Kind: promptevtest.FaultStatus, Status: 502, Times: 1}, maxRetries: 2, wantCalls: 2},
		{name: "504 beyond max retries", fault: promptevtest.Fault{Kind: promptevtest.FaultStatus, Status: 504, Times: 5}, maxRetries: 2, wantCalls: 3,
			wantErr: func(err error) bool { var e *promptev.ServerError; return errors.As(err, &e) && e.StatusCode == 504 }},
		{name: "no retries configured", fault: promptevtest.Fault{Kind: promptevtest.FaultStatus, Status: 503, Times: 1}, maxRetries: 0, wantCalls: 1,
			wantErr: func(err error) bool { var e *promptev.ServerError; return errors.As(err, &e) }},
		{name: "500 is not retried", fault: promptevtest.Fault{Kind: promptevtest.FaultStatus, Status: 500, Times: 1}, maxRetries: 2, wantCalls: 1,
			wantErr: func(err error) bool { var e *promptev.ServerError; return errors.As(err, &e) }},
		{name: "429 is not retried", fault: promptevtest.Fault{Kind: promptevtest.FaultRateLimit, Times: 1, RetryAfter: 2 * time.Second}, maxRetries: 2, wantCalls: 1,
			wantErr: func(err error) bool {
				var e *promptev.RateLimitError
				return errors.As(err, &e) && e.RetryAfter == 2*time.Second
			}},
		{name: "retry-after too long", fault: promptevtest.Fault{Kind: promptevtest.FaultStatus, Status: 503, Times: 1, RetryAfter: time.Hour}, maxRetries: 2, wantCalls: 1,
			wantErr: func(err error) bool { var e *promptev.ServerError; return errors.As(err, &e) }},
	}
	for _, tt := range tests {
		for _, call := range []string{"trigger", "start", "stream"} {
			t.Run(tt.name+"/"+call, func(t *testing.T) {
				srv, c := setup(t, promptev.WithMaxRetries(tt.maxRetries))
				ctx := t.Context()
				tok := ""
				if call == "stream" {
					sess, err := c.Start(ctx, "echo", promptev.StartOptions{})
					require.NoError(t, err)
					tok = sess.SessionToken
					srv.ResetRequests()
				}
				srv.InjectFault(tt.fault)
				var err error
				switch call {
				case "trigger":
					_, err = c.Trigger(ctx, "echo", "x", promptev.TriggerOptions{})
				case "start":
					_, err = c.Start(ctx, "echo", promptev.StartOptions{})
				case "stream":
					var st *promptev.Stream
					st, err = c.Stream(ctx, "echo", tok, "x")
					if err == nil {
						_, err = drain(t, st)
						require.ErrorIs(t, err, io.EOF)
						err = nil
					}
				}
				if tt.wantErr == nil {
					require.NoError(t, err)
				} else {
					require.Error(t, err)
					assert.True(t, tt.wantErr(err), "%T %v", err, err)
				}
				reqs := srv.Requests()
				assert.Len(t, reqs, tt.wantCalls)
				for _, r := range reqs[1:] {
					assert.Equal(t, reqs[0].Body, r.Body, "a retry resends the same body")
				}
			})
		}
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	srv, c := setup(t, promptev.WithRetryBackoff(time.Millisecond, time.Millisecond))
	srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultStatus, Status: 503, Times: 1, RetryAfter: time.Second})
	start := time.Now()
	_, err := c.Start(t.Context(), "echo", promptev.StartOptions{})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "the retry waited for Retry-After, not the 1 ms backoff")
	assert.Len(t, srv.Requests(), 2)
}

func TestRetryWaitIsCancellable(t *testing.T) {
	srv, c := setup(t, promptev.WithRetryBackoff(time.Hour, time.Hour))
	srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultStatus, Status: 503})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := c.Start(ctx, "echo", promptev.StartOptions{})
		done <- err
	}()
	require.Eventually(t, func() bool { return len(srv.Requests()) == 1 }, 10*time.Second, time.Millisecond)
	cancel()
	err := <-done
	require.ErrorIs(t, err, context.Canceled)
	var ne *promptev.NetworkError
	require.ErrorAs(t, err, &ne)
}

func TestNetworkErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now

	c, err := promptev.New(key, promptev.WithBaseURL("http://"+addr), promptev.WithAuth(promptev.AuthPath()),
		promptev.WithEndpoints(promptev.Endpoints{
			Trigger: "/{project_key}/{agent_id}/trigger", Start: "/{project_key}/{agent_id}/start", Stream: "/{project_key}/{agent_id}/stream",
		}))
	require.NoError(t, err)
	_, err = c.Start(t.Context(), "a", promptev.StartOptions{})
	var ne *promptev.NetworkError
	require.ErrorAs(t, err, &ne)
	var base *promptev.Error
	require.ErrorAs(t, err, &base)
	assert.Zero(t, base.StatusCode)
	assert.NotContains(t, err.Error(), key, "the key in the URL path never shows in errors")
	var op *net.OpError
	assert.ErrorAs(t, err, &op)
}

func TestUnaryTimeout(t *testing.T) {
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer ts.Close()
	defer close(release)
	c, err := promptev.New(key, promptev.WithBaseURL(ts.URL), promptev.WithTimeout(50*time.Millisecond))
	require.NoError(t, err)
	_, err = c.Trigger(t.Context(), "a", "m", promptev.TriggerOptions{})
	var ne *promptev.NetworkError
	require.ErrorAs(t, err, &ne)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	_, err = c.Stream(t.Context(), "a", "tok", "q")
	require.ErrorAs(t, err, &ne)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "no response headers")
}

// TestStreamOutlivesTimeout checks that the client timeout does not cut a
// stream whose headers arrived in time.
func TestStreamOutlivesTimeout(t *testing.T) {
	srv, c := setup(t, promptev.WithTimeout(100*time.Millisecond))
	srv.AddAgent("slow", promptevtest.Agent{Script: []promptevtest.Event{
		{Type: "thoughts", Output: "t"},
		{Type: "done", Output: "late", Delay: 300 * time.Millisecond},
	}})
	sess, err := c.Start(t.Context(), "slow", promptev.StartOptions{})
	require.NoError(t, err)
	st, err := c.Stream(t.Context(), "slow", sess.SessionToken, "q")
	require.NoError(t, err)
	evs, err := drain(t, st)
	require.ErrorIs(t, err, io.EOF)
	assert.Equal(t, []string{"thoughts:t", "done:late"}, outputs(evs))
}

// countingTransport counts the requests sent through it.
type countingTransport struct {
	n    int
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n++
	return c.next.RoundTrip(r)
}

func TestWithHTTPClient(t *testing.T) {
	tr := &countingTransport{next: http.DefaultTransport}
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	_, c := setup(t, promptev.WithHTTPClient(&http.Client{Transport: tr}))
	_, err := c.Start(t.Context(), "echo", promptev.StartOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, tr.n)
}

func TestNoRetryAfterStreamBytes(t *testing.T) {
	srv, c := setup(t, promptev.WithMaxRetries(5))
	sess, err := c.Start(t.Context(), "echo", promptev.StartOptions{})
	require.NoError(t, err)
	srv.ResetRequests()
	srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultDisconnect, AfterEvents: 1})
	st, err := c.Stream(t.Context(), "echo", sess.SessionToken, "q")
	require.NoError(t, err)
	evs, err := drain(t, st)
	require.ErrorIs(t, err, promptev.ErrIncompleteStream)
	assert.Len(t, evs, 1)
	assert.Len(t, srv.Requests(), 1, "a stream that broke after its first bytes is never resent")
}
