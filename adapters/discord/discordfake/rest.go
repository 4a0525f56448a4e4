package discordfake

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Discord JSON error codes the fake answers with.
const (
	codeUnknownChannel     = 10003
	codeUnknownMessage     = 10008
	codeUnknownInteraction = 10062
	codeEmptyMessage       = 50006
	codeMissingPermissions = 50013
	codeInvalidFormBody    = 50035
	codeThreadExists       = 160004
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	const api = "/api/v9"
	mux.HandleFunc("GET /gw", s.serveGateway)
	mux.HandleFunc("GET /gw/", s.serveGateway)
	mux.HandleFunc("GET "+api+"/gateway", s.getGateway)
	mux.HandleFunc("GET "+api+"/gateway/bot", s.auth(s.getGatewayBot))
	mux.HandleFunc("GET "+api+"/users/@me", s.auth(s.getMe))
	mux.HandleFunc("GET "+api+"/channels/{cid}", s.auth(s.getChannel))
	mux.HandleFunc("POST "+api+"/channels/{cid}/messages", s.auth(s.postMessage))
	mux.HandleFunc("PATCH "+api+"/channels/{cid}/messages/{mid}", s.auth(s.patchMessage))
	mux.HandleFunc("DELETE "+api+"/channels/{cid}/messages/{mid}", s.auth(s.deleteMessage))
	mux.HandleFunc("POST "+api+"/channels/{cid}/messages/{mid}/threads", s.auth(s.postThread))
	mux.HandleFunc("POST "+api+"/channels/{cid}/typing", s.auth(s.postTyping))
	mux.HandleFunc("POST "+api+"/interactions/{iid}/{token}/callback", s.postCallback)
	mux.HandleFunc("GET "+api+"/webhooks/{app}/{token}/messages/{mid}", s.getWebhookMessage)
	mux.HandleFunc("POST "+api+"/webhooks/{app}/{token}", s.postFollowup)
	mux.HandleFunc("POST "+api+"/applications/{app}/commands", s.auth(s.postCommand))
	mux.HandleFunc("POST "+api+"/applications/{app}/guilds/{gid}/commands", s.auth(s.postCommand))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, 0, "404: Not Found ("+r.Method+" "+r.URL.Path+")")
	})
	return mux
}

// auth requires a bot token, as Discord does.
func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bot ") {
			writeError(w, http.StatusUnauthorized, 0, "401: Unauthorized")
			return
		}
		h(w, r)
	}
}

// getGateway answers GET /gateway: the gateway's URL alone.
func (s *Server) getGateway(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"url": s.GatewayURL()})
}

// getGatewayBot answers GET /gateway/bot: the URL, the recommended shard
// count (SetRecommendedShards) and the session start limit.
func (s *Server) getGatewayBot(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	shards := s.shards
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"url":    s.GatewayURL(),
		"shards": shards,
		"session_start_limit": map[string]any{
			"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1,
		},
	})
}

func (s *Server) getMe(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, botUser())
}

func (s *Server) getChannel(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	c, ok := s.channels[r.PathValue("cid")]
	var out Channel
	if ok {
		out = *c
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, codeUnknownChannel, "Unknown Channel")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// sendBody is the JSON of a message post, edit or interaction answer.
type sendBody struct {
	Content          *string          `json:"content"`
	Components       json.RawMessage  `json:"components"`
	AllowedMentions  *AllowedMentions `json:"allowed_mentions"`
	Flags            int              `json:"flags"`
	MessageReference *struct {
		MessageID string `json:"message_id"`
	} `json:"message_reference"`
}

// validate applies Discord's checks the bridge must respect.
func (b sendBody) validate(needContent bool) (int, string) {
	content := ""
	if b.Content != nil {
		content = *b.Content
	}
	if n := utf8.RuneCountInString(content); n > 2000 {
		return codeInvalidFormBody, "Invalid Form Body: content: Must be 2000 or fewer in length (got " + strconv.Itoa(n) + ")"
	}
	for _, btn := range parseButtons(b.Components) {
		if len(btn.CustomID) == 0 || len(btn.CustomID) > 100 {
			return codeInvalidFormBody, "Invalid Form Body: custom_id: Must be between 1 and 100 in length"
		}
	}
	if needContent && strings.TrimSpace(content) == "" && len(parseButtons(b.Components)) == 0 {
		return codeEmptyMessage, "Cannot send an empty message"
	}
	return 0, ""
}

// decodeBody decodes r's JSON body into v; when it cannot, it answers 400
// Invalid Form Body and returns false.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, codeInvalidFormBody, "Invalid Form Body: "+err.Error())
		return false
	}
	return true
}

// messageParams are the JSON params Discord documents for Create Message and
// Edit Message (https://discord.com/developers/docs/resources/message).
var messageParams = map[string]bool{
	"content": true, "nonce": true, "tts": true, "embeds": true, "allowed_mentions": true,
	"message_reference": true, "components": true, "sticker_ids": true, "files": true,
	"payload_json": true, "attachments": true, "flags": true, "enforce_nonce": true, "poll": true,
}

// decodeSend decodes and validates a message body (see sendBody.validate);
// when it is refused, the answer is written and ok is false. Keys Discord
// does not document are recorded in Snapshot.UnknownKeys.
func (s *Server) decodeSend(w http.ResponseWriter, r *http.Request, needContent bool) (body sendBody, ok bool) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, codeInvalidFormBody, "Invalid Form Body: "+err.Error())
		return body, false
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(raw, &keys) == nil {
		s.mu.Lock()
		for k := range keys {
			if !messageParams[k] {
				s.snap.UnknownKeys = append(s.snap.UnknownKeys, r.Method+" "+k)
			}
		}
		s.mu.Unlock()
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		writeError(w, http.StatusBadRequest, codeInvalidFormBody, "Invalid Form Body: "+err.Error())
		return body, false
	}
	if code, msg := body.validate(needContent); code != 0 {
		writeError(w, http.StatusBadRequest, code, msg)
		return body, false
	}
	return body, true
}

func components(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return append(json.RawMessage(nil), raw...)
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	body, ok := s.decodeSend(w, r, true)
	if !ok {
		return
	}
	cid := r.PathValue("cid")
	s.mu.Lock()
	if s.rlPosts > 0 {
		s.rlPosts--
		s.rateLimitedLocked(w)
		s.mu.Unlock()
		return
	}
	m := &Message{
		ID:              s.newIDLocked(),
		ChannelID:       cid,
		AuthorID:        BotID,
		FromBot:         true,
		Content:         deref(body.Content),
		Components:      components(body.Components),
		AllowedMentions: body.AllowedMentions,
		Flags:           body.Flags,
		Created:         time.Now(),
	}
	if c, ok := s.channels[cid]; ok {
		m.GuildID = c.GuildID
	}
	if body.MessageReference != nil {
		m.ReplyTo = body.MessageReference.MessageID
	}
	s.addMessageLocked(m)
	out := messageJSON(*m)
	s.notifyLocked()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
	_ = s.Dispatch("MESSAGE_CREATE", out)
}

func (s *Server) patchMessage(w http.ResponseWriter, r *http.Request) {
	body, ok := s.decodeSend(w, r, false)
	if !ok {
		return
	}
	cid, mid := r.PathValue("cid"), r.PathValue("mid")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rlEdits > 0 {
		s.rlEdits--
		s.rateLimitedLocked(w)
		return
	}
	m, ok := s.messages[mid]
	if !ok || m.ChannelID != cid || m.Deleted {
		writeError(w, http.StatusNotFound, codeUnknownMessage, "Unknown Message")
		return
	}
	e := Edit{MessageID: mid, ChannelID: cid, Content: body.Content, Components: components(body.Components),
		AllowedMentions: body.AllowedMentions, Flags: body.Flags, At: time.Now()}
	if body.Content != nil {
		m.Content = *body.Content
	}
	if e.Components != nil {
		m.Components = e.Components
	}
	if body.AllowedMentions != nil {
		m.AllowedMentions = body.AllowedMentions
	}
	m.Flags = body.Flags
	m.Edits++
	s.snap.Edits = append(s.snap.Edits, e)
	s.notifyLocked()
	writeJSON(w, http.StatusOK, messageJSON(*m))
}

func (s *Server) deleteMessage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[r.PathValue("mid")]
	if !ok || m.ChannelID != r.PathValue("cid") || m.Deleted {
		writeError(w, http.StatusNotFound, codeUnknownMessage, "Unknown Message")
		return
	}
	m.Deleted = true
	s.notifyLocked()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) postThread(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name                string `json:"name"`
		AutoArchiveDuration int    `json:"auto_archive_duration"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if n := utf8.RuneCountInString(body.Name); n < 1 || n > 100 {
		writeError(w, http.StatusBadRequest, codeInvalidFormBody, "Invalid Form Body: name: Must be between 1 and 100 in length")
		return
	}
	cid, mid := r.PathValue("cid"), r.PathValue("mid")
	s.mu.Lock()
	if s.forbidThreads {
		s.mu.Unlock()
		writeError(w, http.StatusForbidden, codeMissingPermissions, "Missing Permissions")
		return
	}
	if body := s.refuseThreads; body != nil {
		status := s.refuseStatus
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	m, ok := s.messages[mid]
	if !ok || m.ChannelID != cid {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, codeUnknownMessage, "Unknown Message")
		return
	}
	if _, exists := s.channels[mid]; exists {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, codeThreadExists, "A thread has already been created for this message")
		return
	}
	guild := m.GuildID
	if c, ok := s.channels[cid]; ok && c.GuildID != "" {
		guild = c.GuildID
	}
	th := &Channel{ID: mid, GuildID: guild, ParentID: cid, Name: body.Name, Type: ChannelTypePublicThread}
	s.channels[mid] = th
	s.snap.Threads = append(s.snap.Threads, Thread{ID: mid, ParentID: cid, GuildID: guild, Name: body.Name, ArchiveMinutes: body.AutoArchiveDuration})
	out := threadJSON(*th, body.AutoArchiveDuration)
	s.notifyLocked()
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
	_ = s.Dispatch("THREAD_CREATE", out)
}

func (s *Server) postTyping(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.snap.Typing = append(s.snap.Typing, r.PathValue("cid"))
	s.notifyLocked()
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) postCallback(w http.ResponseWriter, r *http.Request) {
	var raw struct {
		Type int             `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if !decodeBody(w, r, &raw) {
		return
	}
	var body struct {
		Type int
		Data *sendBody
	}
	body.Type = raw.Type
	var modal *Modal
	switch {
	case raw.Type == ResponseModal:
		m, code, msg := parseModal(raw.Data)
		if code != 0 {
			writeError(w, http.StatusBadRequest, code, msg)
			return
		}
		modal = &m
	case len(raw.Data) > 0 && string(raw.Data) != "null":
		body.Data = &sendBody{}
		if err := json.Unmarshal(raw.Data, body.Data); err != nil {
			writeError(w, http.StatusBadRequest, codeInvalidFormBody, "Invalid Form Body")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.interactions[r.PathValue("token")]
	if !ok || in.id != r.PathValue("iid") {
		writeError(w, http.StatusNotFound, codeUnknownInteraction, "Unknown interaction")
		return
	}
	if modal != nil && in.kind == interactionModalSubmit {
		// Discord: a modal cannot answer a modal submission.
		writeError(w, http.StatusBadRequest, codeInvalidFormBody, "Invalid Form Body")
		return
	}
	resp := InteractionResponse{InteractionID: in.id, Type: body.Type, At: time.Now(), Modal: modal}
	if body.Data != nil {
		if code, msg := body.Data.validate(body.Type == ResponseChannelMessage); code != 0 {
			writeError(w, http.StatusBadRequest, code, msg)
			return
		}
		resp.Content, resp.Flags, resp.AllowedMentions = deref(body.Data.Content), body.Data.Flags, body.Data.AllowedMentions
	}
	s.snap.InteractionResponses = append(s.snap.InteractionResponses, resp)
	if body.Type == ResponseChannelMessage && resp.Flags&FlagEphemeral == 0 {
		m := &Message{ID: s.newIDLocked(), ChannelID: in.channelID, GuildID: in.guildID, AuthorID: BotID, FromBot: true,
			Content: resp.Content, AllowedMentions: resp.AllowedMentions, Flags: resp.Flags, Interaction: in.id, Created: time.Now()}
		s.addMessageLocked(m)
		in.original = m.ID
	}
	s.notifyLocked()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getWebhookMessage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.interactions[r.PathValue("token")]
	if !ok || r.PathValue("app") != AppID {
		writeError(w, http.StatusNotFound, codeUnknownInteraction, "Unknown Webhook")
		return
	}
	mid := r.PathValue("mid")
	if mid == "@original" {
		mid = in.original
	}
	m, ok := s.messages[mid]
	if !ok {
		writeError(w, http.StatusNotFound, codeUnknownMessage, "Unknown Message")
		return
	}
	writeJSON(w, http.StatusOK, messageJSON(*m))
}

func (s *Server) postFollowup(w http.ResponseWriter, r *http.Request) {
	body, ok := s.decodeSend(w, r, true)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.interactions[r.PathValue("token")]
	if !ok || r.PathValue("app") != AppID {
		writeError(w, http.StatusNotFound, codeUnknownInteraction, "Unknown Webhook")
		return
	}
	s.snap.Followups = append(s.snap.Followups, Followup{InteractionID: in.id, Content: deref(body.Content),
		Flags: body.Flags, AllowedMentions: body.AllowedMentions})
	m := Message{ID: s.newIDLocked(), ChannelID: in.channelID, GuildID: in.guildID, AuthorID: BotID, FromBot: true,
		Content: deref(body.Content), Flags: body.Flags, AllowedMentions: body.AllowedMentions, Interaction: in.id, Created: time.Now()}
	if body.Flags&FlagEphemeral == 0 {
		s.addMessageLocked(&m)
	}
	s.notifyLocked()
	writeJSON(w, http.StatusOK, messageJSON(m))
}

func (s *Server) postCommand(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Options     json.RawMessage `json:"options"`
		Contexts    json.RawMessage `json:"contexts"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := Command{ApplicationID: r.PathValue("app"), GuildID: r.PathValue("gid"), Name: body.Name,
		Description: body.Description, Options: body.Options, Contexts: body.Contexts}
	s.snap.Commands = append(s.snap.Commands, c)
	s.notifyLocked()
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": s.newIDLocked(), "application_id": c.ApplicationID, "guild_id": c.GuildID,
		"name": c.Name, "description": c.Description, "options": c.Options, "type": 1, "version": "1",
	})
}

// rateLimitedLocked writes a 429 the way Discord does; s.mu must be held.
func (s *Server) rateLimitedLocked(w http.ResponseWriter) {
	s.snap.RateLimited++
	s.notifyLocked()
	secs := s.retryAfter.Seconds()
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(int(math.Ceil(secs))))
	h.Set("X-RateLimit-Limit", "5")
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset-After", strconv.FormatFloat(secs, 'f', 3, 64))
	h.Set("X-RateLimit-Bucket", "fake-channel-bucket")
	h.Set("X-RateLimit-Scope", "user")
	writeJSON(w, http.StatusTooManyRequests, map[string]any{
		"message": "You are being rate limited.", "retry_after": secs, "global": false,
	})
}

// addMessageLocked stores a new message; s.mu must be held.
func (s *Server) addMessageLocked(m *Message) {
	s.messages[m.ID] = m
	s.order = append(s.order, m.ID)
}

func botUser() map[string]any {
	return map[string]any{"id": BotID, "username": BotName, "discriminator": "0", "bot": true}
}

func messageJSON(m Message) map[string]any {
	author := map[string]any{"id": m.AuthorID, "username": "user" + m.AuthorID}
	if m.FromBot {
		author = botUser()
	}
	out := map[string]any{
		"id": m.ID, "channel_id": m.ChannelID, "content": m.Content, "author": author,
		"type": 0, "flags": m.Flags, "timestamp": m.Created.UTC().Format(time.RFC3339Nano),
		"mentions": []any{}, "attachments": []any{}, "embeds": []any{},
	}
	if m.GuildID != "" {
		out["guild_id"] = m.GuildID
	}
	if m.Components != nil {
		out["components"] = m.Components
	} else {
		out["components"] = []any{}
	}
	return out
}

func threadJSON(c Channel, archive int) map[string]any {
	return map[string]any{
		"id": c.ID, "guild_id": c.GuildID, "parent_id": c.ParentID, "name": c.Name, "type": c.Type,
		"thread_metadata": map[string]any{"archived": false, "auto_archive_duration": archive, "locked": false},
		"newly_created":   true,
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"message": msg, "code": code})
}
