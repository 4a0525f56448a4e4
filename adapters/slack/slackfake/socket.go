package slackfake

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Ack is an acknowledgement received over Socket Mode.
type Ack struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

// ErrNotConnected is returned when an envelope is sent with no Socket Mode client connected.
var ErrNotConnected = errors.New("slackfake: no socket mode connection")

type socketState struct {
	tickets  int
	accepted int
	conns    []*socketConn
	acks     []Ack
	pongs    int
	// clientPings counts the pings clients sent (and the fake answered).
	clientPings int
	// next is the round-robin cursor over conns for envelopes.
	next int
	// deliveries records every envelope sent by Deliver, oldest first.
	deliveries []Delivery
}

type socketConn struct {
	// id numbers the connections in the order they were accepted, from 1.
	id      int
	ws      *websocket.Conn
	writeMu sync.Mutex
	done    chan struct{}
	once    sync.Once
	// silenced makes the connection half-open: it stays open, but nothing
	// is sent on it (frames and pings are lost) and nothing it receives is
	// recorded (acks and pongs are lost too).
	silenced atomic.Bool
}

func (c *socketConn) write(data []byte) error {
	if c.silenced.Load() {
		return nil // lost on the way, as on a half-open connection
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, data)
}

func (c *socketConn) close() {
	c.once.Do(func() {
		close(c.done)
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"), time.Now().Add(time.Second))
		_ = c.ws.Close()
	})
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// serveSocket is the Socket Mode WebSocket: hello, then envelopes and pings;
// everything the client sends is recorded.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("ticket") == "" {
		http.Error(w, "missing ticket", http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &socketConn{ws: ws, done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	s.socket.accepted++
	c.id = s.socket.accepted
	s.socket.conns = append(s.socket.conns, c)
	open := len(s.socket.conns)
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer s.dropConn(c)

	ws.SetPongHandler(func(string) error {
		if c.silenced.Load() {
			return nil
		}
		s.mu.Lock()
		s.socket.pongs++
		s.notifyLocked()
		s.mu.Unlock()
		return nil
	})
	// Slack answers a client's ping with a pong; a silenced connection
	// loses both.
	ws.SetPingHandler(func(data string) error {
		if c.silenced.Load() {
			return nil
		}
		s.mu.Lock()
		s.socket.clientPings++
		s.notifyLocked()
		s.mu.Unlock()
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			return err
		}
		return nil
	})
	hello, _ := json.Marshal(map[string]any{
		"type": "hello", "num_connections": open,
		"connection_info": map[string]any{"app_id": AppID},
		"debug_info":      map[string]any{"host": "slackfake", "approximate_connection_time": 3600},
	})
	if err := c.write(hello); err != nil {
		return
	}
	s.mu.Lock()
	s.notifyLocked()
	s.mu.Unlock()

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.pingLoop(c)
	}()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var ack Ack
		if c.silenced.Load() || json.Unmarshal(data, &ack) != nil || ack.EnvelopeID == "" {
			continue
		}
		s.mu.Lock()
		s.socket.acks = append(s.socket.acks, ack)
		s.notifyLocked()
		s.mu.Unlock()
	}
}

func (s *Server) pingLoop(c *socketConn) {
	t := time.NewTicker(s.pingInterval)
	defer t.Stop()
	ping := func() bool {
		if c.silenced.Load() {
			return true // the ping is lost, the connection stays open
		}
		return c.ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second)) == nil
	}
	if !ping() {
		return
	}
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if !ping() {
				return
			}
		}
	}
}

func (s *Server) dropConn(c *socketConn) {
	c.close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.socket.conns {
		if x == c {
			s.socket.conns = append(s.socket.conns[:i], s.socket.conns[i+1:]...)
			break
		}
	}
	s.notifyLocked()
}

// Connected reports whether a Socket Mode client is connected.
func (s *Server) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.socket.conns) > 0
}

// Connections returns how many Socket Mode connections were accepted in total.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.socket.accepted
}

// Pongs returns how many pongs the clients sent in answer to pings.
func (s *Server) Pongs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.socket.pongs
}

// ClientPings returns how many WebSocket pings the clients sent on
// connections that were not silenced (each was answered with a pong).
func (s *Server) ClientPings() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.socket.clientPings
}

// Acks returns the acknowledgements received, oldest first.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.socket.acks...)
}

// Acked reports whether envelopeID was acknowledged.
func (s *Server) Acked(envelopeID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.socket.acks {
		if a.EnvelopeID == envelopeID {
			return true
		}
	}
	return false
}

// SendRaw sends data as one text frame to the newest Socket Mode connection.
func (s *Server) SendRaw(data []byte) error {
	s.mu.Lock()
	var c *socketConn
	if n := len(s.socket.conns); n > 0 {
		c = s.socket.conns[n-1]
	}
	s.mu.Unlock()
	if c == nil {
		return ErrNotConnected
	}
	return c.write(data)
}

// Envelope is a Socket Mode request.
type Envelope struct {
	EnvelopeID             string          `json:"envelope_id"`
	Type                   string          `json:"type"`
	Payload                json.RawMessage `json:"payload"`
	AcceptsResponsePayload bool            `json:"accepts_response_payload"`
	RetryAttempt           int             `json:"retry_attempt"`
	RetryReason            string          `json:"retry_reason,omitempty"`
}

// SendEnvelope sends env (assigning an envelope id when empty) on the next
// open connection in turn, as Slack spreads envelopes across an app's
// connections, and returns its id.
func (s *Server) SendEnvelope(env Envelope) (string, error) {
	id, _, err := s.sendEnvelope(env, 0)
	return id, err
}

// SendEnvelopeOn sends env on the open connection conn (a ConnIDs value).
func (s *Server) SendEnvelopeOn(conn int, env Envelope) (string, error) {
	s.mu.Lock()
	c := s.connLocked(conn)
	if env.EnvelopeID == "" {
		env.EnvelopeID = s.nextIDLocked("env-")
	}
	s.mu.Unlock()
	if c == nil {
		return "", ErrNotConnected
	}
	data, err := json.Marshal(env)
	if err != nil {
		return "", err
	}
	return env.EnvelopeID, c.write(data)
}

// sendEnvelope sends env on the next open connection in turn, avoiding the
// connection avoid (a connection id, 0 for none) when another is open; it
// returns the envelope id and the connection used.
func (s *Server) sendEnvelope(env Envelope, avoid int) (string, int, error) {
	s.mu.Lock()
	if env.EnvelopeID == "" {
		env.EnvelopeID = s.nextIDLocked("env-")
	}
	c := s.pickLocked(avoid)
	s.mu.Unlock()
	if c == nil {
		return env.EnvelopeID, 0, ErrNotConnected
	}
	data, err := json.Marshal(env)
	if err != nil {
		return "", 0, err
	}
	return env.EnvelopeID, c.id, c.write(data)
}

// pickLocked returns the next open connection in turn, skipping avoid when
// another one is open, or nil; s.mu must be held.
func (s *Server) pickLocked(avoid int) *socketConn {
	n := len(s.socket.conns)
	if n == 0 {
		return nil
	}
	for range n {
		c := s.socket.conns[s.socket.next%n]
		s.socket.next++
		if c.id != avoid || n == 1 {
			return c
		}
	}
	return nil
}

func (s *Server) connLocked(id int) *socketConn {
	for _, c := range s.socket.conns {
		if c.id == id {
			return c
		}
	}
	return nil
}

// ConnIDs returns the ids of the open Socket Mode connections, oldest first.
// Ids count accepted connections from 1.
func (s *Server) ConnIDs() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int, 0, len(s.socket.conns))
	for _, c := range s.socket.conns {
		out = append(out, c.id)
	}
	return out
}

// OpenConnections returns how many Socket Mode connections are open
// (silenced ones included).
func (s *Server) OpenConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.socket.conns)
}

// Silence makes the open connection conn half-open: it stays open, but
// everything sent on it from now on is lost (envelopes and pings) and
// nothing the client sends on it arrives (acks and pongs). It reports
// whether conn was open.
func (s *Server) Silence(conn int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.connLocked(conn)
	if c == nil {
		return false
	}
	c.silenced.Store(true)
	return true
}

// SendEvent sends ev as an events_api envelope. retryAttempt > 0 marks a
// redelivery (Slack's retry_attempt, reason "timeout").
func (s *Server) SendEvent(ev Event, retryAttempt int) (string, error) {
	env := Envelope{Type: "events_api", Payload: s.EventBody(ev), RetryAttempt: retryAttempt}
	if retryAttempt > 0 {
		env.RetryReason = "timeout"
	}
	return s.SendEnvelope(env)
}

// SendClick sends a block_actions interaction envelope for c.
func (s *Server) SendClick(c Click) (string, error) {
	return s.SendEnvelope(Envelope{Type: "interactive", Payload: s.ClickBody(c), AcceptsResponsePayload: true})
}

// Disconnect sends Slack's "disconnect" request (refresh_requested), after
// which the client reconnects through apps.connections.open.
func (s *Server) Disconnect() error {
	return s.SendRaw([]byte(`{"type":"disconnect","reason":"refresh_requested","debug_info":{"host":"slackfake"}}`))
}
