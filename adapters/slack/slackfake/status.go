package slackfake

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// checkStatus checks assistant.threads.setStatus's arguments beyond the
// channel: a thread and at most maxLoadingMessages loading messages.
func checkStatus(threadTS, loading string) string {
	if threadTS == "" {
		return "invalid_thread_ts"
	}
	if loading != "" {
		var msgs []string
		if json.Unmarshal([]byte(loading), &msgs) != nil || len(msgs) > maxLoadingMessages {
			return "invalid_arguments"
		}
	}
	return ""
}

// ThreadStatus returns the assistant thread status of channel/threadTS as
// the last assistant.threads.setStatus left it ("" when cleared or never set).
func (s *Server) ThreadStatus(channel, threadTS string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statuses[channel+" "+threadTS]
}

// SessionStatuses returns the agent session statuses agents.sessions.setStatus
// gave the thread channel/threadTS, in order.
func (s *Server) SessionStatuses(channel, threadTS string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sessions[channel+" "+threadTS]...)
}

// agentSession serves agents.sessions.setStatus: a status of active,
// processing, suspended or closed for the session of a thread, created on
// its first call.
func (s *Server) agentSession(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	f := r.PostForm
	c := Call{Method: "agents.sessions.setStatus", Channel: f.Get("channel_id"), ThreadTS: f.Get("thread_ts"), Status: f.Get("status")}
	tok := f.Get("token")
	if tok == "" {
		tok = bearer(r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notifyLocked()
	c.At = time.Now()
	if s.refuseLocked(w, &c, tok, "") {
		return
	}
	code := ""
	switch {
	case c.Channel == "":
		code = "channel_not_found"
	case c.ThreadTS == "":
		code = "invalid_thread_ts"
	}
	switch c.Status {
	case "active", "processing", "suspended", "closed":
	default:
		code = first(code, "invalid_arguments")
	}
	if code != "" {
		c.Error = code
		s.calls = append(s.calls, c)
		writeJSON(w, map[string]any{"ok": false, "error": code})
		return
	}
	k := c.Channel + " " + c.ThreadTS
	s.sessions[k] = append(s.sessions[k], c.Status)
	s.calls = append(s.calls, c)
	writeJSON(w, map[string]any{"ok": true, "status": c.Status, "agent_status": c.Status})
}

// AgentSessionStopped is the agent_session_stopped event Slack sends when
// user presses the native Stop of the session in channel/threadTS, with the
// streams it halted.
func (s *Server) AgentSessionStopped(channel, threadTS, user string, streams ...string) Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.nextTSLocked()
	return Event{
		EventID: s.nextIDLocked("Ev"), Type: "agent_session_stopped",
		Channel: channel, ThreadTS: threadTS, User: user, TS: ts,
		StreamingTS: append([]string(nil), streams...),
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
