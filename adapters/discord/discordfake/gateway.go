package discordfake

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// ErrNoConnection is returned by dispatches when no gateway session is up.
var ErrNoConnection = errors.New("discordfake: no identified gateway connection")

// gwConn is one gateway websocket connection.
type gwConn struct {
	ws      *websocket.Conn
	wmu     sync.Mutex
	session string
	seq     int64
	// resumeURL is true for a connection made to READY's resume_gateway_url,
	// the only place the fake accepts a RESUME.
	resumeURL bool
	// sent are the dispatches written on the session (for replay on RESUME).
	sent []payload
	// shard is the session's [shard_id, num_shards] ({0, 1} without one).
	shard [2]int
}

// receives reports whether the connection's shard gets the events of
// guildID: Discord sends a guild's events to shard (guild_id >> 22) %
// num_shards, and DMs (guildID "") to shard 0 alone.
func (c *gwConn) receives(guildID string) bool {
	return ShardOf(guildID, c.shard[1]) == c.shard[0]
}

// ShardOf returns the shard that receives guildID's events among count
// shards, by Discord's rule (guild_id >> 22) % num_shards; DMs (guildID "")
// go to shard 0.
func ShardOf(guildID string, count int) int {
	id, err := strconv.ParseUint(guildID, 10, 64)
	if err != nil || count <= 1 {
		return 0
	}
	return int((id >> 22) % uint64(count))
}

// maxReplay bounds the dispatches kept per session for replay.
const maxReplay = 1000

type payload struct {
	Op int    `json:"op"`
	D  any    `json:"d"`
	S  *int64 `json:"s,omitempty"`
	T  string `json:"t,omitempty"`
}

func (c *gwConn) write(p payload) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if p.Op == 0 && p.S == nil {
		c.seq++
		seq := c.seq
		p.S = &seq
		if p.T != "READY" && p.T != "RESUMED" {
			c.sent = append(c.sent, p)
			if len(c.sent) > maxReplay {
				c.sent = c.sent[len(c.sent)-maxReplay:]
			}
		}
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(p)
}

func (c *gwConn) close(code int, text string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	_ = c.ws.Close()
}

func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	s.serveConn(w, r, false)
}

func (s *Server) serveResumeGateway(w http.ResponseWriter, r *http.Request) {
	s.serveConn(w, r, true)
}

func (s *Server) serveConn(w http.ResponseWriter, r *http.Request, resumeURL bool) {
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &gwConn{ws: ws, resumeURL: resumeURL, shard: [2]int{0, 1}}
	defer func() {
		s.mu.Lock()
		if _, ok := s.conns[c]; ok {
			delete(s.conns, c)
			s.sessions[c.session] = c.seq
			s.sessionShards[c.session] = c.shard
			c.wmu.Lock()
			s.replay[c.session] = c.sent
			c.wmu.Unlock()
			s.notifyLocked()
		}
		s.mu.Unlock()
		_ = ws.Close()
	}()
	s.mu.Lock()
	hb := s.heartbeatMillis
	s.mu.Unlock()
	if c.write(payload{Op: 10, D: map[string]any{"heartbeat_interval": hb}}) != nil {
		return
	}
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var p struct {
			Op int             `json:"op"`
			D  json.RawMessage `json:"d"`
		}
		if json.Unmarshal(data, &p) != nil {
			c.close(4002, "decode error")
			return
		}
		switch p.Op {
		case 1:
			s.mu.Lock()
			s.snap.Heartbeats++
			zombie := s.zombie
			s.notifyLocked()
			s.mu.Unlock()
			if zombie {
				continue // a zombied connection: open, but heartbeats go unanswered
			}
			if c.write(payload{Op: 11}) != nil {
				return
			}
		case 2:
			if !s.identify(c, p.D) {
				return
			}
		case 6:
			if !s.resume(c, p.D) {
				return
			}
		}
	}
}

// identify answers an Identify with READY and GUILD_CREATEs, or closes with
// the configured code.
func (s *Server) identify(c *gwConn, raw json.RawMessage) bool {
	var id Identify
	_ = json.Unmarshal(raw, &id)
	id.At = time.Now()
	s.mu.Lock()
	s.snap.Identifies = append(s.snap.Identifies, id)
	code := s.identifyClose
	s.notifyLocked()
	s.mu.Unlock()
	if code != 0 {
		c.close(code, closeText(code))
		return false
	}
	if !strings.HasPrefix(id.Token, "Bot ") {
		c.close(4004, closeText(4004))
		return false
	}
	if id.Shard != nil {
		if sh := *id.Shard; sh[1] < 1 || sh[0] < 0 || sh[0] >= sh[1] {
			c.close(4010, closeText(4010))
			return false
		}
		c.shard = *id.Shard
	}
	c.session = randomToken()
	s.mu.Lock()
	var guilds []map[string]any
	for _, g := range s.guildsLocked() {
		if c.receives(g["id"].(string)) {
			guilds = append(guilds, g)
		}
	}
	s.mu.Unlock()
	short := make([]any, 0, len(guilds))
	for _, g := range guilds {
		short = append(short, map[string]any{"id": g["id"], "unavailable": true})
	}
	ready := map[string]any{
		"v": 9, "user": botUser(), "session_id": c.session, "resume_gateway_url": s.ResumeGatewayURL(),
		"guilds": short, "private_channels": []any{}, "application": map[string]any{"id": AppID, "flags": 0},
	}
	if id.Shard != nil {
		ready["shard"] = id.Shard
	}
	if c.write(payload{Op: 0, T: "READY", D: ready}) != nil {
		return false
	}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.snap.Readies++
	s.notifyLocked()
	s.mu.Unlock()
	for _, g := range guilds {
		if c.write(payload{Op: 0, T: "GUILD_CREATE", D: g}) != nil {
			return false
		}
	}
	return true
}

// resume answers a Resume with RESUMED for a known session, or with
// Invalid Session (op 9) so the client identifies again.
func (s *Server) resume(c *gwConn, raw json.RawMessage) bool {
	var r struct {
		SessionID string `json:"session_id"`
		Seq       int64  `json:"seq"`
	}
	_ = json.Unmarshal(raw, &r)
	s.mu.Lock()
	s.snap.Resumes++
	code := s.identifyClose
	seq, known := s.sessions[r.SessionID]
	missed := s.replay[r.SessionID]
	shard := s.sessionShards[r.SessionID]
	s.notifyLocked()
	s.mu.Unlock()
	if code != 0 {
		c.close(code, closeText(code))
		return false
	}
	s.mu.Lock()
	strict := s.strictResume
	s.mu.Unlock()
	if !known || (strict && !c.resumeURL) {
		// Unknown session, or a RESUME sent to the original gateway URL
		// instead of resume_gateway_url: the session cannot be resumed.
		s.mu.Lock()
		s.snap.InvalidSessions++
		s.notifyLocked()
		s.mu.Unlock()
		return c.write(payload{Op: 9, D: false}) == nil
	}
	c.session, c.seq, c.shard = r.SessionID, seq, shard
	// Discord replays what the client missed, in order, then RESUMED.
	for _, p := range missed {
		if *p.S <= r.Seq {
			continue
		}
		c.wmu.Lock()
		c.sent = append(c.sent, p)
		c.wmu.Unlock()
		if c.write(p) != nil {
			return false
		}
		s.mu.Lock()
		s.snap.Replayed++
		s.mu.Unlock()
	}
	if c.write(payload{Op: 0, T: "RESUMED", D: map[string]any{}}) != nil {
		return false
	}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.snap.Resumed++
	s.notifyLocked()
	s.mu.Unlock()
	return true
}

// RequireResumeURL makes the gateway accept a RESUME only on READY's
// resume_gateway_url (ResumeGatewayURL), as Discord asks; elsewhere it is
// answered with op 9 Invalid Session.
func (s *Server) RequireResumeURL(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.strictResume = on
}

// ZombieHeartbeats makes every gateway connection stop answering heartbeats
// (op 11) while staying open, as a half-dead connection does; false answers
// them again.
func (s *Server) ZombieHeartbeats(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zombie = on
}

// RequestReconnect sends op 7 Reconnect on every gateway connection: the
// client must close, reconnect and resume at once.
func (s *Server) RequestReconnect() error {
	s.mu.Lock()
	conns := make([]*gwConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if len(conns) == 0 {
		return ErrNoConnection
	}
	var errs []error
	for _, c := range conns {
		errs = append(errs, c.write(payload{Op: 7, D: nil}))
	}
	return errors.Join(errs...)
}

// guildsLocked builds GUILD_CREATE payloads from the registered channels; s.mu must be held.
func (s *Server) guildsLocked() []map[string]any {
	byGuild := map[string][]Channel{}
	for _, c := range s.channels {
		if c.GuildID != "" {
			byGuild[c.GuildID] = append(byGuild[c.GuildID], *c)
		}
	}
	ids := make([]string, 0, len(byGuild))
	for id := range byGuild {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		var channels, threads []map[string]any
		for _, c := range byGuild[id] {
			if c.Type == ChannelTypePublicThread {
				threads = append(threads, threadJSON(c, 1440))
			} else {
				channels = append(channels, map[string]any{"id": c.ID, "guild_id": id, "name": c.Name, "type": c.Type})
			}
		}
		out = append(out, map[string]any{
			"id": id, "name": "guild " + id, "unavailable": false,
			"channels": channels, "threads": threads, "members": []any{},
			"roles": []any{
				map[string]any{"id": id, "name": "@everyone", "color": 0, "hoist": false, "position": 0,
					"permissions": "1071698660929", "managed": false, "mentionable": false, "flags": 0},
				// The role Discord creates for a bot added with permissions.
				map[string]any{"id": BotRoleID, "name": BotName, "color": 0, "hoist": false, "position": 1,
					"permissions": "326417591296", "managed": true, "mentionable": false, "flags": 0,
					"tags": map[string]any{"bot_id": BotID}},
			},
		})
	}
	return out
}

// Dispatch sends an event (op 0) to every identified gateway connection
// of the shard that receives it: the shard of the event's guild_id, or
// shard 0 for an event without one (a DM). Every connection without a
// shard receives everything.
func (s *Server) Dispatch(eventType string, data any) error {
	guildID := eventGuild(data)
	s.mu.Lock()
	conns := make([]*gwConn, 0, len(s.conns))
	for c := range s.conns {
		if c.receives(guildID) {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	if len(conns) == 0 {
		return ErrNoConnection
	}
	var errs []error
	for _, c := range conns {
		errs = append(errs, c.write(payload{Op: 0, T: eventType, D: data}))
	}
	return errors.Join(errs...)
}

// eventGuild reads an event's guild_id ("" when it has none).
func eventGuild(data any) string {
	if m, ok := data.(map[string]any); ok {
		g, _ := m["guild_id"].(string)
		return g
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return ""
	}
	var ev struct {
		GuildID string `json:"guild_id"`
	}
	_ = json.Unmarshal(raw, &ev)
	return ev.GuildID
}

// CloseGateway closes every gateway connection with code (for example 4000
// to make the client resume, or 4004 for a revoked token).
func (s *Server) CloseGateway(code int) {
	s.mu.Lock()
	conns := make([]*gwConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close(code, closeText(code))
	}
}

func closeText(code int) string {
	switch code {
	case 4004:
		return "Authentication failed."
	case 4010:
		return "Invalid shard."
	case 4011:
		return "Sharding required."
	case 4013:
		return "Invalid intent(s)."
	case 4014:
		return "Disallowed intent(s)."
	}
	return "closed by fake"
}
