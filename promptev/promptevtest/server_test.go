package promptevtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

const testKey = "pk_test_123"

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// call posts body to path with the bearer key and returns status and body.
func call(t *testing.T, s *Server, path string, body any, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+path, bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(out)
}

func start(t *testing.T, s *Server, agent string) string {
	t.Helper()
	code, _, body := call(t, s, "/api/sdk/v1/agent/"+agent+"/start", map[string]string{"visitor": "slack:T1:U1", "platform": "slack"}, nil)
	require.Equal(t, http.StatusOK, code, body)
	var resp struct {
		SessionToken string `json:"session_token"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &resp))
	require.NotEmpty(t, resp.SessionToken)
	return resp.SessionToken
}

func stream(t *testing.T, s *Server, agent, token, query string) (int, string) {
	t.Helper()
	code, _, body := call(t, s, "/api/sdk/v1/agent/"+agent+"/stream", map[string]string{"session_token": token, "query": query}, nil)
	return code, body
}

func TestStartAndStream(t *testing.T) {
	s := NewServer(testKey)
	defer s.Close()
	s.AddAgent("a1", Agent{Name: "Helper", MemoryEnabled: true, Script: []Event{
		{Type: TypeThoughts, Output: "thinking about {{query}}"},
		{Type: TypeDone, Output: "answer to {{query}} after [{{history}}]"},
	}})

	code, _, body := call(t, s, "/api/sdk/v1/agent/a1/start", map[string]string{}, nil)
	require.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"session_token":"`+mustToken(t, body)+`","agent_id":"a1","name":"Helper","memory_enabled":true,"messages":[]}`, body)

	tok := start(t, s, "a1")
	code, body = stream(t, s, "a1", tok, "one")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "data: {\"type\":\"thoughts\",\"output\":\"thinking about one\"}\n\n"+
		"data: {\"type\":\"done\",\"output\":\"answer to one after []\"}\n\n", body)
	_, body = stream(t, s, "a1", tok, "two")
	assert.Contains(t, body, `"answer to two after [one]"`)
	_, body = stream(t, s, "a1", tok, "three")
	assert.Contains(t, body, `"answer to three after [one | two]"`)
	assert.Equal(t, 2, s.SessionCount())
}

func mustToken(t *testing.T, body string) string {
	var r struct {
		SessionToken string `json:"session_token"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &r))
	return r.SessionToken
}

func TestNoMemoryHidesHistory(t *testing.T) {
	s := NewServer(testKey)
	defer s.Close()
	var seen [][]string
	s.AddAgent("a", Agent{Respond: func(tr Turn) []Event {
		seen = append(seen, tr.History)
		return []Event{{Type: TypeDone, Output: "[{{history}}]"}}
	}})
	tok := start(t, s, "a")
	_, _ = stream(t, s, "a", tok, "x")
	_, body := stream(t, s, "a", tok, "y")
	assert.Contains(t, body, `"[]"`)
	assert.Equal(t, [][]string{nil, nil}, seen)
}

func TestApprovalRoundTrip(t *testing.T) {
	tests := []struct {
		name, query, want string
		onApprove, onDeny []Event
	}{
		{name: "approve default", query: "approve", want: `"Approved."`},
		{name: "deny default", query: "deny", want: `"Cancelled."`},
		{name: "approve scripted", query: "approve", want: `"created"`, onApprove: []Event{{Type: TypeDone, Output: "created"}}},
		{name: "deny scripted", query: "deny", want: `"not created"`, onDeny: []Event{{Type: TypeDone, Output: "not created"}}},
		{name: "deny with a reason", query: "deny: wrong project", want: `"heard deny: wrong project"`,
			onDeny: []Event{{Type: TypeDone, Output: "heard {{query}}"}}},
		{name: "deny-like text is a new turn", query: "denying", want: `"approval_required"`},
		{name: "other text is a new turn", query: "hello", want: `"approval_required"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(testKey)
			defer s.Close()
			s.AddAgent("a", Agent{
				Script:    []Event{{Type: TypeApprovalRequired, Output: "ok?", Tool: "jira", Arguments: map[string]any{"p": "X"}, ApprovalID: "ap1"}},
				OnApprove: tt.onApprove, OnDeny: tt.onDeny,
			})
			tok := start(t, s, "a")
			_, body := stream(t, s, "a", tok, "do it")
			assert.Equal(t, `data: {"type":"approval_required","output":"ok?","tool":"jira","arguments":{"p":"X"},"approval_id":"ap1"}`+"\n\n", body)
			_, body = stream(t, s, "a", tok, tt.query)
			assert.Contains(t, body, tt.want)
		})
	}
}

func TestCustomApprovalQueries(t *testing.T) {
	s := NewServer(testKey)
	defer s.Close()
	s.SetApprovalQueries("yes", "no")
	s.AddAgent("a", Agent{Script: []Event{{Type: TypeApprovalRequired, Output: "ok?"}}})
	tok := start(t, s, "a")
	_, _ = stream(t, s, "a", tok, "go")
	_, body := stream(t, s, "a", tok, "no")
	assert.Contains(t, body, `"Cancelled."`)
}

func TestAuth(t *testing.T) {
	tests := []struct {
		name   string
		auth   string
		eps    Endpoints
		path   string
		header map[string]string
		want   int
	}{
		{name: "bearer ok", auth: "bearer", path: "/api/sdk/v1/agent/a/start", want: 200},
		{name: "bearer wrong", auth: "bearer", path: "/api/sdk/v1/agent/a/start", header: map[string]string{"Authorization": "Bearer nope"}, want: 401},
		{name: "bearer missing", auth: "bearer", path: "/api/sdk/v1/agent/a/start", header: map[string]string{"Authorization": ""}, want: 401},
		{name: "header ok", auth: "header:X-Api-Key", path: "/api/sdk/v1/agent/a/start", header: map[string]string{"Authorization": "", "X-Api-Key": testKey}, want: 200},
		{name: "header ignores bearer", auth: "header:X-Api-Key", path: "/api/sdk/v1/agent/a/start", want: 401},
		{name: "path ok", auth: "path", eps: Endpoints{Start: "/v1/{project_key}/agent/{agent_id}/start"}, path: "/v1/" + testKey + "/agent/a/start", header: map[string]string{"Authorization": ""}, want: 200},
		{name: "path wrong", auth: "path", eps: Endpoints{Start: "/v1/{project_key}/agent/{agent_id}/start"}, path: "/v1/bad/agent/a/start", want: 401},
		{name: "unknown endpoint", auth: "bearer", path: "/nope", want: 404},
		{name: "unknown agent", auth: "bearer", path: "/api/sdk/v1/agent/zz/start", want: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(testKey)
			defer s.Close()
			s.AddAgent("a", Agent{})
			require.NoError(t, s.SetAuth(tt.auth))
			s.SetEndpoints(tt.eps)
			code, _, body := call(t, s, tt.path, map[string]string{}, tt.header)
			assert.Equal(t, tt.want, code, body)
		})
	}
	s := NewServer(testKey)
	defer s.Close()
	assert.Error(t, s.SetAuth("cookie"))
	assert.Error(t, s.SetAuth("header:"))
}

func TestSessionsAndValidation(t *testing.T) {
	s := NewServer(testKey)
	defer s.Close()
	s.AddAgent("a", Agent{})
	s.AddAgent("b", Agent{})
	tok := start(t, s, "a")

	code, body := stream(t, s, "a", "pvs_unknown", "hi")
	assert.Equal(t, 404, code, body)
	code, _ = stream(t, s, "b", tok, "hi")
	assert.Equal(t, 404, code, "a session belongs to its agent")
	code, _ = stream(t, s, "a", tok, "")
	assert.Equal(t, 422, code)
	code, body = stream(t, s, "a", tok, "hi")
	assert.Equal(t, 200, code)
	assert.Contains(t, body, "You said: hi")

	s.ForgetSessions()
	assert.Equal(t, 0, s.SessionCount())
	code, _ = stream(t, s, "a", tok, "hi")
	assert.Equal(t, 404, code)

	code, _, _ = call(t, s, "/api/sdk/v1/agent/a/start", "not an object", nil)
	assert.Equal(t, 400, code)
}

func TestTrigger(t *testing.T) {
	s := NewServer(testKey)
	defer s.Close()
	s.AddAgent("a", Agent{MemoryEnabled: true, Script: []Event{
		{Type: TypeProcessing, Output: "working", Delay: time.Millisecond},
		{Type: TypeDone, Output: "re: {{query}} [{{history}}]"},
	}})
	s.AddAgent("bad", Agent{Script: []Event{{Type: TypeError, Output: "agent failed"}}})

	code, _, body := call(t, s, "/api/sdk/v1/agent/a/trigger", map[string]any{"message": "hi", "variables": map[string]any{"x": 1}, "visitor": "v"}, nil)
	require.Equal(t, 200, code, body)
	var r struct {
		Response  string `json:"response"`
		SessionID string `json:"session_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &r))
	assert.Equal(t, "re: hi []", r.Response)
	require.NotEmpty(t, r.SessionID)

	code, _, body = call(t, s, "/api/sdk/v1/agent/a/trigger", map[string]any{"message": "again", "session_id": r.SessionID}, nil)
	require.Equal(t, 200, code)
	assert.Contains(t, body, `"re: again [hi]"`)

	code, _, _ = call(t, s, "/api/sdk/v1/agent/a/trigger", map[string]any{"message": "x", "session_id": "nope"}, nil)
	assert.Equal(t, 404, code)
	code, _, _ = call(t, s, "/api/sdk/v1/agent/a/trigger", map[string]any{}, nil)
	assert.Equal(t, 422, code)
	code, _, body = call(t, s, "/api/sdk/v1/agent/bad/trigger", map[string]any{"message": "x"}, nil)
	assert.Equal(t, 500, code)
	assert.Contains(t, body, "agent failed")
}

func TestStatusFaults(t *testing.T) {
	s := NewServer(testKey)
	defer s.Close()
	s.AddAgent("a", Agent{})
	s.InjectFault(Fault{Kind: FaultStatus, Status: 503, Times: 2, RetryAfter: 1500 * time.Millisecond})
	s.InjectFault(Fault{Kind: FaultRateLimit, Times: 1, RetryAfter: 3 * time.Second, Call: CallTrigger})

	for range 2 {
		code, h, _ := call(t, s, "/api/sdk/v1/agent/a/start", map[string]any{}, nil)
		assert.Equal(t, 503, code)
		assert.Equal(t, "2", h.Get("Retry-After"))
	}
	code, _, _ := call(t, s, "/api/sdk/v1/agent/a/start", map[string]any{}, nil)
	assert.Equal(t, 200, code, "the fault applied twice only")
	code, h, _ := call(t, s, "/api/sdk/v1/agent/a/trigger", map[string]any{"message": "m"}, nil)
	assert.Equal(t, 429, code)
	assert.Equal(t, "3", h.Get("Retry-After"))
	code, _, _ = call(t, s, "/api/sdk/v1/agent/a/trigger", map[string]any{"message": "m"}, nil)
	assert.Equal(t, 200, code)

	s.InjectFault(Fault{Kind: FaultStatus, Status: 502, Agent: "other"})
	code, _, _ = call(t, s, "/api/sdk/v1/agent/a/start", map[string]any{}, nil)
	assert.Equal(t, 200, code, "a fault for another agent does not apply")
	s.ClearFaults()

	reqs := s.Requests()
	require.Len(t, reqs, 6)
	assert.Equal(t, "/api/sdk/v1/agent/a/start", reqs[0].Path)
	assert.Equal(t, http.MethodPost, reqs[0].Method)
	assert.Equal(t, "Bearer "+testKey, reqs[0].Header.Get("Authorization"))
	assert.JSONEq(t, `{"message":"m"}`, string(reqs[3].Body))
	s.ResetRequests()
	assert.Empty(t, s.Requests())
}

func TestStreamFaults(t *testing.T) {
	script := []Event{{Type: TypeThoughts, Output: "t"}, {Type: TypeProcessing, Output: "p"}, {Type: TypeDone, Output: "d"}}
	ev := func(e Event, eol Framing) string { return string(EncodeEvent(e, eol)) }
	tests := []struct {
		name  string
		fault Fault
		want  string
	}{
		{name: "crlf", fault: Fault{Kind: FaultFraming, Framing: FramingCRLF}, want: "data: {\"type\":\"thoughts\",\"output\":\"t\"}\r\n\r\n" + ev(script[1], FramingCRLF) + ev(script[2], FramingCRLF)},
		{name: "cr", fault: Fault{Kind: FaultFraming, Framing: FramingCR}, want: ev(script[0], FramingCR) + ev(script[1], FramingCR) + ev(script[2], FramingCR)},
		{name: "eof without done", fault: Fault{Kind: FaultEOFWithoutDone}, want: ev(script[0], "") + ev(script[1], "")},
		{name: "malformed", fault: Fault{Kind: FaultMalformed, AfterEvents: 1}, want: ev(script[0], "") + "data: {\"type\": \"thoughts\", \"output\": \"unterminated\n\n" + ev(script[1], "") + ev(script[2], "")},
		{name: "slow drip", fault: Fault{Kind: FaultSlowDrip}, want: ev(script[0], "") + ev(script[1], "") + ev(script[2], "")},
		{name: "huge", fault: Fault{Kind: FaultHugeEvent, Size: 3 << 20, AfterEvents: 2}, want: ev(script[0], "") + ev(script[1], "") + ev(Event{Type: TypeThoughts, Output: hugeOutput(3 << 20)}, "") + ev(script[2], "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(testKey)
			defer s.Close()
			s.AddAgent("a", Agent{Script: script})
			s.InjectFault(tt.fault)
			tok := start(t, s, "a")
			code, body := stream(t, s, "a", tok, "q")
			require.Equal(t, 200, code)
			assert.Equal(t, tt.want, body)
		})
	}
}

func TestDisconnectMidEvent(t *testing.T) {
	s := NewServer(testKey)
	defer s.Close()
	s.AddAgent("a", Agent{Script: []Event{{Type: TypeThoughts, Output: "t"}, {Type: TypeDone, Output: "done"}}})
	s.InjectFault(Fault{Kind: FaultDisconnect, AfterEvents: 1, Times: 1})
	tok := start(t, s, "a")
	b, _ := json.Marshal(map[string]string{"session_token": tok, "query": "q"})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/api/sdk/v1/agent/a/stream", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.Error(t, err, "the connection is cut")
	full := string(EncodeEvent(Event{Type: TypeDone, Output: "done"}, ""))
	assert.Equal(t, string(EncodeEvent(Event{Type: TypeThoughts, Output: "t"}, ""))+full[:len(full)/2], string(got))
}

func TestStallUntilClientLeaves(t *testing.T) {
	s := NewServer(testKey)
	defer s.Close()
	s.AddAgent("a", Agent{Script: []Event{{Type: TypeThoughts, Output: "t"}, {Type: TypeDone, Output: "d"}}})
	s.InjectFault(Fault{Kind: FaultStall, AfterEvents: 1})
	tok := start(t, s, "a")
	ctx, cancel := context.WithCancel(t.Context())
	b, _ := json.Marshal(map[string]string{"session_token": tok, "query": "q"})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/api/sdk/v1/agent/a/stream", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	first := string(EncodeEvent(Event{Type: TypeThoughts, Output: "t"}, ""))
	buf := make([]byte, len(first))
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	assert.Equal(t, first, string(buf))
	cancel()
	_, err = resp.Body.Read(buf)
	assert.Error(t, err)
}

func TestStallEndsOnClose(t *testing.T) {
	s := NewServer(testKey)
	s.AddAgent("a", Agent{Script: []Event{{Type: TypeDone, Output: "d", Delay: time.Hour}}})
	tok := start(t, s, "a")
	b, _ := json.Marshal(map[string]string{"session_token": tok, "query": "q"})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/api/sdk/v1/agent/a/stream", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	s.Close() // must not wait an hour
	_, _ = io.ReadAll(resp.Body)
	s.Close()
	http.DefaultClient.CloseIdleConnections()
}

func TestLoadScript(t *testing.T) {
	for _, name := range []string{"testdata/helpdesk.yaml", "testdata/echo.json"} {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(name)
			require.NoError(t, err)
			defer f.Close()
			a, err := LoadScript(f)
			require.NoError(t, err)
			assert.NotEmpty(t, a.Name)
			assert.True(t, a.MemoryEnabled)
			assert.NotEmpty(t, a.Script)
		})
	}
	f, err := os.ReadFile("testdata/helpdesk.yaml")
	require.NoError(t, err)
	a, err := LoadScript(bytes.NewReader(f))
	require.NoError(t, err)
	assert.Equal(t, Event{Type: TypeThoughts, Output: "Reading: {{query}}", Delay: 20 * time.Millisecond}, a.Script[0])
	assert.Equal(t, Event{Type: TypeApprovalRequired, Output: "Create a ticket for {{query}}?", Tool: "jira.create_issue",
		Arguments: map[string]any{"project": "HELP", "priority": 3}, ApprovalID: "ap-1"}, a.Script[2])
	assert.Equal(t, []Event{{Type: TypeDone, Output: "Cancelled: no ticket created."}}, a.OnDeny)

	bad := map[string]string{
		"empty":         "",
		"unknown key":   "name: x\nscirpt: []\n",
		"bad delay":     `{"script": [{"type": "done", "delay": "soon"}]}`,
		"negative":      `{"script": [{"type": "done", "delay": "-1s"}]}`,
		"missing type":  `{"on_deny": [{"output": "x"}]}`,
		"not a mapping": "- 1\n- 2\n",
	}
	for name, src := range bad {
		_, err := LoadScript(strings.NewReader(src))
		assert.Error(t, err, name)
	}
}

// TestLoadScriptErrors checks that a script mistake is named by its place and
// says what would be right, in the script's own words (no Go type names).
func TestLoadScriptErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"unknown event type", "script:\n  - {type: procesing, output: x}\n",
			[]string{`script[0].type: unknown event type "procesing"`, "thoughts, processing, approval_required, done, error", "raw"}},
		{"unknown top-level key", "name: x\nscirpt: []\n",
			[]string{`line 2: unknown key "scirpt"`, "name, memory_enabled, script, on_approve, on_deny"}},
		{"unknown event key", "script:\n  - {type: done, outptu: x}\n",
			[]string{`line 2: unknown key "outptu"`, "type, output, tool, arguments, approval_id, delay, raw"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadScript(strings.NewReader(tc.src))
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "promptevtest.script", "no Go type names")
		})
	}
}
