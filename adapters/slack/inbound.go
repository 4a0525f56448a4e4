package slack

import (
	"regexp"
	"strings"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// mentionMatcher finds the bot's own mention (<@U123> or <@U123|name>) in text.
type mentionMatcher struct{ re *regexp.Regexp }

func newMentionMatcher(botUserID string) mentionMatcher {
	if botUserID == "" {
		return mentionMatcher{}
	}
	return mentionMatcher{re: regexp.MustCompile(`\s*<@` + regexp.QuoteMeta(botUserID) + `(?:\|[^>]*)?>\s*`)}
}

func (m mentionMatcher) contains(text string) bool { return m.re != nil && m.re.MatchString(text) }

// strip removes every bot mention, keeping one space between the words around it.
func (m mentionMatcher) strip(text string) string {
	if m.re == nil {
		return strings.TrimSpace(text)
	}
	return strings.TrimSpace(m.re.ReplaceAllString(text, " "))
}

// userSubtypes are message subtypes that are still a person writing: a thread
// reply also sent to the channel, and a message with files. Every other
// subtype (edits, deletions, joins, bot messages...) is ignored.
var userSubtypes = map[string]bool{
	"thread_broadcast": true,
	"file_share":       true,
}

// inboundFromEvent translates an Events API callback into the message the
// bridge should see; ok is false when the event is not for the bridge (own or
// bot messages, subtypes, top-level channel chatter, other event types).
func inboundFromEvent(self *identity, ev slackevents.EventsAPIEvent, received time.Time) (chat.InboundMessage, bool) {
	cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent)
	if !ok || ev.Type != slackevents.CallbackEvent {
		return chat.InboundMessage{}, false
	}
	team := ev.TeamID
	if team == "" {
		team = cb.TeamID
	}
	if team == "" && self != nil {
		team = self.TeamID
	}
	var mm mentionMatcher
	var selfUser string
	if self != nil {
		mm, selfUser = self.mentionRE, self.UserID
	}
	msg := chat.InboundMessage{EventID: cb.EventID, Received: received}

	switch in := ev.InnerEvent.Data.(type) {
	case *slackevents.AppMentionEvent:
		// No channel, no conversation key: nothing to answer (a malformed event).
		if in.BotID != "" || in.User == "" || in.User == selfUser || in.Edited != nil || in.Channel == "" {
			return chat.InboundMessage{}, false
		}
		msg.Key = key(team, in.Channel, firstNonEmpty(in.ThreadTimeStamp, in.TimeStamp))
		msg.User = chat.User{ID: in.User}
		msg.Text = mm.strip(in.Text)
		msg.MessageID = in.TimeStamp
		msg.Mentioned = true
		return msg, true

	case *slackevents.MessageEvent:
		if in.SubType != "" && !userSubtypes[in.SubType] {
			return chat.InboundMessage{}, false
		}
		if in.BotID != "" || in.User == "" || in.User == selfUser || in.Channel == "" {
			return chat.InboundMessage{}, false
		}
		msg.User = chat.User{ID: in.User}
		msg.Text = mm.strip(in.Text)
		msg.MessageID = in.TimeStamp
		switch {
		case in.ChannelType == slackevents.ChannelTypeIM:
			// DMs reply inline (Thread ""), or in the DM thread the user chose.
			msg.Key = key(team, in.Channel, in.ThreadTimeStamp)
			msg.Mentioned = true
		case mm.contains(in.Text):
			// The twin of an app_mention: same channel, ts and thread, so the
			// bridge's (channel, ts) dedupe catches whichever comes second.
			msg.Key = key(team, in.Channel, firstNonEmpty(in.ThreadTimeStamp, in.TimeStamp))
			msg.Mentioned = true
		case in.ThreadTimeStamp != "" && in.ThreadTimeStamp != in.TimeStamp:
			// A reply without mention: the bridge keeps it only in threads it knows.
			msg.Key = key(team, in.Channel, in.ThreadTimeStamp)
		default:
			return chat.InboundMessage{}, false
		}
		return msg, true
	}
	return chat.InboundMessage{}, false
}

// actionsFromCallback translates the bridge's button clicks of a
// block_actions interaction into actions (see parseActionID). Other
// interactions, other apps' action ids and buttons without a value yield
// nothing.
func actionsFromCallback(cb slack.InteractionCallback, received time.Time) []chat.Action {
	if cb.Type != slack.InteractionTypeBlockActions {
		return nil
	}
	var out []chat.Action
	// The message the buttons are on: the bridge closes it when the card's
	// ref was never recorded.
	var card chat.MessageRef
	if ts := firstNonEmpty(cb.Container.MessageTs, cb.Message.Timestamp); ts != "" {
		k := callbackKey(cb)
		card = chat.MessageRef{Key: k, ID: ts, Channel: k.Channel}
	}
	for _, ba := range cb.ActionCallback.BlockActions {
		if ba == nil || ba.Value == "" {
			continue
		}
		kind, ok := parseActionID(ba.ActionID)
		if !ok {
			continue
		}
		out = append(out, chat.Action{
			Platform: Name,
			Kind:     kind,
			Target:   ba.Value,
			User:     chat.User{ID: cb.User.ID, Name: firstNonEmpty(cb.User.Name, cb.User.RealName)},
			Received: received,
			Card:     card,
		})
	}
	return out
}

// callbackKey is the conversation a click happened in, for the ephemeral answer.
func callbackKey(cb slack.InteractionCallback) chat.ConversationKey {
	team := firstNonEmpty(cb.Team.ID, cb.User.TeamID)
	channel := firstNonEmpty(cb.Container.ChannelID, cb.Channel.ID)
	thread := firstNonEmpty(cb.Container.ThreadTs, cb.Message.ThreadTimestamp)
	return key(team, channel, thread)
}

func key(team, channel, thread string) chat.ConversationKey {
	return chat.ConversationKey{Platform: Name, Workspace: team, Channel: channel, Thread: thread}
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
