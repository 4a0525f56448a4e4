package slackfake

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Slack's limits, as the real API enforces them.
const (
	maxText          = 4000
	maxBlocks        = 50
	maxSectionText   = 3000
	maxMarkdownTotal = 12000
	maxContextElems  = 10
	maxBlockID       = 255
	maxButtonValue   = 2000
	// maxContextActions is the limit of elements in a context_actions block.
	maxContextActions = 5
	// maxFeedbackText is the limit of a feedback button's text.
	maxFeedbackText = 75
)

// feedbackButton is the positive or negative button of a feedback_buttons element.
type feedbackButton struct {
	Text struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"text"`
	Value string `json:"value"`
}

func (b *feedbackButton) valid() bool {
	return b != nil && b.Text.Type == "plain_text" && b.Text.Text != "" &&
		utf8.RuneCountInString(b.Text.Text) <= maxFeedbackText && b.Value != "" && len(b.Value) <= maxButtonValue
}

func (s *Server) authTest(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	tok := r.PostForm.Get("token")
	if tok == "" {
		tok = bearer(r)
	}
	s.mu.Lock()
	code := s.authErr["auth.test"]
	team, tokCode := s.tokenTeamLocked(tok)
	bot := BotUserID
	if in, ok := s.oauth.installs[tok]; ok {
		bot = in.BotUserID
	}
	s.mu.Unlock()
	if code == "" {
		code = tokCode
	}
	if code != "" {
		writeJSON(w, map[string]any{"ok": false, "error": code})
		return
	}
	s.mu.Lock()
	w.Header().Set("X-OAuth-Scopes", strings.Join(s.scopes, ","))
	s.mu.Unlock()
	writeJSON(w, map[string]any{
		"ok": true, "url": "https://" + TeamDomain + ".slack.com/", "team": "Fake", "user": "promptev",
		"team_id": team, "user_id": bot, "bot_id": BotID,
	})
}

func (s *Server) connectionsOpen(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	code := s.authErr["apps.connections.open"]
	s.socket.tickets++
	ticket := s.socket.tickets
	s.mu.Unlock()
	if code == "" && bearer(r) != AppToken {
		code = "invalid_auth"
	}
	if code != "" {
		writeJSON(w, map[string]any{"ok": false, "error": code})
		return
	}
	base := s.srv.URL
	if s.tlsSocket != nil {
		base = s.tlsSocket.URL // https://...
	}
	u := "ws" + strings.TrimPrefix(base, "http") + "/ws?ticket=fake-ticket-" + strconv.Itoa(ticket)
	writeJSON(w, map[string]any{"ok": true, "url": u})
}

// chat serves chat.* and assistant.threads.setStatus.
func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	f := r.PostForm
	c := Call{
		Method:      method,
		Channel:     first(f.Get("channel"), f.Get("channel_id")),
		TS:          f.Get("ts"),
		ThreadTS:    f.Get("thread_ts"),
		Chunks:      f.Get("loading_messages"),
		Text:        f.Get("text"),
		User:        f.Get("user"),
		UnfurlLinks: f.Get("unfurl_links"),
		UnfurlMedia: f.Get("unfurl_media"),
		Status:      f.Get("status"),
	}
	if b := f.Get("blocks"); b != "" {
		c.Blocks = json.RawMessage(b)
	}
	tok := f.Get("token")
	if tok == "" {
		tok = bearer(r)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notifyLocked()
	// Stamped under the lock: the calls' order and their times agree.
	c.At = time.Now()

	scope := c.Channel
	if method == "assistant.threads.setStatus" {
		// Its limit is per thread.
		scope = c.Channel + " " + c.ThreadTS
	}
	if s.refuseLocked(w, &c, tok, scope) {
		return
	}
	code := ""
	switch {
	case c.Channel == "":
		code = "channel_not_found"
	case method == "assistant.threads.setStatus":
		code = checkStatus(c.ThreadTS, f.Get("loading_messages"))
	case method == "chat.delete":
	default:
		code = checkMessage(c.Text, c.Blocks)
	}
	var target *Message
	if code == "" && (method == "chat.update" || method == "chat.delete") {
		target = s.msgs[c.Channel+" "+c.TS]
		if target == nil || target.Deleted {
			code = "message_not_found"
		}
	}
	if code != "" {
		c.Error = code
		s.calls = append(s.calls, c)
		writeJSON(w, map[string]any{"ok": false, "error": code})
		return
	}

	resp := map[string]any{"ok": true, "channel": c.Channel}
	switch method {
	case "chat.postMessage":
		c.TS = s.nextTSLocked()
		k := c.Channel + " " + c.TS
		s.msgs[k] = &Message{Channel: c.Channel, TS: c.TS, ThreadTS: c.ThreadTS, Text: c.Text, Blocks: c.Blocks,
			seenBlockIDs: map[string]bool{}}
		for _, id := range blockIDs(c.Blocks) {
			s.msgs[k].seenBlockIDs[id] = true
		}
		s.order = append(s.order, k)
		resp["ts"] = c.TS
		resp["message"] = map[string]any{"text": c.Text, "ts": c.TS, "thread_ts": c.ThreadTS, "bot_id": BotID}
	case "chat.update":
		target.Text, target.Blocks = c.Text, c.Blocks
		target.Edits++
		for _, id := range blockIDs(c.Blocks) {
			if target.seenBlockIDs[id] {
				target.ReusedBlockIDs++
			}
			target.seenBlockIDs[id] = true
		}
		resp["ts"] = c.TS
		resp["text"] = c.Text
	case "chat.delete":
		target.Deleted = true
		resp["ts"] = c.TS
	case "chat.postEphemeral":
		c.TS = s.nextTSLocked()
		resp["message_ts"] = c.TS
	case "assistant.threads.setStatus":
		s.statuses[c.Channel+" "+c.ThreadTS] = c.Status
	}
	s.calls = append(s.calls, c)
	writeJSON(w, resp)
}

// checkMessage applies Slack's message limits and returns the error code
// Slack would answer, or "".
func checkMessage(text string, blocks json.RawMessage) string {
	if utf8.RuneCountInString(text) > maxText {
		return "msg_too_long"
	}
	if len(blocks) == 0 {
		if strings.TrimSpace(text) == "" {
			return "no_text"
		}
		return ""
	}
	var bs []struct {
		Type     string          `json:"type"`
		BlockID  string          `json:"block_id"`
		Text     json.RawMessage `json:"text"`
		Elements []struct {
			Type     string          `json:"type"`
			Text     any             `json:"text"`
			ActionID string          `json:"action_id"`
			Value    string          `json:"value"`
			Positive *feedbackButton `json:"positive_button"`
			Negative *feedbackButton `json:"negative_button"`
		} `json:"elements"`
	}
	if err := json.Unmarshal(blocks, &bs); err != nil {
		return "invalid_blocks_format"
	}
	if len(bs) > maxBlocks {
		return "invalid_blocks"
	}
	markdown := 0
	for _, b := range bs {
		if utf8.RuneCountInString(b.BlockID) > maxBlockID {
			return "invalid_blocks"
		}
		switch b.Type {
		case "markdown":
			var t string
			if json.Unmarshal(b.Text, &t) != nil || t == "" {
				return "invalid_blocks"
			}
			markdown += utf8.RuneCountInString(t)
		case "section":
			var t struct {
				Text string `json:"text"`
			}
			if json.Unmarshal(b.Text, &t) != nil || t.Text == "" || utf8.RuneCountInString(t.Text) > maxSectionText {
				return "invalid_blocks"
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > maxContextElems {
				return "invalid_blocks"
			}
			for _, e := range b.Elements {
				if t, ok := e.Text.(string); ok && (t == "" || utf8.RuneCountInString(t) > maxSectionText) {
					return "invalid_blocks"
				}
			}
		case "context_actions":
			// Up to 5 feedback_buttons or icon_button elements; each
			// feedback button has a plain_text text of at most 75
			// characters and a value of at most 2,000.
			if len(b.Elements) == 0 || len(b.Elements) > maxContextActions {
				return "invalid_blocks"
			}
			for _, e := range b.Elements {
				switch e.Type {
				case "feedback_buttons":
					for _, fb := range []*feedbackButton{e.Positive, e.Negative} {
						if !fb.valid() {
							return "invalid_blocks"
						}
					}
				case "icon_button":
				default:
					return "invalid_blocks"
				}
				if len(e.ActionID) > maxBlockID {
					return "invalid_blocks"
				}
			}
		case "actions":
			if len(b.Elements) == 0 || len(b.Elements) > 25 {
				return "invalid_blocks"
			}
			for _, e := range b.Elements {
				if len(e.ActionID) > maxBlockID || len(e.Value) > maxButtonValue {
					return "invalid_blocks"
				}
			}
		}
	}
	if markdown > maxMarkdownTotal {
		return "invalid_blocks"
	}
	return ""
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
