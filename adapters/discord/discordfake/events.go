package discordfake

import (
	"time"
)

// UserMessage is a message a user sends, dispatched as MESSAGE_CREATE.
type UserMessage struct {
	// ID is the message id; empty picks a fresh one.
	ID string
	// GuildID is empty for a DM.
	GuildID   string
	ChannelID string
	AuthorID  string
	// AuthorName is the username; Nick the guild nickname.
	AuthorName string
	Nick       string
	// Bot marks the author as a bot.
	Bot     bool
	Content string
	// MentionBot puts "<@BotID> " before the content and the bot in mentions.
	MentionBot bool
	// MentionBotRole puts "<@&BotRoleID> " before the content and the bot's
	// managed role in mention_roles (what Discord's @ autocomplete often
	// inserts for a bot).
	MentionBotRole bool
	// GlobalName is the author's display name (user.global_name).
	GlobalName string
	// Type is the message type (0 default, 19 reply, 18 thread created, ...).
	Type int
}

// SendMessage records the message (so a thread can be started on it) and
// dispatches MESSAGE_CREATE. Unknown guild channels are registered as text
// channels. It returns the message id.
func (s *Server) SendMessage(m UserMessage) (string, error) {
	content := m.Content
	mentions, roles := []any{}, []any{}
	if m.MentionBot {
		content = "<@" + BotID + "> " + content
		mentions = append(mentions, botUser())
	}
	if m.MentionBotRole {
		content = "<@&" + BotRoleID + "> " + content
		roles = append(roles, BotRoleID)
	}
	s.mu.Lock()
	if m.ID == "" {
		m.ID = s.newIDLocked()
	}
	if _, ok := s.channels[m.ChannelID]; !ok {
		typ := ChannelTypeGuildText
		if m.GuildID == "" {
			typ = ChannelTypeDM
		}
		s.channels[m.ChannelID] = &Channel{ID: m.ChannelID, GuildID: m.GuildID, Type: typ}
	}
	if _, replay := s.messages[m.ID]; !replay { // a replayed id is dispatched again, recorded once
		s.addMessageLocked(&Message{ID: m.ID, ChannelID: m.ChannelID, GuildID: m.GuildID, AuthorID: m.AuthorID,
			Content: content, Created: time.Now()})
	}
	s.notifyLocked()
	s.mu.Unlock()

	author := map[string]any{"id": m.AuthorID, "username": m.AuthorName, "discriminator": "0", "bot": m.Bot}
	if m.GlobalName != "" {
		author["global_name"] = m.GlobalName
	} else {
		author["global_name"] = nil
	}
	s.mu.Lock()
	channelType := ChannelTypeGuildText
	if c, ok := s.channels[m.ChannelID]; ok {
		channelType = c.Type
	}
	s.mu.Unlock()
	ev := map[string]any{
		"id": m.ID, "channel_id": m.ChannelID, "author": author, "content": content,
		"mentions": mentions, "mention_roles": roles, "mention_everyone": false, "type": m.Type,
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "attachments": []any{}, "embeds": []any{},
		"tts": false, "pinned": false, "flags": 0, "components": []any{}, "channel_type": channelType,
	}
	if m.GuildID != "" {
		ev["guild_id"] = m.GuildID
		nick := any(nil)
		if m.Nick != "" {
			nick = m.Nick
		}
		ev["member"] = map[string]any{"nick": nick, "roles": []any{}, "joined_at": "2025-01-01T00:00:00.000000+00:00",
			"deaf": false, "mute": false, "flags": 0}
	}
	return m.ID, s.Dispatch("MESSAGE_CREATE", ev)
}

// Click is a button click, dispatched as INTERACTION_CREATE (type 3).
type Click struct {
	// GuildID is empty for a DM.
	GuildID   string
	ChannelID string
	// MessageID is the message whose button was clicked.
	MessageID string
	CustomID  string
	UserID    string
	UserName  string
}

// Click dispatches a component interaction and returns its id.
func (s *Server) Click(c Click) (string, error) {
	id, tok := s.newInteraction(c.ChannelID, c.GuildID)
	ev := s.interactionBase(id, tok, 3, c.GuildID, c.ChannelID, c.UserID, c.UserName)
	ev["data"] = map[string]any{"custom_id": c.CustomID, "component_type": 2}
	// Discord sends the whole clicked message, components included.
	s.mu.Lock()
	m, ok := s.messages[c.MessageID]
	var msg map[string]any
	if ok {
		msg = messageJSON(*m)
	}
	s.mu.Unlock()
	if msg == nil {
		msg = map[string]any{"id": c.MessageID, "channel_id": c.ChannelID, "content": "", "components": []any{},
			"author": botUser(), "type": 0, "timestamp": time.Now().UTC().Format(time.RFC3339Nano)}
	}
	ev["message"] = msg
	return id, s.Dispatch("INTERACTION_CREATE", ev)
}

// Slash is a chat-input command, dispatched as INTERACTION_CREATE (type 2).
type Slash struct {
	GuildID   string
	ChannelID string
	UserID    string
	UserName  string
	// Name is the command name ("ask").
	Name string
	// Options are string options by name ("question").
	Options map[string]string
}

// Slash dispatches a slash command interaction and returns its id.
func (s *Server) Slash(c Slash) (string, error) {
	id, tok := s.newInteraction(c.ChannelID, c.GuildID)
	ev := s.interactionBase(id, tok, 2, c.GuildID, c.ChannelID, c.UserID, c.UserName)
	opts := make([]any, 0, len(c.Options))
	for k, v := range c.Options {
		opts = append(opts, map[string]any{"name": k, "type": 3, "value": v})
	}
	ev["data"] = map[string]any{"id": "1100000000000000099", "name": c.Name, "type": 1, "options": opts}
	return id, s.Dispatch("INTERACTION_CREATE", ev)
}

// InteractionToken returns the secret token of an interaction (tests check
// it never reaches logs).
func (s *Server) InteractionToken(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, in := range s.interactions {
		if in.id == id {
			return tok
		}
	}
	return ""
}

func (s *Server) newInteraction(channelID, guildID string) (id, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, token = s.newIDLocked(), randomToken()
	s.interactions[token] = &interaction{id: id, token: token, channelID: channelID, guildID: guildID}
	if _, ok := s.channels[channelID]; !ok {
		typ := ChannelTypeGuildText
		if guildID == "" {
			typ = ChannelTypeDM
		}
		s.channels[channelID] = &Channel{ID: channelID, GuildID: guildID, Type: typ}
	}
	return id, token
}

func (s *Server) interactionBase(id, token string, typ int, guildID, channelID, userID, userName string) map[string]any {
	user := map[string]any{"id": userID, "username": userName, "discriminator": "0", "global_name": nil}
	s.mu.Lock()
	channel := map[string]any{"id": channelID, "type": ChannelTypeDM}
	if c, ok := s.channels[channelID]; ok {
		channel = map[string]any{"id": c.ID, "type": c.Type, "guild_id": c.GuildID, "name": c.Name}
		if c.ParentID != "" {
			channel["parent_id"] = c.ParentID
		}
	}
	s.mu.Unlock()
	ev := map[string]any{
		"id": id, "application_id": AppID, "type": typ, "token": token, "version": 1,
		"channel_id": channelID, "channel": channel, "locale": "en-US", "app_permissions": "309237713920",
		"entitlements": []any{}, "authorizing_integration_owners": map[string]any{"0": guildID},
	}
	if guildID == "" {
		ev["authorizing_integration_owners"] = map[string]any{"1": userID}
	}
	if guildID != "" {
		ev["guild_id"] = guildID
		ev["guild_locale"] = "en-US"
		ev["context"] = 0
		ev["member"] = map[string]any{"user": user, "roles": []any{}, "permissions": "2248473465835073",
			"nick": nil, "joined_at": "2025-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false, "flags": 0}
	} else {
		ev["context"] = 1
		ev["user"] = user
	}
	return ev
}
