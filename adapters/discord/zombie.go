package discord

import (
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// watchedConn is the gateway's network connection with Discord's zombie
// rule applied: "if a client does not receive a heartbeat ACK between its
// attempts at sending heartbeats", the connection is dead. After Identify or
// Resume the client's only text frames are heartbeats, so a text frame that
// follows an earlier one with nothing read in between is a heartbeat sent
// while the last one went unanswered: the connection is closed (no close frame, so the
// session stays resumable) and the write fails, which makes discordgo drop
// the connection and Run resume at once. discordgo alone waits for five
// missed ACKs.
type watchedConn struct {
	net.Conn
	log *slog.Logger

	mu        sync.Mutex
	wrote     bool // a write is waiting for a read
	lastWrite time.Time
	closed    bool
}

// Close closes the connection and remembers it.
func (c *watchedConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.Conn.Close()
}

// isClosed reports whether the connection was closed.
func (c *watchedConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if n > 0 {
		c.wrote = false
	}
	if err != nil {
		c.closed = true // the peer closed it, or it broke
	}
	c.mu.Unlock()
	return n, err
}

// Write sends p, applying the zombie rule to text frames. Writes to a
// connection that is closed or broken are swallowed: the reader reports the
// drop.
func (c *watchedConn) Write(p []byte) (int, error) {
	if c.isClosed() {
		return len(p), nil
	}
	// Only text frames count: gorilla/websocket writes a small frame, header
	// and payload, in one Write; close frames and pongs are not heartbeats.
	if len(p) == 0 || p[0]&0x0f != websocket.TextMessage {
		return c.Conn.Write(p)
	}
	c.mu.Lock()
	zombie := c.wrote
	last := c.lastWrite
	c.wrote, c.lastWrite = true, time.Now()
	c.mu.Unlock()
	if zombie {
		// The connection is closed under discordgo's reader, which then
		// drops it the ordinary way; the heartbeat is swallowed.
		c.log.Warn("gateway heartbeat not acknowledged; reconnecting to resume", "unanswered_since", last)
		_ = c.Close()
		return len(p), nil
	}
	return c.Conn.Write(p)
}
