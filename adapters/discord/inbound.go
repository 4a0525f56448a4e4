package discord

import (
	"context"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/promptev/promptev-bridge/chat"
)

// workspaceDM is ConversationKey.Workspace for direct messages.
const workspaceDM = "dm"

// lookupTimeout bounds the REST lookup of an unknown channel.
const lookupTimeout = 5 * time.Second

// inbound maps a gateway message to the bridge, or reports false when the
// message is not for the bridge:
//
//   - own, bot, webhook and system messages are dropped;
//   - a DM is keyed by its DM channel and always addresses the bot;
//   - a message in a thread is keyed {guild, parent, thread}, with Mentioned
//     telling whether it mentions the bot (the bridge continues known
//     threads without a mention);
//   - in a text channel only mentions count: with auto_thread the key's
//     Thread is the message id (the thread created on a message has the
//     message's id), otherwise the channel itself is the conversation.
func (a *Adapter) inbound(ctx context.Context, m *discordgo.Message, received time.Time) (chat.InboundMessage, bool) {
	botID := a.BotUserID()
	if m == nil || m.Author == nil || m.Author.Bot || m.Author.System || m.Author.ID == botID || m.WebhookID != "" {
		return chat.InboundMessage{}, false
	}
	if m.Type != discordgo.MessageTypeDefault && m.Type != discordgo.MessageTypeReply {
		return chat.InboundMessage{}, false
	}
	// A mention of the bot's managed role (what the @ autocomplete often
	// inserts) addresses the bot too.
	role := a.botRole(m.GuildID)
	mentioned := mentionsUser(m, botID) || mentionsRole(m, role)
	in := chat.InboundMessage{
		User:      chat.User{ID: m.Author.ID, Name: displayName(m.Author, m.Member)},
		Text:      stripMention(m.Content, botID, role),
		MessageID: m.ID,
		Mentioned: mentioned,
		Received:  received,
	}
	if m.GuildID == "" {
		in.Key = chat.ConversationKey{Platform: Name, Workspace: workspaceDM, Channel: m.ChannelID}
		in.Mentioned = true
	} else if parent, isThread := a.threadParent(ctx, m.ChannelID); isThread {
		in.Key = chat.ConversationKey{Platform: Name, Workspace: m.GuildID, Channel: parent, Thread: m.ChannelID}
	} else if !mentioned {
		return chat.InboundMessage{}, false
	} else if a.cfg.AutoThread {
		in.Key = chat.ConversationKey{Platform: Name, Workspace: m.GuildID, Channel: m.ChannelID, Thread: m.ID}
		a.names.Put(m.ID, threadName(in.Text))
	} else {
		in.Key = chat.ConversationKey{Platform: Name, Workspace: m.GuildID, Channel: m.ChannelID}
	}
	// A bare mention goes on: the bridge answers it with a hint.
	if strings.TrimSpace(in.Text) == "" && len(m.Attachments) == 0 && !in.Mentioned {
		if a.warnedContent.CompareAndSwap(false, true) {
			a.log.WarnContext(ctx, "a thread message arrived without content: is the Message Content intent enabled in the Developer Portal?",
				"conversation", in.Key.String())
		}
		return chat.InboundMessage{}, false
	}
	return in, true
}

// threadParent reports whether channelID is a thread and its parent channel,
// from the adapter's cache, the shards' gateway state, or (once per channel) REST.
func (a *Adapter) threadParent(ctx context.Context, channelID string) (string, bool) {
	if parent, ok := a.threads.Get(channelID); ok {
		return parent, parent != ""
	}
	ch, ok := a.stateChannel(channelID)
	if !ok {
		lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		var err error
		ch, err = a.sess.Channel(channelID, reqOpts(lctx)...)
		cancel()
		if err != nil {
			// Not cached: the next message retries the lookup.
			a.log.WarnContext(ctx, "channel lookup failed", "channel", channelID, "err", mapErr(err))
			return "", false
		}
	}
	parent := ""
	if ch.IsThread() {
		parent = ch.ParentID
	}
	a.threads.Put(channelID, parent)
	return parent, parent != ""
}

// mentionsUser reports whether the message mentions userID directly.
func mentionsUser(m *discordgo.Message, userID string) bool {
	if userID == "" {
		return false
	}
	for _, u := range m.Mentions {
		if u != nil && u.ID == userID {
			return true
		}
	}
	return strings.Contains(m.Content, "<@"+userID+">") || strings.Contains(m.Content, "<@!"+userID+">")
}

// stripMention removes the bot's mentions (of its user and, when roleID is
// not empty, of its managed role) and trims the text.
func stripMention(text, userID, roleID string) string {
	var tokens []string
	if userID != "" {
		tokens = append(tokens, "<@!"+userID+">", "<@"+userID+">")
	}
	if roleID != "" {
		tokens = append(tokens, "<@&"+roleID+">")
	}
	// Removing one mention can join its neighbours into another
	// ("<@<@ID>ID>"): repeat until none is left. Each pass shortens the
	// text, so this ends.
	for len(tokens) > 0 {
		out := text
		for _, tok := range tokens {
			out = strings.ReplaceAll(out, tok, "")
		}
		if out == text {
			break
		}
		text = out
	}
	return strings.TrimSpace(text)
}

// displayName is the name to show for a user: the guild nickname, the global
// display name or the username.
func displayName(u *discordgo.User, m *discordgo.Member) string {
	if m != nil && m.Nick != "" {
		return m.Nick
	}
	if u == nil {
		return ""
	}
	return u.DisplayName()
}
