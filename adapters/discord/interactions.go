package discord

import (
	"context"
	"errors"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/promptev/promptev-bridge/chat"
)

// Texts shown to users by the adapter itself.
const (
	noticeFailed        = "Sorry, that did not work. Please try again in a moment."
	noticeEmptyQuestion = chat.EmptyQuestionText
)

// onInteraction handles one interaction. Discord requires an answer within
// 3 seconds; HandleAction does no network I/O, so it runs first and its
// result goes into the answer itself.
func (a *Adapter) onInteraction(ctx context.Context, h chat.Handler, i *discordgo.Interaction, received time.Time) {
	switch i.Type {
	case discordgo.InteractionMessageComponent:
		a.onComponent(ctx, h, i, received)
	case discordgo.InteractionApplicationCommand:
		a.onCommand(ctx, h, i, received)
	case discordgo.InteractionModalSubmit:
		a.onModalSubmit(ctx, h, i, received)
	}
}

// onComponent answers a click on a bridge button: an ephemeral notice when
// the bridge has one for the clicker (not allowed, already decided, unknown
// action), otherwise a deferred update; the bridge then edits the message
// through Edit. Other buttons get a deferred update and nothing else.
func (a *Adapter) onComponent(ctx context.Context, h chat.Handler, i *discordgo.Interaction, received time.Time) {
	act, ok := a.interactionAction(ctx, i, i.MessageComponentData().CustomID, received)
	if !ok {
		return
	}
	kind, target, user := act.Kind, act.Target, act.User
	if m := i.Message; m != nil && m.ID != "" {
		// The card the button is on: the bridge closes it when the card's
		// ref was never recorded.
		ch := m.ChannelID
		if ch == "" {
			ch = i.ChannelID
		}
		act.Card = chat.MessageRef{ID: m.ID, Channel: ch, Posted: m.Timestamp}
	}
	res, err := h.HandleAction(ctx, act)
	switch {
	case err != nil:
		a.log.ErrorContext(ctx, "handle action failed", "action", kind, "target", target, "user", user.ID, "err", err)
		a.respond(ctx, i, ephemeralResponse(noticeFailed))
	case res.Prompt != nil:
		a.respond(ctx, i, modalResponse(*res.Prompt))
	case res.Notice != "" && !res.Accepted:
		a.respond(ctx, i, ephemeralResponse(res.Notice))
	default:
		if a.respond(ctx, i, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}) && res.Notice != "" {
			tok := interactionToken{appID: i.AppID, token: i.Token}
			if err := a.followup(ctx, tok, fitContent(res.Notice)); err != nil {
				a.log.WarnContext(ctx, "notice follow-up failed", "action", kind, "target", target, "err", err)
			}
		}
	}
}

// onCommand handles the /ask slash command: the question is shown as the
// interaction's answer, and the conversation starts on that message (in a
// thread created on it, with auto_thread).
func (a *Adapter) onCommand(ctx context.Context, h chat.Handler, i *discordgo.Interaction, received time.Time) {
	data := i.ApplicationCommandData()
	if !a.cfg.SlashCommand.Enabled || data.Name != a.cfg.SlashCommand.Name {
		return
	}
	question := ""
	for _, o := range data.Options {
		if o.Name == commandOption && o.Type == discordgo.ApplicationCommandOptionString {
			question = o.StringValue()
		}
	}
	user := interactionUser(i)
	a.rememberInteraction(i, user.ID)
	if question == "" {
		a.respond(ctx, i, ephemeralResponse(noticeEmptyQuestion))
		return
	}
	content := fitContent("**" + escapeMarkdown(user.Display()) + "** asked: " + chat.TruncateRunes(question, MaxMessageChars))
	if !a.respond(ctx, i, &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{
			Content:         content,
			AllowedMentions: noMentions(),
			Flags:           discordgo.MessageFlagsSuppressEmbeds,
		},
	}) {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	orig, err := a.sess.RequestWithBucketID("GET", discordgo.EndpointInteractionResponseActions(i.AppID, i.Token),
		nil, discordgo.EndpointWebhooks+"original", reqOpts(lctx)...)
	cancel()
	var msg discordgo.Message
	if err == nil {
		err = discordgo.Unmarshal(orig, &msg)
	}
	if err == nil && msg.ID == "" {
		err = errors.New("answer message has no id")
	}
	if err != nil {
		a.log.ErrorContext(ctx, "slash command: cannot read the answer message", "err", mapErr(err))
		return
	}
	in := chat.InboundMessage{
		User:      user,
		Text:      question,
		MessageID: msg.ID,
		Mentioned: true,
		Received:  received,
	}
	if i.GuildID == "" {
		in.Key = chat.ConversationKey{Platform: Name, Workspace: workspaceDM, Channel: i.ChannelID}
	} else if parent, isThread := a.threadParent(ctx, i.ChannelID); isThread {
		in.Key = chat.ConversationKey{Platform: Name, Workspace: i.GuildID, Channel: parent, Thread: i.ChannelID}
	} else if a.cfg.AutoThread {
		in.Key = chat.ConversationKey{Platform: Name, Workspace: i.GuildID, Channel: i.ChannelID, Thread: msg.ID}
		a.names.Put(msg.ID, threadName(question))
	} else {
		in.Key = chat.ConversationKey{Platform: Name, Workspace: i.GuildID, Channel: i.ChannelID}
	}
	if err := h.HandleMessage(ctx, in); err != nil {
		a.log.ErrorContext(ctx, "handle slash command failed", "conversation", in.Key.String(), "err", err)
	}
}

// respond answers an interaction within the deadline and reports success.
// One bucket serves all interactions: discordgo would otherwise keep a
// rate-limit bucket per interaction token forever.
func (a *Adapter) respond(ctx context.Context, i *discordgo.Interaction, resp *discordgo.InteractionResponse) bool {
	rctx, cancel := context.WithTimeout(ctx, a.respondTimeout)
	defer cancel()
	_, err := a.sess.RequestWithBucketID("POST", discordgo.EndpointInteractionResponse(i.ID, i.Token),
		*resp, discordgo.EndpointAPI+"interactions", reqOpts(rctx)...)
	if err != nil {
		// The error never contains the token: mapErr drops request URLs.
		a.log.ErrorContext(ctx, "interaction response failed", "interaction", i.ID, "type", int(resp.Type), "err", mapErr(err))
		return false
	}
	return true
}

// ephemeralResponse is a message only the clicker sees.
func ephemeralResponse(text string) *discordgo.InteractionResponse {
	return &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{
			Content:         fitContent(text),
			AllowedMentions: noMentions(),
			Flags:           discordgo.MessageFlagsEphemeral | discordgo.MessageFlagsSuppressEmbeds,
		},
	}
}

// interactionUser is the person behind an interaction: Member.User in
// guilds, User in DMs.
func interactionUser(i *discordgo.Interaction) chat.User {
	if i.Member != nil && i.Member.User != nil {
		return chat.User{ID: i.Member.User.ID, Name: displayName(i.Member.User, i.Member)}
	}
	if i.User != nil {
		return chat.User{ID: i.User.ID, Name: displayName(i.User, nil)}
	}
	return chat.User{}
}

// Discord's limits on a modal: a title of at most 45 characters, a text
// input label of at most 45, a text input of at most 4,000 characters.
const (
	maxModalTitle  = 45
	maxInputLabel  = 45
	maxInputLength = 4000
	// modalInputID is the custom id of a prompt modal's text input.
	modalInputID = "text"
)

// modalResponse answers a click with a modal (interaction response type
// MODAL, 9) asking for p's text. The modal's custom id is the action its
// answer is handed to the bridge as ("pvb:<kind>:<target>"), so the
// MODAL_SUBMIT interaction carries all the bridge needs.
func modalResponse(p chat.Prompt) *discordgo.InteractionResponse {
	id, err := customID(p.Kind, p.Target)
	if err != nil {
		return ephemeralResponse(noticeFailed)
	}
	title := oneLine(p.Title, maxModalTitle)
	if title == "" {
		title = "Tell the bridge"
	}
	label := oneLine(p.Label, maxInputLabel)
	if label == "" {
		label = "Text"
	}
	maxLen := maxInputLength
	if p.MaxChars > 0 {
		maxLen = min(p.MaxChars, maxInputLength)
	}
	return &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseModal,
		Data: &discordgo.InteractionResponseData{
			CustomID: id,
			Title:    title,
			Components: []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
				discordgo.TextInput{CustomID: modalInputID, Label: label, Style: discordgo.TextInputParagraph,
					Required: true, MaxLength: maxLen},
			}}},
		},
	}
}

// onModalSubmit hands a submitted prompt modal (MODAL_SUBMIT, type 5) to
// the bridge as the action its custom id names, with the typed text, and
// answers like a click: an ephemeral notice when the bridge has one (the
// request was decided meanwhile), otherwise a deferred update.
func (a *Adapter) onModalSubmit(ctx context.Context, h chat.Handler, i *discordgo.Interaction, received time.Time) {
	data := i.ModalSubmitData()
	act, ok := a.interactionAction(ctx, i, data.CustomID, received)
	if !ok {
		return
	}
	act.Text = modalText(data.Components)
	kind, target, user := act.Kind, act.Target, act.User
	res, err := h.HandleAction(ctx, act)
	switch {
	case err != nil:
		a.log.ErrorContext(ctx, "handle modal submit failed", "action", kind, "target", target, "user", user.ID, "err", err)
		a.respond(ctx, i, ephemeralResponse(noticeFailed))
	case res.Notice != "":
		a.respond(ctx, i, ephemeralResponse(res.Notice))
	default:
		a.respond(ctx, i, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate})
	}
}

// interactionAction decodes the bridge action a button or modal's custom id
// names, for the clicker, and remembers the interaction for notices. Another
// app's custom id gets a deferred update and ok is false.
func (a *Adapter) interactionAction(ctx context.Context, i *discordgo.Interaction, customID string, received time.Time) (chat.Action, bool) {
	kind, target, ok := parseCustomID(customID)
	if !ok {
		a.respond(ctx, i, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate})
		return chat.Action{}, false
	}
	user := interactionUser(i)
	a.rememberInteraction(i, user.ID)
	return chat.Action{Platform: Name, Kind: kind, Target: target, User: user, Received: received}, true
}

// modalText returns the value of a prompt modal's text input.
func modalText(components []discordgo.MessageComponent) string {
	for _, c := range components {
		row, ok := c.(*discordgo.ActionsRow)
		if !ok {
			continue
		}
		for _, inner := range row.Components {
			if in, ok := inner.(*discordgo.TextInput); ok && in.CustomID == modalInputID {
				return in.Value
			}
		}
	}
	return ""
}
