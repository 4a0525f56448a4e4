package promptevtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// turn runs one query on a session and updates the session's state. It
// returns nil when the session vanished meanwhile.
func (s *Server) turn(agentID string, a Agent, token, query string) []Event {
	s.mu.Lock()
	sess, ok := s.sessions[token]
	if !ok {
		s.mu.Unlock()
		return nil
	}
	t := Turn{AgentID: agentID, Query: query, SessionToken: token, Visitor: sess.visitor}
	if a.MemoryEnabled {
		t.History = slices.Clone(sess.history)
	}
	pending := sess.pendingApproval
	approveQ, denyQ := s.approveQ, s.denyQ
	s.mu.Unlock()

	var evs []Event
	switch {
	case pending && query == approveQ:
		evs = a.approvalEvents(true, t)
	case pending && (query == denyQ || strings.HasPrefix(query, denyQ+":")):
		// "deny: <reason>" (the bridge's default deny_with_reason_query)
		// is a denial too; {{query}} in OnDeny shows the reason.
		evs = a.approvalEvents(false, t)
	default:
		evs = a.events(t)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	sess.history = append(sess.history, query)
	sess.pendingApproval = false
	for _, e := range evs {
		if e.Terminal() {
			sess.pendingApproval = e.Type == TypeApprovalRequired
		}
	}
	return evs
}

// lookup returns the agent and checks that token (if not empty) is a session of it.
func (s *Server) lookup(agentID, token string) (Agent, int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.agents[agentID]
	if !ok {
		return Agent{}, http.StatusNotFound, "agent not found"
	}
	if token != "" {
		if sess, ok := s.sessions[token]; !ok || sess.agentID != agentID {
			return Agent{}, http.StatusNotFound, "session not found"
		}
	}
	return a, 0, ""
}

// decodeBody decodes an optional JSON object body.
func decodeBody(body []byte, v any) bool {
	if len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	return json.Unmarshal(body, v) == nil
}

func (s *Server) newSession(agentID, visitor, prefix string) string {
	token := newToken(prefix)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[token] = &session{agentID: agentID, visitor: visitor}
	return token
}

func (s *Server) start(w http.ResponseWriter, agentID string, body []byte) {
	var req struct {
		Visitor  string `json:"visitor"`
		Platform string `json:"platform"`
	}
	if !decodeBody(body, &req) {
		writeError(w, http.StatusBadRequest, "invalid JSON body")
		return
	}
	a, code, msg := s.lookup(agentID, "")
	if code != 0 {
		writeError(w, code, msg)
		return
	}
	token := s.newSession(agentID, req.Visitor, "pvs_")
	writeJSON(w, http.StatusOK, map[string]any{
		"session_token":  token,
		"agent_id":       agentID,
		"name":           a.Name,
		"memory_enabled": a.MemoryEnabled,
		"messages":       []any{},
	})
}

func (s *Server) trigger(w http.ResponseWriter, r *http.Request, agentID string, body []byte) {
	var req struct {
		Message   string         `json:"message"`
		SessionID string         `json:"session_id"`
		Variables map[string]any `json:"variables"`
		Visitor   string         `json:"visitor"`
	}
	if !decodeBody(body, &req) {
		writeError(w, http.StatusBadRequest, "invalid JSON body")
		return
	}
	if req.Message == "" {
		writeError(w, http.StatusUnprocessableEntity, "message is required")
		return
	}
	a, code, msg := s.lookup(agentID, req.SessionID)
	if code != 0 {
		writeError(w, code, msg)
		return
	}
	id := req.SessionID
	if id == "" {
		id = s.newSession(agentID, req.Visitor, "pvt_")
	}
	evs := s.turn(agentID, a, id, req.Message)
	if evs == nil {
		writeError(w, http.StatusNotFound, "session not found")
		return
	}
	resp := map[string]any{"session_id": id, "response": ""}
	for _, e := range evs {
		if !s.sleep(r, e.Delay) {
			return
		}
		switch {
		case e.Type == TypeError && e.Raw == "":
			writeError(w, http.StatusInternalServerError, e.Output)
			return
		case e.Type == TypeDone && e.Raw == "":
			resp["response"] = e.Output
		case e.Type == TypeApprovalRequired && e.Raw == "":
			resp["response"] = e.Output
			resp["approval_required"] = true
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, agentID string, body []byte, faults []Fault) {
	var req struct {
		SessionToken string `json:"session_token"`
		Query        string `json:"query"`
	}
	if !decodeBody(body, &req) {
		writeError(w, http.StatusBadRequest, "invalid JSON body")
		return
	}
	if req.SessionToken == "" || req.Query == "" {
		writeError(w, http.StatusUnprocessableEntity, "session_token and query are required")
		return
	}
	a, code, msg := s.lookup(agentID, req.SessionToken)
	if code != 0 {
		writeError(w, code, msg)
		return
	}
	evs := s.turn(agentID, a, req.SessionToken, req.Query)
	if evs == nil {
		writeError(w, http.StatusNotFound, "session not found")
		return
	}
	s.writeStream(w, r, evs, faults)
}
