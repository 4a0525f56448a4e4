package promptevtest

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxRequestBody caps the request bodies the server reads.
const maxRequestBody = 1 << 20

// Request is one recorded request.
type Request struct {
	Method string
	// Path is the escaped request path.
	Path   string
	Header http.Header
	Body   []byte
}

// Server is a fake Promptev API, on a loopback httptest server (NewServer) or
// in memory (NewInMemoryServer). It is safe for concurrent use.
type Server struct {
	// URL is the base URL to give promptev.WithBaseURL.
	URL string

	srv        *httptest.Server // loopback mode
	mem        *memServer       // in-memory mode
	projectKey string
	quit       chan struct{}
	closeOnce  sync.Once

	mu        sync.Mutex
	agents    map[string]Agent
	sessions  map[string]*session
	requests  []Request
	faults    []*faultState
	auth      authMode
	endpoints Endpoints
	approveQ  string
	denyQ     string
	// clientClosed counts the streams whose client went away before the
	// server had written them to their end.
	clientClosed int
}

// session is one started conversation (or a trigger session).
type session struct {
	agentID         string
	visitor         string
	history         []string
	pendingApproval bool
}

// NewServer starts a fake API that accepts projectKey as a bearer token on the
// default endpoints. Close it when done.
func NewServer(projectKey string) *Server {
	s := newServer(projectKey)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	return s
}

// NewInMemoryServer starts a fake API like NewServer, but without sockets:
// the server is a real http.Server with the same handler, reached over
// net.Pipe connections that only the http.Client returned by Client (or the
// RoundTripper returned by Transport) can dial. URL is
// "http://promptevtest.invalid".
//
// Pipes block on channels, so the server works inside a testing/synctest
// bubble, where the scripted Event delays and the client's timeouts then run
// on fake time: a script with minutes of delays completes at once. Create the
// server inside the bubble and Close it before the bubble ends; Close stops
// the server, closes the client's idle connections and waits until every
// server goroutine has finished.
func NewInMemoryServer(projectKey string) *Server {
	s := newServer(projectKey)
	s.mem = newMemServer(http.HandlerFunc(s.serveHTTP))
	s.URL = "http://" + inMemoryHost
	return s
}

// Client returns an http.Client that reaches the server, for
// promptev.WithHTTPClient. In memory it is the only way in; on loopback it
// is the httptest server's client. It has no Timeout.
func (s *Server) Client() *http.Client {
	if s.mem != nil {
		return &http.Client{Transport: s.mem.transport}
	}
	return s.srv.Client()
}

// Transport returns the RoundTripper of Client.
func (s *Server) Transport() http.RoundTripper {
	return s.Client().Transport
}

// newServer returns a Server with its defaults and no transport.
func newServer(projectKey string) *Server {
	return &Server{
		projectKey: projectKey,
		quit:       make(chan struct{}),
		agents:     map[string]Agent{},
		sessions:   map[string]*session{},
		auth:       authMode{kind: "bearer"},
		endpoints:  DefaultEndpoints(),
		approveQ:   "approve",
		denyQ:      "deny",
	}
}

// Close stops the server, ending stalled and delayed streams first.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.quit)
		if s.mem != nil {
			s.mem.close()
			return
		}
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

// AddAgent adds or replaces the agent with the given id.
func (s *Server) AddAgent(id string, a Agent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.agents[id] = a
}

// SetAuth sets where the project key is expected: "bearer" (Authorization:
// Bearer <key>, the default), "header:<Name>" or "path" (the {project_key}
// segment of the endpoint templates, which must then contain it).
func (s *Server) SetAuth(spec string) error {
	a, err := parseAuth(spec)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth = a
	return nil
}

// SetEndpoints replaces the path templates; empty fields keep their current value.
func (s *Server) SetEndpoints(e Endpoints) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.Trigger != "" {
		s.endpoints.Trigger = e.Trigger
	}
	if e.Start != "" {
		s.endpoints.Start = e.Start
	}
	if e.Stream != "" {
		s.endpoints.Stream = e.Stream
	}
}

// SetApprovalQueries sets the queries that approve or deny a pending
// approval (defaults "approve" and "deny").
func (s *Server) SetApprovalQueries(approve, deny string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.approveQ, s.denyQ = approve, deny
}

// InjectFault adds a fault; faults apply in the order they were injected.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rem := f.Times
	if rem <= 0 {
		rem = -1
	}
	s.faults = append(s.faults, &faultState{Fault: f, remaining: rem})
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// ForgetSessions drops every session, as if the API lost them: later streams
// and triggers on their tokens get 404.
func (s *Server) ForgetSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.sessions)
}

// SessionCount returns the number of live sessions (started or triggered).
func (s *Server) SessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// StreamsClosedByClient returns how many stream responses ended because the
// client went away (it closed the connection or cancelled the request)
// before the server had written the whole stream, terminal event included.
// Streams cut by the server (Close, FaultDisconnect) are not counted. In
// memory, call it after synctest.Wait to see a cancellation's effect.
func (s *Server) StreamsClosedByClient() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clientClosed
}

// noteStreamCut records a stream response that ended early: it was the
// client's doing unless the server is closing.
func (s *Server) noteStreamCut() {
	select {
	case <-s.quit:
		return
	default:
	}
	s.mu.Lock()
	s.clientClosed++
	s.mu.Unlock()
}

// Requests returns a copy of every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = Request{Method: r.Method, Path: r.Path, Header: r.Header.Clone(), Body: bytes.Clone(r.Body)}
	}
	return out
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// takeFaults consumes the faults that apply to a request: the first matching
// status fault if there is one, otherwise every matching stream fault.
func (s *Server) takeFaults(call Call, agent string) (status *Fault, stream []Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var use []*faultState
	for _, f := range s.faults {
		if f.isStatus() && f.matches(call, agent) {
			use = []*faultState{f}
			cp := f.Fault
			status = &cp
			break
		}
	}
	if status == nil {
		for _, f := range s.faults {
			if !f.isStatus() && f.matches(call, agent) {
				use = append(use, f)
				stream = append(stream, f.Fault)
			}
		}
	}
	for _, f := range use {
		if f.remaining > 0 {
			f.remaining--
		}
	}
	kept := s.faults[:0]
	for _, f := range s.faults {
		if f.remaining != 0 {
			kept = append(kept, f)
		}
	}
	clear(s.faults[len(kept):])
	s.faults = kept
	return status, stream
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone(), Body: body})
	eps, auth := s.endpoints, s.auth
	s.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
		return
	}

	path := r.URL.EscapedPath()
	var (
		call Call
		vals map[string]string
	)
	for _, c := range []struct {
		call Call
		tmpl string
	}{{CallTrigger, eps.Trigger}, {CallStart, eps.Start}, {CallStream, eps.Stream}} {
		if v, ok := match(c.tmpl, path); ok {
			call, vals = c.call, v
			break
		}
	}
	if call == "" {
		writeError(w, http.StatusNotFound, "no such endpoint")
		return
	}
	if !s.authorised(r, auth, vals) {
		writeError(w, http.StatusUnauthorized, "invalid project key")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	agentID := vals["agent_id"]
	status, streamFaults := s.takeFaults(call, agentID)
	if status != nil {
		writeStatusFault(w, *status)
		return
	}
	switch call {
	case CallTrigger:
		s.trigger(w, r, agentID, body)
	case CallStart:
		s.start(w, agentID, body)
	case CallStream:
		s.stream(w, r, agentID, body, streamFaults)
	}
}

func (s *Server) authorised(r *http.Request, a authMode, vals map[string]string) bool {
	var got string
	switch a.kind {
	case "bearer":
		h := r.Header.Get("Authorization")
		if len(h) > len("Bearer ") && strings.EqualFold(h[:len("Bearer ")], "Bearer ") {
			got = h[len("Bearer "):]
		}
	case "header":
		got = r.Header.Get(a.header)
	case "path":
		got = vals["project_key"]
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.projectKey)) == 1
}

func writeStatusFault(w http.ResponseWriter, f Fault) {
	code := f.Status
	if f.Kind == FaultRateLimit {
		code = http.StatusTooManyRequests
		if f.RetryAfter <= 0 {
			f.RetryAfter = time.Second
		}
	}
	if code == 0 {
		code = http.StatusServiceUnavailable
	}
	if f.RetryAfter > 0 {
		secs := int64((f.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	if f.Body != "" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, f.Body)
		return
	}
	writeError(w, code, "injected fault: "+http.StatusText(code))
}

func writeError(w http.ResponseWriter, code int, detail string) {
	writeJSON(w, code, map[string]string{"detail": detail})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"detail":"encoding failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func newToken(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// sleep waits d unless the request or the server ends first; it reports
// whether the full delay passed.
func (s *Server) sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.quit:
	}
	return false
}
