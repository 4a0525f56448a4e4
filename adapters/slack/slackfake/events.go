package slackfake

import (
	"encoding/json"
	"strings"
	"time"
)

// Event is an Events API event to deliver. Zero fields get defaults from the
// builders (Mention, Message, DM, Reply) or from EventBody.
type Event struct {
	// Type is "app_mention" or "message".
	Type string
	// EventID is the delivery id; EventBody assigns a unique one when empty.
	EventID string
	// Team defaults to TeamID.
	Team string
	// Channel is the channel id; ChannelType is "channel", "group", "im" or "mpim"
	// (message events only).
	Channel, ChannelType string
	// User is the author; BotID marks a bot author.
	User, BotID string
	// Text is the message text (Mention puts the bot's <@mention> first).
	Text string
	// TS is the message ts (assigned by the builders); ThreadTS its thread.
	TS, ThreadTS string
	// SubType is the message subtype ("message_changed", "channel_join", ...).
	SubType string
	// EditedTS and PreviousText describe a "message_changed" event (see
	// Edit): the ts of the message that was edited and its text before.
	// Text is then its new text, TS the time of the edit.
	EditedTS, PreviousText string
	// StreamingTS lists the streams an agent_session_stopped event halted.
	StreamingTS []string
	// Enterprise is the Enterprise Grid org of Team; OrgWide marks an event
	// delivered for an org-wide install (authorizations[].is_enterprise_install).
	Enterprise string
	OrgWide    bool
	// BotUser is the bot user of the installation the event is delivered
	// for (default BotUserID).
	BotUser string
}

// Mention builds an app_mention of the bot by user in channel, top level,
// with "<@BOT> " before text and a fresh ts and event id. An empty text
// gives a bare mention, whose text is the mention alone ("<@BOT>"), as
// Slack sends it.
func (s *Server) Mention(channel, user, text string) Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	full := "<@" + BotUserID + ">"
	if text != "" {
		full += " " + text
	}
	return Event{
		Type: "app_mention", EventID: s.nextIDLocked("Ev"), Channel: channel, User: user,
		Text: full, TS: s.nextTSLocked(),
	}
}

// Edit builds the "message_changed" event Slack sends when the author of
// orig (a message event) changes its text to text: a message event with
// subtype message_changed whose "message" is the message as it is now
// and whose "previous_message" is the message before the edit.
func (s *Server) Edit(orig Event, text string) Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Event{
		Type: "message", SubType: "message_changed", EventID: s.nextIDLocked("Ev"),
		Channel: orig.Channel, ChannelType: first(orig.ChannelType, "channel"), User: orig.User,
		Text: text, TS: s.nextTSLocked(), ThreadTS: orig.ThreadTS, EditedTS: orig.TS, PreviousText: orig.Text,
	}
}

// Twin returns the "message" event Slack sends alongside an app_mention: same
// channel, ts, text and thread, its own event id.
func (s *Server) Twin(mention Event) Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := mention
	ev.Type = "message"
	ev.ChannelType = "channel"
	ev.EventID = s.nextIDLocked("Ev")
	return ev
}

// Reply builds a message event replying without a mention in the thread threadTS.
func (s *Server) Reply(channel, threadTS, user, text string) Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Event{
		Type: "message", EventID: s.nextIDLocked("Ev"), Channel: channel, ChannelType: "channel",
		User: user, Text: text, TS: s.nextTSLocked(), ThreadTS: threadTS,
	}
}

// DM builds a direct message to the bot in the IM channel.
func (s *Server) DM(channel, user, text string) Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Event{
		Type: "message", EventID: s.nextIDLocked("Ev"), Channel: channel, ChannelType: "im",
		User: user, Text: text, TS: s.nextTSLocked(),
	}
}

// EventBody returns the event_callback JSON Slack would send for ev (the
// Socket Mode payload, or the body of an HTTP Events API request).
func (s *Server) EventBody(ev Event) json.RawMessage {
	s.mu.Lock()
	if ev.EventID == "" {
		ev.EventID = s.nextIDLocked("Ev")
	}
	if ev.TS == "" {
		ev.TS = s.nextTSLocked()
	}
	s.mu.Unlock()
	if ev.Team == "" {
		ev.Team = TeamID
	}
	if ev.Type == "" {
		ev.Type = "app_mention"
	}
	var inner map[string]any
	switch {
	case ev.SubType == "message_changed":
		inner = changedEvent(ev)
	case ev.Type == "app_uninstalled":
		inner = map[string]any{"type": ev.Type, "event_ts": ev.TS}
	case ev.Type == "tokens_revoked":
		inner = map[string]any{"type": ev.Type, "event_ts": ev.TS,
			"tokens": map[string]any{"oauth": []string{}, "bot": []string{first(ev.BotUser, BotUserID)}}}
	case ev.Type == "agent_session_stopped":
		inner = map[string]any{
			"type": ev.Type, "user": ev.User, "channel": ev.Channel, "thread_ts": ev.ThreadTS, "event_ts": ev.TS,
		}
		if len(ev.StreamingTS) > 0 {
			inner["streaming_message_ts"] = ev.StreamingTS
		}
	default:
		inner = map[string]any{
			"type": ev.Type, "user": ev.User, "text": ev.Text, "ts": ev.TS,
			"channel": ev.Channel, "event_ts": ev.TS, "team": ev.Team,
		}
	}
	if ev.User == "" {
		delete(inner, "user")
	}
	if ev.ThreadTS != "" && ev.SubType != "message_changed" {
		inner["thread_ts"] = ev.ThreadTS
	}
	if ev.Type == "message" {
		inner["channel_type"] = first(ev.ChannelType, "channel")
	}
	if ev.SubType != "" {
		inner["subtype"] = ev.SubType
	}
	if ev.BotID != "" {
		inner["bot_id"] = ev.BotID
	}
	auth := map[string]any{"team_id": ev.Team, "user_id": first(ev.BotUser, BotUserID), "is_bot": true}
	body := map[string]any{
		"token": "fake-verification-token", "team_id": ev.Team, "api_app_id": AppID,
		"event": inner, "type": "event_callback", "event_id": ev.EventID,
		"event_time": eventTime(ev.TS), "authorizations": []map[string]any{auth},
	}
	if ev.Enterprise != "" {
		body["enterprise_id"] = ev.Enterprise
		auth["enterprise_id"] = ev.Enterprise
		auth["is_enterprise_install"] = ev.OrgWide
		if ev.OrgWide {
			auth["team_id"] = nil // an org-wide install is not a workspace's
		}
	}
	data, err := json.Marshal(body)
	if err != nil {
		panic(err) // unreachable: only strings and maps
	}
	return data
}

// changedEvent is the inner event of a "message_changed" in Slack's
// shape: the author, text and thread are in the nested "message" (now) and
// "previous_message" (before), not at the top level.
func changedEvent(ev Event) map[string]any {
	edited := first(ev.EditedTS, ev.TS)
	now := map[string]any{
		"type": "message", "user": ev.User, "text": ev.Text, "ts": edited,
		"edited": map[string]any{"user": ev.User, "ts": ev.TS},
	}
	before := map[string]any{"type": "message", "user": ev.User, "text": ev.PreviousText, "ts": edited}
	if ev.ThreadTS != "" {
		now["thread_ts"], before["thread_ts"] = ev.ThreadTS, ev.ThreadTS
	}
	return map[string]any{
		"type": "message", "subtype": "message_changed", "hidden": true,
		"channel": ev.Channel, "ts": ev.TS, "event_ts": ev.TS,
		"message": now, "previous_message": before,
	}
}

// URLVerificationBody is the url_verification request Slack sends when a
// Request URL is configured.
func URLVerificationBody(challenge string) []byte {
	data, _ := json.Marshal(map[string]any{"token": "fake-verification-token", "challenge": challenge, "type": "url_verification"})
	return data
}

// Click is an approval button click (a block_actions interaction).
type Click struct {
	// Team defaults to TeamID.
	Team string
	// Channel and MessageTS address the card; ThreadTS is its thread.
	Channel, MessageTS, ThreadTS string
	// User and UserName are the clicker.
	User, UserName string
	// ActionID is the button's action id; Value its value (the approval id).
	ActionID, Value string
	// BlockID is the id of the block holding the button; when empty, one is
	// made up, as Slack assigns one to a block sent without.
	BlockID string
	// Type is the element's type: "button" when empty, or "feedback_buttons".
	Type string
}

// ClickOn builds a click by user on the button actionID of the posted
// message msg, taking the value from the message's blocks.
func ClickOn(msg Message, user, actionID string) Click {
	return Click{
		Channel: msg.Channel, MessageTS: msg.TS, ThreadTS: msg.ThreadTS,
		User: user, UserName: strings.ToLower(user), ActionID: actionID, Value: msg.ButtonValue(actionID),
		BlockID: msg.buttonBlockID(actionID),
	}
}

// ClickBody returns the block_actions payload JSON for c.
func (s *Server) ClickBody(c Click) json.RawMessage {
	if c.Team == "" {
		c.Team = TeamID
	}
	s.mu.Lock()
	trigger := s.nextIDLocked("trig-")
	s.issueTriggerLocked(trigger)
	actionTS := s.nextTSLocked()
	if c.BlockID == "" {
		c.BlockID = s.nextIDLocked("blk")
	}
	s.mu.Unlock()
	container := map[string]any{"type": "message", "message_ts": c.MessageTS, "channel_id": c.Channel, "is_ephemeral": false}
	message := map[string]any{"type": "message", "ts": c.MessageTS, "bot_id": BotID}
	if c.ThreadTS != "" {
		container["thread_ts"] = c.ThreadTS
		message["thread_ts"] = c.ThreadTS
	}
	body := map[string]any{
		"type":       "block_actions",
		"team":       map[string]any{"id": c.Team, "domain": TeamDomain},
		"user":       map[string]any{"id": c.User, "username": c.UserName, "name": c.UserName, "team_id": c.Team},
		"api_app_id": AppID, "token": "fake-verification-token", "trigger_id": trigger,
		"container":    container,
		"channel":      map[string]any{"id": c.Channel, "name": "channel"},
		"message":      message,
		"response_url": "https://hooks.slack.invalid/actions/fake",
		"actions": []map[string]any{{
			"action_id": c.ActionID, "block_id": c.BlockID, "value": c.Value, "type": first(c.Type, "button"),
			"text": map[string]any{"type": "plain_text", "text": c.ActionID}, "action_ts": actionTS,
		}},
	}
	data, err := json.Marshal(body)
	if err != nil {
		panic(err) // unreachable: only strings and maps
	}
	return data
}

// ButtonValue returns the value of the button with actionID in the
// message's blocks, or "".
func (m Message) ButtonValue(actionID string) string {
	var blocks []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if json.Unmarshal(m.Blocks, &blocks) != nil {
		return ""
	}
	for _, b := range blocks {
		for _, e := range b.Elements {
			if e.ActionID == actionID {
				return e.Value
			}
		}
	}
	return ""
}

// Button is a button found in a message's blocks.
type Button struct {
	ActionID string `json:"action_id"`
	Value    string `json:"value"`
}

// Buttons returns the buttons in the message's blocks, in order.
func (m Message) Buttons() []Button {
	var blocks []struct {
		Elements []struct {
			Type string `json:"type"`
			Button
		} `json:"elements"`
	}
	if json.Unmarshal(m.Blocks, &blocks) != nil {
		return nil
	}
	var out []Button
	for _, b := range blocks {
		for _, e := range b.Elements {
			if e.Type == "button" {
				out = append(out, e.Button)
			}
		}
	}
	return out
}

// buttonBlockID returns the block_id of the block holding the button
// actionID, or "".
func (m Message) buttonBlockID(actionID string) string {
	var blocks []struct {
		BlockID  string `json:"block_id"`
		Elements []struct {
			ActionID string `json:"action_id"`
		} `json:"elements"`
	}
	if json.Unmarshal(m.Blocks, &blocks) != nil {
		return ""
	}
	for _, b := range blocks {
		for _, e := range b.Elements {
			if e.ActionID == actionID {
				return b.BlockID
			}
		}
	}
	return ""
}

// blockIDs returns the block ids set in blocks.
func blockIDs(blocks json.RawMessage) []string {
	var bs []struct {
		BlockID string `json:"block_id"`
	}
	if json.Unmarshal(blocks, &bs) != nil {
		return nil
	}
	var out []string
	for _, b := range bs {
		if b.BlockID != "" {
			out = append(out, b.BlockID)
		}
	}
	return out
}

// BlockText returns the texts of the message's blocks joined by newlines
// (markdown, section, context and button texts), as a user would read them.
func (m Message) BlockText() string {
	var blocks []struct {
		Text     json.RawMessage `json:"text"`
		Elements []struct {
			Text json.RawMessage `json:"text"`
		} `json:"elements"`
	}
	if json.Unmarshal(m.Blocks, &blocks) != nil {
		return ""
	}
	var parts []string
	for _, b := range blocks {
		if t := textOf(b.Text); t != "" {
			parts = append(parts, t)
		}
		for _, e := range b.Elements {
			if t := textOf(e.Text); t != "" {
				parts = append(parts, t)
			}
		}
	}
	return strings.Join(parts, "\n")
}

// textOf reads a block's "text": a string (markdown block) or a text object.
func textOf(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var obj struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.Text
	}
	return ""
}

func eventTime(ts string) int64 {
	if i := strings.IndexByte(ts, '.'); i > 0 {
		var n int64
		for _, r := range ts[:i] {
			n = n*10 + int64(r-'0')
		}
		return n
	}
	return time.Now().Unix()
}

// FeedbackClickOn builds a press by user of the 👍 (positive) or 👎 button
// of the feedback_buttons element actionID in msg; as in Slack's
// block_actions payload, the action's value is the pressed button's value.
func FeedbackClickOn(msg Message, user, actionID string, positive bool) Click {
	var blocks []struct {
		BlockID  string `json:"block_id"`
		Type     string `json:"type"`
		Elements []struct {
			Type     string          `json:"type"`
			ActionID string          `json:"action_id"`
			Positive *feedbackButton `json:"positive_button"`
			Negative *feedbackButton `json:"negative_button"`
		} `json:"elements"`
	}
	c := Click{Channel: msg.Channel, MessageTS: msg.TS, ThreadTS: msg.ThreadTS, User: user,
		UserName: strings.ToLower(user), ActionID: actionID, Type: "feedback_buttons"}
	if json.Unmarshal(msg.Blocks, &blocks) != nil {
		return c
	}
	for _, b := range blocks {
		for _, e := range b.Elements {
			if e.Type != "feedback_buttons" || e.ActionID != actionID {
				continue
			}
			fb := e.Negative
			if positive {
				fb = e.Positive
			}
			if fb != nil {
				c.Value, c.BlockID = fb.Value, b.BlockID
			}
		}
	}
	return c
}
