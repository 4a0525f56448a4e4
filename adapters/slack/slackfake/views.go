package slackfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"
)

// Slack's documented limits of views.open: a trigger_id is good for 3
// seconds and once; a modal's title has at most 24 characters, its
// callback_id 255, its private_metadata 3,000, and it has 1 to 100 blocks.
const (
	triggerLifetime    = 3 * time.Second
	maxModalTitle      = 24
	maxCallbackID      = 255
	maxPrivateMetadata = 3000
	maxModalBlocks     = 100
)

// View is a modal opened through views.open.
type View struct {
	ID              string
	TriggerID       string
	CallbackID      string
	Title           string
	PrivateMetadata string
	// Blocks is the view's blocks JSON as sent.
	Blocks json.RawMessage
	// Submitted is true once SubmitView sent its view_submission.
	Submitted bool
}

// viewState holds the trigger ids handed out with interactions and the
// views opened with them. It is guarded by Server.mu.
type viewState struct {
	triggers map[string]time.Time // trigger id -> issued
	views    []*View
}

// issueTriggerLocked records a trigger id handed out with an interaction.
func (s *Server) issueTriggerLocked(id string) {
	if s.views.triggers == nil {
		s.views.triggers = map[string]time.Time{}
	}
	s.views.triggers[id] = time.Now()
}

// viewsOpen serves views.open: a JSON body {"trigger_id", "view"} with the
// bot token as a bearer. Answers Slack's errors: invalid_auth,
// invalid_trigger_id (unknown or used), expired_trigger_id (older than 3 s)
// and invalid_arguments (a view breaking the modal limits).
func (s *Server) viewsOpen(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TriggerID string `json:"trigger_id"`
		View      struct {
			Type            string          `json:"type"`
			CallbackID      string          `json:"callback_id"`
			PrivateMetadata string          `json:"private_metadata"`
			Blocks          json.RawMessage `json:"blocks"`
			Title           struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"title"`
		} `json:"view"`
	}
	err := json.NewDecoder(r.Body).Decode(&req)
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notifyLocked()
	c := Call{Method: "views.open", At: time.Now()}
	fail := func(code string) {
		c.Error = code
		s.calls = append(s.calls, c)
		writeJSON(w, map[string]any{"ok": false, "error": code})
	}
	var blocks []json.RawMessage
	if err == nil {
		err = json.Unmarshal(req.View.Blocks, &blocks)
	}
	issued, known := s.views.triggers[req.TriggerID]
	switch {
	case s.tokenCodeLocked(bearer(r)) != "":
		fail(s.tokenCodeLocked(bearer(r)))
	case err != nil:
		fail("invalid_json")
	case !known:
		fail("invalid_trigger_id")
	case time.Since(issued) > triggerLifetime:
		fail("expired_trigger_id")
	case req.View.Type != "modal" || req.View.Title.Type != "plain_text" || req.View.Title.Text == "" ||
		utf8.RuneCountInString(req.View.Title.Text) > maxModalTitle ||
		len(req.View.CallbackID) > maxCallbackID || len(req.View.PrivateMetadata) > maxPrivateMetadata ||
		len(blocks) == 0 || len(blocks) > maxModalBlocks:
		fail("invalid_arguments")
	default:
		delete(s.views.triggers, req.TriggerID)
		v := &View{
			ID: s.nextIDLocked("V"), TriggerID: req.TriggerID, CallbackID: req.View.CallbackID,
			Title: req.View.Title.Text, PrivateMetadata: req.View.PrivateMetadata, Blocks: req.View.Blocks,
		}
		s.views.views = append(s.views.views, v)
		c.TS = v.ID
		s.calls = append(s.calls, c)
		writeJSON(w, map[string]any{"ok": true, "view": map[string]any{
			"id": v.ID, "team_id": TeamID, "type": "modal", "callback_id": v.CallbackID,
			"private_metadata": v.PrivateMetadata, "blocks": v.Blocks, "app_id": AppID, "bot_id": BotID,
			"title": map[string]any{"type": "plain_text", "text": v.Title},
			"state": map[string]any{"values": map[string]any{}}, "hash": "h-" + v.ID,
		}})
	}
}

// Views returns the modals opened so far, in order.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]View, 0, len(s.views.views))
	for _, v := range s.views.views {
		out = append(out, *v)
	}
	return out
}

// ViewSubmissionBody returns the view_submission payload JSON of view id
// submitted by user, with values (block id -> action id -> typed text) as
// plain_text_input states, in Slack's documented shape.
func (s *Server) ViewSubmissionBody(id, user string, values map[string]map[string]string) (json.RawMessage, error) {
	s.mu.Lock()
	var v *View
	for _, cand := range s.views.views {
		if cand.ID == id {
			v = cand
		}
	}
	if v == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("slackfake: no view %q", id)
	}
	v.Submitted = true
	trigger := s.nextIDLocked("trig-")
	s.issueTriggerLocked(trigger)
	view := *v
	s.mu.Unlock()
	state := map[string]any{}
	for block, actions := range values {
		m := map[string]any{}
		for action, text := range actions {
			m[action] = map[string]any{"type": "plain_text_input", "value": text}
		}
		state[block] = m
	}
	body := map[string]any{
		"type":       "view_submission",
		"team":       map[string]any{"id": TeamID, "domain": TeamDomain},
		"user":       map[string]any{"id": user, "username": user, "name": user, "team_id": TeamID},
		"api_app_id": AppID, "token": "fake-verification-token", "trigger_id": trigger,
		"view": map[string]any{
			"id": view.ID, "team_id": TeamID, "type": "modal", "blocks": view.Blocks,
			"private_metadata": view.PrivateMetadata, "callback_id": view.CallbackID,
			"state": map[string]any{"values": state}, "hash": "h-" + view.ID,
			"title":        map[string]any{"type": "plain_text", "text": view.Title},
			"root_view_id": view.ID, "previous_view_id": nil, "app_id": AppID, "bot_id": BotID,
		},
		"response_urls": []any{},
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return data, nil
}

// SubmitView sends the view_submission of view id by user as an
// interactive envelope (see ViewSubmissionBody).
func (s *Server) SubmitView(id, user string, values map[string]map[string]string) (string, error) {
	body, err := s.ViewSubmissionBody(id, user, values)
	if err != nil {
		return "", err
	}
	return s.SendEnvelope(Envelope{Type: "interactive", Payload: body, AcceptsResponsePayload: true})
}

// PostViewSubmission POSTs the view_submission of view id by user as an
// interactivity request (form field "payload") to an adapter's
// interactions URL, signed like Slack's.
func (s *Server) PostViewSubmission(interactionsURL, id, user string, values map[string]map[string]string, opts PostOptions) (*http.Response, error) {
	body, err := s.ViewSubmissionBody(id, user, values)
	if err != nil {
		return nil, err
	}
	form := url.Values{"payload": {string(body)}}
	return PostSigned(interactionsURL, "application/x-www-form-urlencoded", []byte(form.Encode()), opts)
}
