package slack

import (
	"context"
	"crypto/tls"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Socket Mode liveness. Slack's servers ping each Socket Mode connection
// about every 30 seconds (Slack does not document the cadence; its own
// SDKs and slack-go treat 30 s without a ping as a dead connection). Waiting
// for those pings alone cannot notice a half-open connection (open, but
// what Slack sends is lost) in less than about a minute, so the adapter
// also pings Slack itself: Slack answers every WebSocket ping with a pong,
// and a connection that receives nothing at all (no frame, no ping, no
// pong) for socketSilenceLimit is closed and replaced.
const (
	// socketPingInterval is slack-go's OptionPingInterval: slack-go drops a
	// connection when its ticker finds no ping from Slack within the
	// interval. It is 1.5 times Slack's ping cadence, a backstop behind the
	// adapter's own check.
	socketPingInterval = 45 * time.Second
	// socketClientPing is how often the adapter pings Slack on each
	// connection, so that a healthy connection always receives a pong.
	socketClientPing = 4 * time.Second
	// socketSilenceLimit is how long a connection may receive nothing
	// before the adapter closes it; slack-go then opens a new one through
	// apps.connections.open. With the check every socketWatchEvery, a
	// silent connection is replaced within 13 s.
	socketSilenceLimit = 12 * time.Second
	// socketWatchEvery is how often the adapter checks and pings.
	socketWatchEvery = time.Second
	// socketProxiedSilenceLimit applies when the connection goes through
	// an HTTPS proxy: TLS then runs inside the WebSocket library, so the
	// adapter cannot add its pings and waits for two of Slack's.
	socketProxiedSilenceLimit = 75 * time.Second
)

// socketSlot is one of the Socket Mode connections the adapter keeps open.
// slack-go's client for the slot dials through the slot, which wraps the
// network connection to see when bytes last arrived and to send pings.
type socketSlot struct {
	idx int
	now func() time.Time

	// lastRead is when the current connection last received bytes (Unix nanoseconds).
	lastRead atomic.Int64
	// ready is set between Slack's hello and the connection's end.
	ready atomic.Bool
	// pinging is set while a ping is being written; lastPing is when the
	// last one started (Unix nanoseconds).
	pinging  atomic.Bool
	lastPing atomic.Int64

	mu   sync.Mutex
	conn *trackedConn // the current connection's transport, nil when none
}

func newSocketSlot(idx int, now func() time.Time) *socketSlot {
	return &socketSlot{idx: idx, now: now}
}

// proxied reports whether connections to Slack's WebSocket hosts go through
// an HTTPS proxy from the environment.
func proxied() bool {
	u, err := http.ProxyFromEnvironment(&http.Request{URL: &url.URL{Scheme: "https", Host: "wss-primary.slack.com"}})
	return err == nil && u != nil
}

// dialer returns the WebSocket dialer for slack-go's client. Without a
// proxy the slot does the TLS handshake itself (with base, or the system's
// roots when nil), so the connection it watches carries WebSocket frames in
// the clear and it can add pings.
func (s *socketSlot) dialer(base *tls.Config) *websocket.Dialer {
	nd := &net.Dialer{Timeout: 30 * time.Second}
	viaProxy := proxied()
	d := &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: 45 * time.Second,
		// ws:// URLs, and the connection to a proxy.
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return s.attach(c, !viaProxy), nil
		},
	}
	if !viaProxy {
		d.NetDialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			raw, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			cfg := &tls.Config{MinVersion: tls.VersionTLS12}
			if base != nil {
				cfg = base.Clone()
			}
			cfg.ServerName = host
			tc := tls.Client(raw, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = raw.Close()
				return nil, err
			}
			return s.attach(tc, true), nil
		}
	}
	return d
}

// attach makes c the slot's current connection and returns it wrapped;
// plain tells whether WebSocket frames cross c in the clear.
func (s *socketSlot) attach(c net.Conn, plain bool) net.Conn {
	tc := &trackedConn{Conn: c, slot: s, plain: plain}
	s.lastRead.Store(s.now().UnixNano())
	s.mu.Lock()
	s.conn = tc
	s.mu.Unlock()
	return tc
}

func (s *socketSlot) current() *trackedConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// silentFor returns how long the current connection has received nothing,
// or 0 when there is none.
func (s *socketSlot) silentFor(now time.Time) time.Duration {
	if s.current() == nil {
		return 0
	}
	return now.Sub(time.Unix(0, s.lastRead.Load()))
}

// drop closes the current connection (slack-go's read fails and it
// reconnects) and reports whether there was one.
func (s *socketSlot) drop() bool {
	c := s.current()
	if c == nil {
		return false
	}
	_ = c.Close()
	return true
}

// trackedConn records when bytes arrive on a Socket Mode connection and
// lets the adapter write WebSocket pings between the library's frames.
type trackedConn struct {
	net.Conn
	slot *socketSlot
	// plain is true when WebSocket frames cross the connection in the clear.
	plain bool
	// writeMu keeps each write whole. The WebSocket library writes every
	// client frame with a single Write, so a ping never lands inside one.
	writeMu sync.Mutex
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.slot.lastRead.Store(c.slot.now().UnixNano())
	}
	return n, err
}

func (c *trackedConn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.Conn.Write(p)
}

func (c *trackedConn) Close() error {
	c.slot.mu.Lock()
	if c.slot.conn == c {
		c.slot.conn = nil
	}
	c.slot.mu.Unlock()
	return c.Conn.Close()
}

// ping writes a WebSocket ping frame with no payload, masked as the
// protocol requires of a client (RFC 6455, section 5.3).
func (c *trackedConn) ping() error {
	var frame [6]byte
	frame[0] = 0x89 // FIN + opcode 9 (ping)
	frame[1] = 0x80 // masked, payload length 0
	key := rand.Uint32()
	frame[2], frame[3], frame[4], frame[5] = byte(key>>24), byte(key>>16), byte(key>>8), byte(key)
	_, err := c.Write(frame[:])
	return err
}

// watchSilence pings Slack on each healthy connection and closes, every
// a.watchEvery, each connection that has received nothing for its silence
// limit; slack-go then opens a new one. It returns when ctx ends, after the
// pings it started.
func (a *Adapter) watchSilence(ctx context.Context, slots []*socketSlot) {
	var pings sync.WaitGroup
	defer pings.Wait()
	t := time.NewTicker(a.watchEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := a.now()
		for _, s := range slots {
			c := s.current()
			if c == nil {
				continue
			}
			limit := a.silenceLimit
			if !c.plain {
				limit = socketProxiedSilenceLimit
			}
			if silent := s.silentFor(now); silent > limit {
				a.setSlotReady(s, false)
				if s.drop() {
					a.log.Warn("slack socket mode connection silent, replacing it",
						"connection", s.idx, "silent_for", silent.Round(time.Millisecond), "healthy", a.readyConns.Load())
				}
				continue
			}
			a.pingSlot(s, c, now, &pings)
		}
	}
}

// pingSlot pings Slack on c when the slot is past hello and its last ping
// is a.clientPing old. The write runs on its own goroutine: on a half-open
// connection it may block until the connection is closed.
func (a *Adapter) pingSlot(s *socketSlot, c *trackedConn, now time.Time, pings *sync.WaitGroup) {
	if !c.plain || !s.ready.Load() || now.Sub(time.Unix(0, s.lastPing.Load())) < a.clientPing {
		return
	}
	if !s.pinging.CompareAndSwap(false, true) {
		return
	}
	s.lastPing.Store(now.UnixNano())
	pings.Go(func() {
		defer s.pinging.Store(false)
		if err := c.ping(); err != nil {
			a.log.Debug("slack socket mode ping failed", "connection", s.idx, errAttr(err))
		}
	})
}

// setSlotReady records whether slot s is connected and healthy; the adapter
// is ready while at least one slot is.
func (a *Adapter) setSlotReady(s *socketSlot, ready bool) {
	if s.ready.CompareAndSwap(!ready, ready) {
		if ready {
			a.readyConns.Add(1)
		} else {
			a.readyConns.Add(-1)
		}
	}
}
