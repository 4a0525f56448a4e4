// Package discordfake is a fake Discord for tests: the REST endpoints the
// bridge uses on an httptest server, and a gateway (at /gw/) speaking enough
// of Discord's websocket protocol for discordgo: Hello, Identify, READY,
// heartbeat ACKs, RESUME, dispatches and close codes. With several shards
// (SetRecommendedShards for GET /gateway/bot, Identify's shard) each
// connection gets its own guilds' events, (guild_id >> 22) % num_shards,
// and shard 0 the DMs.
//
// Point discordgo at it with HTTPClient (its transport rewrites discord.com
// and the gateway host to the fake) or with api_url = APIURL(). Drive it
// with SendMessage, Click and Slash; inspect it with Snapshot and Wait; make
// it misbehave with RateLimitEdits, RateLimitPosts, RejectIdentify,
// CloseGateway, RefuseThreads, ZombieHeartbeats and RequestReconnect; make it
// strict with EnforceRateLimits (Discord's global and per-channel limits)
// and RequireResumeURL (RESUME only on READY's resume_gateway_url).
package discordfake

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Fixed identities of the fake.
const (
	// BotID is the bot user's id; BotName its username.
	BotID   = "1100000000000000001"
	BotName = "promptev-bot"
	// AppID is the application id (READY's application.id).
	AppID = "1100000000000000002"
	// BotRoleID is the bot's managed role in every guild (GUILD_CREATE's
	// roles, with tags.bot_id = BotID); "<@&BotRoleID>" mentions it.
	BotRoleID = "1100000000000000003"
)

// Server is a fake Discord. Its methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server
	// resume is the gateway host READY names as resume_gateway_url: its own
	// listener, as Discord's resume URL is another host.
	resumeSrv *httptest.Server
	upgrader  websocket.Upgrader

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every recorded change
	nextID   int64
	channels map[string]*Channel
	messages map[string]*Message
	order    []string // message ids in creation order
	snap     Snapshot // the recorded lists (Messages is built from messages/order)

	interactions  map[string]*interaction // by token
	conns         map[*gwConn]struct{}
	sessions      map[string]int64     // gateway session id -> last sequence
	sessionShards map[string][2]int    // gateway session id -> its shard
	replay        map[string][]payload // gateway session id -> its dispatches

	rlEdits, rlPosts int
	retryAfter       time.Duration
	identifyClose    int
	heartbeatMillis  int
	forbidThreads    bool
	refuseThreads    []byte // raw JSON error body, nil to accept
	refuseStatus     int
	zombie           bool
	strictResume     bool
	shards           int // GET /gateway/bot's recommended shard count

	limits limiter
}

type interaction struct {
	id, token, channelID, guildID string
	kind                          int    // the interaction type (3 component, 5 modal submit, ...)
	original                      string // message id of a type-4 answer
}

// New starts a fake Discord on loopback. Close it when done (t.Cleanup(s.Close)).
func New() *Server {
	s := &Server{
		changed:         make(chan struct{}),
		nextID:          1200000000000000000,
		channels:        make(map[string]*Channel),
		messages:        make(map[string]*Message),
		interactions:    make(map[string]*interaction),
		conns:           make(map[*gwConn]struct{}),
		sessions:        make(map[string]int64),
		sessionShards:   make(map[string][2]int),
		shards:          1,
		replay:          make(map[string][]payload),
		retryAfter:      300 * time.Millisecond,
		heartbeatMillis: 41250,
	}
	s.srv = httptest.NewServer(s.rateLimit(s.routes()))
	s.resumeSrv = httptest.NewServer(http.HandlerFunc(s.serveResumeGateway))
	return s
}

// Close closes gateway connections and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	conns := make([]*gwConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close(websocket.CloseGoingAway, "server closing")
	}
	s.srv.Close()
	s.resumeSrv.Close()
}

// URL is the server's base URL (http://127.0.0.1:PORT).
func (s *Server) URL() string { return s.srv.URL }

// APIURL is the REST base to use as api_url (URL + "/api/v9").
func (s *Server) APIURL() string { return s.srv.URL + "/api/v9" }

// GatewayURL is the websocket URL GET /gateway returns.
func (s *Server) GatewayURL() string { return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/gw" }

// ResumeGatewayURL is READY's resume_gateway_url, a second host (its own
// listener) serving the same gateway; with RequireResumeURL the fake accepts
// RESUME only there, as Discord asks clients to resume on it.
func (s *Server) ResumeGatewayURL() string {
	return "ws" + strings.TrimPrefix(s.resumeSrv.URL, "http") + "/gw"
}

// HTTPClient returns a client whose transport sends requests for discord.com
// and gateway.discord.gg to the fake.
func (s *Server) HTTPClient() *http.Client {
	u, _ := url.Parse(s.srv.URL)
	return &http.Client{Transport: &rewriter{host: u.Host, base: s.srv.Client().Transport}, Timeout: 10 * time.Second}
}

// Dialer returns a websocket dialer that connects every gateway host to the
// fake (for clients that were told the real gateway URL); the resume host
// (ResumeGatewayURL) stays itself.
func (s *Server) Dialer() *websocket.Dialer {
	u, _ := url.Parse(s.srv.URL)
	ru, _ := url.Parse(s.resumeSrv.URL)
	host, resumeHost := u.Host, ru.Host
	return &websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			if addr == resumeHost {
				return d.DialContext(ctx, network, resumeHost)
			}
			return d.DialContext(ctx, network, host)
		},
	}
}

// rewriter sends Discord's hosts to the fake, over plain HTTP.
type rewriter struct {
	host string
	base http.RoundTripper
}

func (r *rewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.URL.Host {
	case "discord.com", "gateway.discord.gg":
		req = req.Clone(req.Context())
		req.URL.Scheme = "http"
		req.URL.Host = r.host
		req.Host = r.host
	}
	return r.base.RoundTrip(req)
}

// AddChannel registers a channel (guild text channel, thread or DM). Messages
// to unknown channels are accepted too; GET /channels/{id} needs this.
func (s *Server) AddChannel(c Channel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cc := c
	s.channels[c.ID] = &cc
}

// SetRecommendedShards sets the shard count GET /gateway/bot recommends
// (default 1).
func (s *Server) SetRecommendedShards(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shards = n
}

// SetHeartbeatInterval sets the interval Hello announces (default 41.25 s).
func (s *Server) SetHeartbeatInterval(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.heartbeatMillis = int(d / time.Millisecond)
}

// RateLimitEdits answers the next n message edits with 429 and retry_after.
func (s *Server) RateLimitEdits(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rlEdits, s.retryAfter = n, retryAfter
}

// RateLimitPosts answers the next n message posts with 429 and retry_after.
func (s *Server) RateLimitPosts(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rlPosts, s.retryAfter = n, retryAfter
}

// ForbidThreads makes thread creation fail with 403 Missing Permissions
// (code 50013), as when the bot lacks Create Public Threads.
func (s *Server) ForbidThreads(forbid bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forbidThreads = forbid
}

// RefuseThreads answers thread creation with status and the raw JSON error
// body (for example Discord's 50024 "Cannot execute action on this channel
// type" or 160006 "Maximum number of active threads reached"); a nil body
// accepts threads again.
func (s *Server) RefuseThreads(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseStatus, s.refuseThreads = status, append([]byte(nil), body...)
	if body == nil {
		s.refuseThreads = nil
	}
}

// RejectIdentify makes the gateway close every Identify and Resume with code
// (4004 bad token, 4014 disallowed intents, ...); 0 accepts them again.
func (s *Server) RejectIdentify(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identifyClose = code
}

// Snapshot returns a copy of everything recorded so far.
func (s *Server) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshotLocked()
}

func (s *Server) snapshotLocked() Snapshot {
	out := s.snap
	out.Messages = make([]Message, 0, len(s.order))
	for _, id := range s.order {
		out.Messages = append(out.Messages, *s.messages[id])
	}
	out.Edits = append([]Edit(nil), s.snap.Edits...)
	out.Threads = append([]Thread(nil), s.snap.Threads...)
	out.InteractionResponses = append([]InteractionResponse(nil), s.snap.InteractionResponses...)
	out.Followups = append([]Followup(nil), s.snap.Followups...)
	out.Commands = append([]Command(nil), s.snap.Commands...)
	out.Typing = append([]string(nil), s.snap.Typing...)
	out.Identifies = append([]Identify(nil), s.snap.Identifies...)
	out.UnknownKeys = append([]string(nil), s.snap.UnknownKeys...)
	out.Connections = len(s.conns)
	for c := range s.conns {
		out.ConnectedShards = append(out.ConnectedShards, c.shard)
	}
	slices.SortFunc(out.ConnectedShards, func(a, b [2]int) int { return cmp.Compare(a[0], b[0]) })
	return out
}

// Wait blocks until cond holds for a snapshot (checked now and after every
// recorded change) or ctx ends; it returns the last snapshot.
func (s *Server) Wait(ctx context.Context, cond func(Snapshot) bool) (Snapshot, error) {
	for {
		s.mu.Lock()
		snap := s.snapshotLocked()
		ch := s.changed
		s.mu.Unlock()
		if cond(snap) {
			return snap, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return snap, ctx.Err()
		}
	}
}

// notifyLocked wakes Wait callers; s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// newIDLocked returns a fresh snowflake; s.mu must be held.
func (s *Server) newIDLocked() string {
	s.nextID++
	return strconv.FormatInt(s.nextID, 10)
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "itok_" + hex.EncodeToString(b)
}
