package slack

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Socket Mode liveness. Slack pings every Socket Mode connection every few
// seconds, so a connection that receives nothing for longer is half-open:
// still open, but what Slack sends is lost, and every envelope (and retry)
// Slack routes to it is lost with it.
const (
	// socketPingInterval is slack-go's OptionPingInterval: slack-go drops a
	// connection when its ticker finds no ping from Slack in the last
	// interval, so it notices a silent connection within two intervals.
	socketPingInterval = 7 * time.Second
	// socketSilenceLimit is the adapter's own check: a connection that has
	// received no bytes at all (frames, pings) for this long is closed, and
	// slack-go replaces it through apps.connections.open.
	socketSilenceLimit = 12 * time.Second
	// socketWatchEvery is how often the adapter checks, so a silent
	// connection is replaced within socketSilenceLimit + socketWatchEvery.
	socketWatchEvery = time.Second
)

// socketSlot is one of the Socket Mode connections the adapter keeps open.
// slack-go's client for the slot dials through the slot, which wraps the
// network connection to see when bytes last arrived.
type socketSlot struct {
	idx int
	now func() time.Time

	// lastRead is when the current connection last received bytes (Unix nanoseconds).
	lastRead atomic.Int64
	// ready is set between Slack's hello and the connection's end.
	ready atomic.Bool

	mu   sync.Mutex
	conn net.Conn // the current connection's transport, nil when none
}

func newSocketSlot(idx int, now func() time.Time) *socketSlot {
	return &socketSlot{idx: idx, now: now}
}

// dialer returns the WebSocket dialer for slack-go's client: gorilla's
// defaults as slack-go sets them, with the slot watching the connection.
func (s *socketSlot) dialer() *websocket.Dialer {
	nd := &net.Dialer{Timeout: 30 * time.Second}
	return &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: 45 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return s.attach(c), nil
		},
	}
}

// attach makes c the slot's current connection and returns it wrapped.
func (s *socketSlot) attach(c net.Conn) net.Conn {
	tc := &trackedConn{Conn: c, slot: s}
	s.lastRead.Store(s.now().UnixNano())
	s.mu.Lock()
	s.conn = tc
	s.mu.Unlock()
	return tc
}

// silentFor returns how long the current connection has received nothing,
// or 0 when there is none.
func (s *socketSlot) silentFor(now time.Time) time.Duration {
	s.mu.Lock()
	has := s.conn != nil
	s.mu.Unlock()
	if !has {
		return 0
	}
	return now.Sub(time.Unix(0, s.lastRead.Load()))
}

// drop closes the current connection (slack-go's read fails and it
// reconnects) and reports whether there was one.
func (s *socketSlot) drop() bool {
	s.mu.Lock()
	c := s.conn
	s.conn = nil
	s.mu.Unlock()
	if c == nil {
		return false
	}
	_ = c.Close()
	return true
}

// trackedConn records when bytes arrive on a Socket Mode connection.
type trackedConn struct {
	net.Conn
	slot *socketSlot
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.slot.lastRead.Store(c.slot.now().UnixNano())
	}
	return n, err
}

func (c *trackedConn) Close() error {
	c.slot.mu.Lock()
	if c.slot.conn == c {
		c.slot.conn = nil
	}
	c.slot.mu.Unlock()
	return c.Conn.Close()
}

// watchSilence closes, every a.watchEvery, each connection that has received
// nothing for a.silenceLimit; slack-go then opens a new one. It returns when
// ctx ends.
func (a *Adapter) watchSilence(ctx context.Context, slots []*socketSlot) {
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
			silent := s.silentFor(now)
			if silent <= a.silenceLimit {
				continue
			}
			a.setSlotReady(s, false)
			if s.drop() {
				a.log.Warn("slack socket mode connection silent, replacing it",
					"connection", s.idx, "silent_for", silent.Round(time.Millisecond), "healthy", a.readyConns.Load())
			}
		}
	}
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
