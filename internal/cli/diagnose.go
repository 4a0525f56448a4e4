package cli

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/promptev/promptev-bridge/internal/config"
)

// maxShownBody bounds the response body a diagnosis prints.
const maxShownBody = 2048

// callRecorder sits under the Promptev client of the terminal commands
// (chat, check --online) and remembers the last call that failed: its
// method, endpoint, HTTP status and response body, or the transport error.
// Users first meet the assumed Promptev wire protocol there, so a failure
// shows exactly what was sent where and what came back, with the secrets
// (the project key, the header values) replaced by [redacted].
type callRecorder struct {
	base    http.RoundTripper
	secrets []string

	mu   sync.Mutex
	last *failedCall
}

// failedCall is one failed Promptev call, its secrets already redacted.
type failedCall struct {
	Method, URL string
	// Status is the HTTP status; 0 when no response arrived (Err says why).
	Status int
	Body   string
	Err    string
}

func newCallRecorder(c config.PromptevConfig) *callRecorder {
	r := &callRecorder{base: http.DefaultTransport}
	for _, s := range append([]string{c.ProjectKey}, headerValues(c.Headers)...) {
		if len(s) >= 4 {
			r.secrets = append(r.secrets, s)
		}
	}
	return r
}

func headerValues(h map[string]string) []string {
	var vs []string
	for _, v := range h {
		vs = append(vs, v)
	}
	return vs
}

// client returns an HTTP client over the recorder.
func (r *callRecorder) client() *http.Client { return &http.Client{Transport: r} }

// redact replaces every secret in s.
func (r *callRecorder) redact(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, config.Redacted)
	}
	return s
}

// RoundTrip implements http.RoundTripper.
func (r *callRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	call := failedCall{Method: req.Method, URL: r.redact(req.URL.Redacted())}
	switch {
	case err != nil:
		call.Err = r.redact(err.Error())
	case resp.StatusCode >= 400:
		call.Status = resp.StatusCode
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxShownBody+1))
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
		body := string(b)
		if len(body) > maxShownBody {
			body = body[:maxShownBody] + "..."
		}
		call.Body = r.redact(strings.TrimSpace(body))
	default:
		return resp, nil
	}
	r.mu.Lock()
	r.last = &call
	r.mu.Unlock()
	return resp, err
}

type readCloser struct {
	io.Reader
	io.Closer
}

// takeFailure returns the last failed call, if any, and forgets it.
func (r *callRecorder) takeFailure() (failedCall, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		return failedCall{}, false
	}
	c := *r.last
	r.last = nil
	return c, true
}

// String renders the call for the terminal, over several lines.
func (c failedCall) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  request:  %s %s\n", c.Method, c.URL)
	if c.Status == 0 {
		fmt.Fprintf(&b, "  error:    %s\n", c.Err)
		return b.String()
	}
	fmt.Fprintf(&b, "  status:   %d %s\n", c.Status, http.StatusText(c.Status))
	body := c.Body
	if body == "" {
		body = "(empty)"
	}
	fmt.Fprintf(&b, "  response: %s\n", body)
	return b.String()
}

// hint is the likely fix of a failed call.
func (c failedCall) hint() string {
	switch {
	case c.Status == http.StatusUnauthorized || c.Status == http.StatusForbidden:
		return "check promptev.project_key (PROMPTEV_PROJECT_KEY) and promptev.auth"
	case c.Status == http.StatusNotFound:
		return "check the agent id and promptev.endpoints (the wire protocol is assumed: see README)"
	case c.Status == 0:
		return "check promptev.base_url and that this machine can reach it"
	}
	return "see the response above; promptev.endpoints and promptev.auth can be changed without a rebuild"
}
