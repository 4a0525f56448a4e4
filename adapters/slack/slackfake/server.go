package slackfake

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Identity and credentials of the fake workspace.
const (
	TeamID        = "T0FAKE"
	TeamDomain    = "fake"
	BotUserID     = "UBOT0001"
	BotID         = "BBOT0001"
	AppID         = "A0FAKE01"
	BotToken      = "xoxb-fake-bot-token"
	AppToken      = "xapp-fake-app-token"
	SigningSecret = "fake-signing-secret"
)

// Call is one recorded Web API call.
type Call struct {
	// Method is the API method ("chat.postMessage", "chat.update", ...).
	Method string
	// Channel is the channel argument.
	Channel string
	// TS is the message ts: the one assigned (posts) or addressed (updates, deletes).
	TS string
	// ThreadTS is the thread_ts argument, if any.
	ThreadTS string
	// Text is the text argument.
	Text string
	// Blocks is the blocks JSON argument ("" when absent).
	Blocks json.RawMessage
	// User is the user argument (chat.postEphemeral).
	User string
	// UnfurlLinks and UnfurlMedia are the unfurl arguments as sent.
	UnfurlLinks, UnfurlMedia string
	// Status is the assistant.threads.setStatus or agents.sessions.setStatus status.
	Status string
	// Chunks is the chunks JSON argument of the stream methods ("" when absent).
	Chunks string
	// Team is the team the call's token belongs to (the enterprise id for
	// the token of an org-wide install; "" for a refused token).
	Team string
	// Error is the error code answered ("" for ok, "ratelimited" for a 429).
	Error string
	// RetryAfter is the Retry-After answered with a 429 (zero otherwise).
	RetryAfter time.Duration
	// At is when the fake handled the call, before it answered; calls are
	// recorded in the order of their At.
	At time.Time
}

// Message is a posted message with its latest content.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string
	Text     string
	Blocks   json.RawMessage
	// Edits counts successful chat.update calls on the message.
	Edits   int
	Deleted bool
	// ReusedBlockIDs counts the block ids an update sent again from the
	// message's earlier versions. Slack accepts them but asks for a new
	// block_id each time a message is updated (clients may not re-render a
	// block whose id they know).
	ReusedBlockIDs int
	// seenBlockIDs are the block ids of every version of the message.
	seenBlockIDs map[string]bool
	// Stream is the streaming state of a message started with
	// chat.startStream (nil for a posted message).
	Stream *Stream
}

// Option configures a Server.
type Option func(*Server)

// WithPingInterval sets how often the Socket Mode endpoint pings (default 1 s).
func WithPingInterval(d time.Duration) Option { return func(s *Server) { s.pingInterval = d } }

// WithTLSSocket serves Socket Mode over TLS: apps.connections.open returns a
// wss:// URL on a second, TLS-only listener (the Web API stays plain HTTP).
// Clients trust it through SocketTLSConfig.
func WithTLSSocket() Option { return func(s *Server) { s.wantTLS = true } }

// SocketTLSConfig returns a TLS client config trusting the WithTLSSocket
// listener's certificate, or nil without WithTLSSocket.
func (s *Server) SocketTLSConfig() *tls.Config {
	if s.tlsSocket == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.tlsSocket.Certificate())
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// Server is the fake Slack. Its methods are safe for concurrent use.
type Server struct {
	srv          *httptest.Server
	tlsSocket    *httptest.Server // with WithTLSSocket: Socket Mode over TLS
	wantTLS      bool
	pingInterval time.Duration
	ackTimeout   time.Duration

	mu          sync.Mutex
	changed     chan struct{}
	closed      bool
	seq         int
	calls       []Call
	msgs        map[string]*Message // by channel+" "+ts
	order       []string
	rateLimited map[string]rateRule
	limits      *limiter // nil unless WithRateLimits
	authErr     map[string]string
	failing     map[string]string
	scopes      []string
	statuses    map[string]string   // assistant thread status by channel+" "+thread_ts
	sessions    map[string][]string // agent session statuses by channel+" "+thread_ts, in order
	socket      socketState
	views       viewState
	oauth       oauthState
	wg          sync.WaitGroup
}

type rateRule struct {
	n          int
	retryAfter int
}

// New starts a fake Slack on 127.0.0.1. With a non-nil tb it is closed when
// the test ends; otherwise call Close.
func New(tb testing.TB, opts ...Option) *Server {
	s := &Server{
		pingInterval: time.Second,
		ackTimeout:   3 * time.Second,
		changed:      make(chan struct{}),
		msgs:         map[string]*Message{},
		rateLimited:  map[string]rateRule{},
		authErr:      map[string]string{},
		failing:      map[string]string{},
		scopes:       []string{"app_mentions:read", "chat:write", "im:history", "channels:history"},
		statuses:     map[string]string{},
		sessions:     map[string][]string{},
		oauth: oauthState{workspaces: map[string]Workspace{}, codes: map[string]authCode{},
			installs: map[string]*Installed{}},
	}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/auth.test", s.authTest)
	mux.HandleFunc("/api/apps.connections.open", s.connectionsOpen)
	mux.HandleFunc("/api/chat.postMessage", s.chat)
	mux.HandleFunc("/api/chat.update", s.chat)
	mux.HandleFunc("/api/chat.delete", s.chat)
	mux.HandleFunc("/api/chat.postEphemeral", s.chat)
	mux.HandleFunc("/api/assistant.threads.setStatus", s.chat)
	mux.HandleFunc("/api/views.open", s.viewsOpen)
	mux.HandleFunc("/api/chat.startStream", s.stream)
	mux.HandleFunc("/api/chat.appendStream", s.stream)
	mux.HandleFunc("/api/chat.stopStream", s.stream)
	mux.HandleFunc("/api/agents.sessions.setStatus", s.agentSession)
	mux.HandleFunc("/api/oauth.v2.access", s.oauthAccess)
	mux.HandleFunc("GET /oauth/v2/authorize", s.authorize)
	mux.HandleFunc("/ws", s.serveSocket)
	s.srv = httptest.NewServer(mux)
	if s.wantTLS {
		ws := http.NewServeMux()
		ws.HandleFunc("/ws", s.serveSocket)
		s.tlsSocket = httptest.NewUnstartedServer(ws)
		// Refused handshakes are what some tests are about: not worth a log line.
		s.tlsSocket.Config.ErrorLog = log.New(io.Discard, "", 0)
		s.tlsSocket.StartTLS()
	}
	if tb != nil {
		tb.Cleanup(s.Close)
	}
	return s
}

// Close closes Socket Mode connections and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := s.socket.conns
	s.socket.conns = nil
	s.notifyLocked()
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	s.srv.Close()
	if s.tlsSocket != nil {
		s.tlsSocket.Close()
	}
	s.wg.Wait()
}

// URL is the server's base URL (http://127.0.0.1:PORT).
func (s *Server) URL() string { return s.srv.URL }

// APIURL is the Web API base URL to configure in slack-go; it ends with "/".
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// WithScopes sets the bot token's scopes, which auth.test reports in its
// X-OAuth-Scopes header (default: app_mentions:read, chat:write,
// im:history, channels:history; an app declared as an agent also has
// assistant:write).
func WithScopes(scopes ...string) Option {
	return func(s *Server) { s.scopes = append([]string(nil), scopes...) }
}

// FailAuth makes method ("auth.test" or "apps.connections.open") answer
// {"ok":false,"error":code} from now on; code "" restores success.
func (s *Server) FailAuth(method, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authErr[method] = code
}

// RateLimit makes the next n calls of method (for example "chat.update")
// answer HTTP 429 with Retry-After: retryAfterSeconds.
func (s *Server) RateLimit(method string, n, retryAfterSeconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimited[method] = rateRule{n: n, retryAfter: retryAfterSeconds}
}

// NextTS returns a new unique ts, later than every earlier one.
func (s *Server) NextTS() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextTSLocked()
}

func (s *Server) nextTSLocked() string {
	s.seq++
	return fmt.Sprintf("1700000000.%06d", s.seq)
}

func (s *Server) nextIDLocked(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%08d", prefix, s.seq)
}

// Calls returns the recorded calls, oldest first, of the given methods (all
// calls when none is given).
func (s *Server) Calls(methods ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(methods) == 0 || contains(methods, c.Method) {
			out = append(out, c)
		}
	}
	return out
}

// Message returns the current state of the message channel/ts.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.msgs[channel+" "+ts]
	if !ok {
		return Message{}, false
	}
	out := *m
	if m.Stream != nil {
		st := *m.Stream
		st.Tasks = append([]Task(nil), st.Tasks...)
		out.Stream = &st
	}
	return out, true
}

// Messages returns the bot's messages in channel (all channels when ""),
// in posting order, with their latest content; deleted ones are left out.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, k := range s.order {
		m := s.msgs[k]
		if (channel == "" || m.Channel == channel) && !m.Deleted {
			out = append(out, *m)
		}
	}
	return out
}

// Thread returns the bot's messages in the thread rooted at threadTS.
func (s *Server) Thread(channel, threadTS string) []Message {
	var out []Message
	for _, m := range s.Messages(channel) {
		if m.ThreadTS == threadTS {
			out = append(out, m)
		}
	}
	return out
}

// WaitFor blocks until cond returns true (it is checked at once and after
// every recorded change: calls, acks, pongs, connections) or ctx ends.
// cond may call the Server's getters.
func (s *Server) WaitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Await is WaitFor with a 10-second limit that fails tb when it runs out.
func (s *Server) Await(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitFor(ctx, cond); err != nil {
		tb.Fatalf("slackfake: waiting for %s: %v", what, err)
	}
}

// notifyLocked wakes WaitFor callers; s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}
