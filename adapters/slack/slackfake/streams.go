package slackfake

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Slack's documented limits of the agent surface, as the fake enforces them.
const (
	// maxStreamMarkdown is the limit of markdown_text (argument or chunk)
	// in one chat.startStream, chat.appendStream or chat.stopStream call.
	maxStreamMarkdown = 12000
	// maxLoadingMessages is the limit of assistant.threads.setStatus's
	// loading_messages.
	maxLoadingMessages = 10
)

// Task is a task card of a streamed message, as its task_update chunks left it.
type Task struct {
	ID      string
	Title   string
	Status  string
	Details string
	Output  string
}

// Stream is the streaming state of a message started with chat.startStream.
type Stream struct {
	// Recipient and RecipientTeam are who sees the text arrive live in a
	// channel (recipient_user_id, recipient_team_id).
	Recipient, RecipientTeam string
	// Stopped is true once chat.stopStream ended the stream.
	Stopped bool
	// Markdown is the markdown text streamed so far, in order.
	Markdown string
	// Tasks are the task cards, in the order of their first update.
	Tasks []Task
	// DisplayMode is the task_display_mode (timeline or plan).
	DisplayMode string
	// Appends counts successful chat.appendStream calls.
	Appends int
}

// Task returns the task card with id, if the stream has one.
func (st *Stream) Task(id string) (Task, bool) {
	for _, t := range st.Tasks {
		if t.ID == id {
			return t, true
		}
	}
	return Task{}, false
}

// streamChunk is one element of a chunks argument.
type streamChunk struct {
	Type    string          `json:"type"`
	Text    string          `json:"text"`
	ID      string          `json:"id"`
	Title   string          `json:"title"`
	Status  string          `json:"status"`
	Details string          `json:"details"`
	Output  string          `json:"output"`
	Blocks  json.RawMessage `json:"blocks"`
}

// parseChunks checks a chunks argument against Slack's chunk shapes and
// returns the error code Slack would answer, or "".
func parseChunks(raw string) ([]streamChunk, string) {
	if raw == "" {
		return nil, ""
	}
	var cs []streamChunk
	if err := json.Unmarshal([]byte(raw), &cs); err != nil {
		return nil, "invalid_chunks"
	}
	for _, c := range cs {
		switch c.Type {
		case "markdown_text":
			if c.Text == "" {
				return nil, "invalid_chunks"
			}
		case "task_update":
			if c.ID == "" || c.Title == "" {
				return nil, "invalid_chunks"
			}
			switch c.Status {
			case "", "pending", "in_progress", "complete", "error":
			default:
				return nil, "invalid_chunks"
			}
		case "plan_update":
			if c.Title == "" {
				return nil, "invalid_chunks"
			}
		case "blocks":
			if code := checkMessage("x", c.Blocks); code != "" || len(c.Blocks) == 0 {
				return nil, "invalid_chunks"
			}
		default:
			return nil, "invalid_chunks"
		}
	}
	return cs, ""
}

// isDM reports whether channel is a direct message (ids start with D).
func isDM(channel string) bool { return strings.HasPrefix(channel, "D") }

// stream serves chat.startStream, chat.appendStream and chat.stopStream.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	f := r.PostForm
	c := Call{
		Method:   method,
		Channel:  f.Get("channel"),
		TS:       f.Get("ts"),
		ThreadTS: f.Get("thread_ts"),
		Text:     f.Get("markdown_text"),
		User:     f.Get("recipient_user_id"),
		Chunks:   f.Get("chunks"),
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
	c.At = time.Now()
	if s.refuseLocked(w, &c, tok, "") { // limits per workspace
		return
	}
	chunks, code := parseChunks(c.Chunks)
	markdown := utf8.RuneCountInString(c.Text)
	for _, ch := range chunks {
		if ch.Type == "markdown_text" {
			markdown += utf8.RuneCountInString(ch.Text)
		}
	}
	var target *Message
	switch {
	case code != "":
	case c.Channel == "":
		code = "channel_not_found"
	case markdown > maxStreamMarkdown:
		code = "msg_too_long"
	case method == "chat.startStream":
		switch {
		case c.ThreadTS == "":
			code = "invalid_arguments"
		case !isDM(c.Channel) && (c.User == "" || f.Get("recipient_team_id") == ""):
			// In a channel the stream needs its recipient.
			code = "invalid_arguments"
		}
	default:
		target = s.msgs[c.Channel+" "+c.TS]
		switch {
		case target == nil || target.Deleted:
			code = "message_not_found"
		case target.Stream == nil || target.Stream.Stopped:
			code = "message_not_in_streaming_state"
		case method == "chat.appendStream" && c.Text == "" && len(chunks) == 0:
			code = "invalid_arguments"
		}
	}
	if code == "" && len(c.Blocks) > 0 {
		code = checkMessage("x", c.Blocks)
	}
	if code != "" {
		c.Error = code
		s.calls = append(s.calls, c)
		writeJSON(w, map[string]any{"ok": false, "error": code})
		return
	}
	switch method {
	case "chat.startStream":
		c.TS = s.nextTSLocked()
		k := c.Channel + " " + c.TS
		target = &Message{Channel: c.Channel, TS: c.TS, ThreadTS: c.ThreadTS, seenBlockIDs: map[string]bool{},
			Stream: &Stream{Recipient: c.User, RecipientTeam: f.Get("recipient_team_id"), DisplayMode: first(f.Get("task_display_mode"), "timeline")}}
		s.msgs[k] = target
		s.order = append(s.order, k)
	case "chat.appendStream":
		target.Stream.Appends++
	case "chat.stopStream":
		target.Stream.Stopped = true
		if len(c.Blocks) > 0 {
			target.Blocks = c.Blocks
		}
	}
	applyStream(target, c.Text, chunks)
	s.calls = append(s.calls, c)
	writeJSON(w, map[string]any{"ok": true, "channel": c.Channel, "ts": target.TS})
}

// applyStream adds markdown and chunks to a streamed message.
func applyStream(m *Message, markdown string, chunks []streamChunk) {
	st := m.Stream
	st.Markdown += markdown
	for _, ch := range chunks {
		switch ch.Type {
		case "markdown_text":
			st.Markdown += ch.Text
		case "task_update":
			i := -1
			for j, t := range st.Tasks {
				if t.ID == ch.ID {
					i = j
				}
			}
			if i < 0 {
				st.Tasks = append(st.Tasks, Task{ID: ch.ID})
				i = len(st.Tasks) - 1
			}
			t := &st.Tasks[i]
			t.Title = ch.Title
			t.Status = first(ch.Status, t.Status, "pending")
			t.Details = first(ch.Details, t.Details)
			t.Output = first(ch.Output, t.Output)
		case "blocks":
			m.Blocks = ch.Blocks
		}
	}
	m.Text = st.Markdown
}

// VisibleText returns what user sees of the message channel/ts: a stream in
// a channel shows its text live only to its recipient, and to everyone once
// it stopped; in a DM the reader is the recipient. ok is false when the
// message does not exist or user sees nothing of it yet.
func (s *Server) VisibleText(channel, ts, user string) (text string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.msgs[channel+" "+ts]
	if m == nil || m.Deleted {
		return "", false
	}
	if st := m.Stream; st != nil && !st.Stopped && !isDM(channel) && user != st.Recipient {
		return "", false
	}
	return m.Text, true
}

// FailMethod makes method answer {"ok":false,"error":code} from now on, as a
// workspace without it does ("unknown_method" on GovSlack,
// "not_allowed_token_type", "missing_scope"); code "" restores it.
func (s *Server) FailMethod(method, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing[method] = code
}

// refuseLocked answers the call when a rule refuses it before its
// arguments are looked at: a forced 429, the rate limits, a failing method,
// a bad token. It records the call and reports true when it answered.
func (s *Server) refuseLocked(w http.ResponseWriter, c *Call, tok, scope string) bool {
	if rule, ok := s.rateLimited[c.Method]; ok && rule.n > 0 {
		rule.n--
		s.rateLimited[c.Method] = rule
		s.answer429Locked(w, c, rule.retryAfter)
		return true
	}
	team, authCode := s.tokenTeamLocked(tok)
	c.Team = team
	if s.limits != nil && authCode == "" {
		if ok, wait := s.limits.admit(c.Method, scope, c.At); !ok {
			s.answer429Locked(w, c, retryAfterSeconds(wait))
			return true
		}
	}
	code := s.failing[c.Method]
	if authCode != "" {
		code = authCode
	}
	if code == "" {
		return false
	}
	c.Error = code
	s.calls = append(s.calls, *c)
	writeJSON(w, map[string]any{"ok": false, "error": code})
	return true
}

func (s *Server) answer429Locked(w http.ResponseWriter, c *Call, secs int) {
	c.Error = "ratelimited"
	c.RetryAfter = time.Duration(secs) * time.Second
	s.calls = append(s.calls, *c)
	w.Header().Set("Retry-After", itoa(secs))
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write([]byte(`{"ok":false,"error":"ratelimited"}`))
}
