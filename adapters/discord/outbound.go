package discord

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/promptev/promptev-bridge/chat"
)

// defaultThreadName names a thread when the question is not known (for
// example after a restart).
const defaultThreadName = "Promptev"

// Post implements chat.Platform. For a key whose Thread is a message id in
// a text channel, the first post creates the thread on that message.
func (a *Adapter) Post(ctx context.Context, key chat.ConversationKey, msg chat.Message) (chat.MessageRef, error) {
	if err := checkKey(key); err != nil {
		return chat.MessageRef{}, err
	}
	r, err := render(msg)
	if err != nil {
		return chat.MessageRef{}, fmt.Errorf("discord: render: %w", err)
	}
	return a.send(ctx, key, r)
}

// send posts rendered content in the conversation's channel.
func (a *Adapter) send(ctx context.Context, key chat.ConversationKey, r rendered) (chat.MessageRef, error) {
	ch, ref, err := a.replyChannel(ctx, key)
	if err != nil {
		return chat.MessageRef{}, err
	}
	send := &discordgo.MessageSend{
		Content:         r.content,
		Components:      r.components,
		AllowedMentions: noMentions(),
		Flags:           discordgo.MessageFlagsSuppressEmbeds,
		Reference:       ref,
	}
	m, err := a.sess.ChannelMessageSendComplex(ch, send, reqOpts(ctx)...)
	if err != nil {
		return chat.MessageRef{}, fmt.Errorf("discord: post message: %w", mapErr(err))
	}
	return chat.MessageRef{Key: key, ID: m.ID, Channel: ch, Posted: a.now()}, nil
}

// Edit implements chat.Platform. Components are always sent, so a decided
// approval card loses its buttons.
func (a *Adapter) Edit(ctx context.Context, ref chat.MessageRef, msg chat.Message) error {
	if ref.ID == "" {
		return errors.New("discord: edit: message ref has no id")
	}
	r, err := render(msg)
	if err != nil {
		return fmt.Errorf("discord: render: %w", err)
	}
	ch := ref.Channel
	if ch == "" {
		ch = keyChannel(ref.Key)
	}
	// discordgo's MessageEdit would also send its ID and Channel fields as
	// JSON keys; editBody carries only Discord's documented params.
	edit := editBody{
		Content:         &r.content,
		Components:      &r.components,
		AllowedMentions: noMentions(),
		Flags:           discordgo.MessageFlagsSuppressEmbeds,
	}
	if _, err := a.sess.RequestWithBucketID("PATCH", discordgo.EndpointChannelMessage(ch, ref.ID), edit,
		discordgo.EndpointChannelMessage(ch, ""), reqOpts(ctx)...); err != nil {
		return fmt.Errorf("discord: edit message: %w", mapErr(err))
	}
	return nil
}

// editBody is the JSON of an Edit Message request.
type editBody struct {
	Content         *string                           `json:"content,omitempty"`
	Components      *[]discordgo.MessageComponent     `json:"components,omitempty"`
	AllowedMentions *discordgo.MessageAllowedMentions `json:"allowed_mentions,omitempty"`
	Flags           discordgo.MessageFlags            `json:"flags,omitempty"`
}

// Delete implements chat.Deleter.
func (a *Adapter) Delete(ctx context.Context, ref chat.MessageRef) error {
	ch := ref.Channel
	if ch == "" {
		ch = keyChannel(ref.Key)
	}
	if err := a.sess.ChannelMessageDelete(ch, ref.ID, reqOpts(ctx)...); err != nil {
		return fmt.Errorf("discord: delete message: %w", mapErr(err))
	}
	return nil
}

// Ephemeral implements chat.Ephemeral. Discord shows a message to one user
// only as an answer to that user's interaction: when the user clicked or
// used the slash command in this conversation within the last 14 minutes,
// the notice is an ephemeral follow-up; otherwise it is posted in the
// conversation, addressed to the user without pinging.
func (a *Adapter) Ephemeral(ctx context.Context, key chat.ConversationKey, userID, text string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	text = fitContent(neutralizeMentions(text))
	if tok, ok := a.tokens.Get(tokenKey(a.existingChannel(key), userID)); ok && a.now().Before(tok.expires) {
		err := a.followup(ctx, tok, text)
		if err == nil {
			return nil
		}
		a.log.WarnContext(ctx, "ephemeral follow-up failed; posting the notice instead", "conversation", key.String(), "err", err)
	}
	// The user's own mention addresses the notice; allowed_mentions is
	// empty, so it does not ping.
	r := rendered{content: fitContent("<@" + userID + "> " + text), components: []discordgo.MessageComponent{}}
	_, err := a.send(ctx, key, r)
	return err
}

// followup sends an ephemeral follow-up message to an interaction.
func (a *Adapter) followup(ctx context.Context, tok interactionToken, text string) error {
	params := &discordgo.WebhookParams{
		Content:         text,
		AllowedMentions: noMentions(),
		Flags:           discordgo.MessageFlagsEphemeral | discordgo.MessageFlagsSuppressEmbeds,
	}
	// One bucket for all follow-ups: discordgo would otherwise keep a
	// rate-limit bucket per interaction token forever.
	_, err := a.sess.RequestWithBucketID("POST", discordgo.EndpointWebhookToken(tok.appID, tok.token),
		params, discordgo.EndpointWebhooks+"followups", reqOpts(ctx)...)
	if err != nil {
		return fmt.Errorf("discord: interaction follow-up: %w", mapErr(err))
	}
	return nil
}

// SetStatus implements chat.StatusSetter with the typing indicator, which
// Discord shows for about 10 s; it is refreshed at most every 8 s per channel.
// Status "" is a no-op (the next message clears the indicator). Nothing is
// shown in a thread that does not exist yet.
func (a *Adapter) SetStatus(ctx context.Context, key chat.ConversationKey, status string) error {
	if status == "" {
		return nil
	}
	if err := checkKey(key); err != nil {
		return err
	}
	ch := a.existingChannel(key)
	if ch == "" {
		return nil
	}
	now := a.now()
	if last, ok := a.typing.Get(ch); ok && now.Sub(last) < a.typingEvery {
		return nil
	}
	// The indicator is the first thing dropped when the budget is tight.
	if !a.limit.tryTake(typingReserve) {
		return nil
	}
	a.typing.Put(ch, now)
	if err := a.sess.ChannelTyping(ch, reqOpts(withPrepaid(ctx))...); err != nil {
		return fmt.Errorf("discord: typing: %w", mapErr(err))
	}
	return nil
}

// replyChannel returns the channel to post in for key, creating the thread
// on the key's message first when needed. ref, when not nil, makes the post a
// reply to the triggering message (the inline fallback when a thread cannot
// be created).
func (a *Adapter) replyChannel(ctx context.Context, key chat.ConversationKey) (string, *discordgo.MessageReference, error) {
	if key.Thread == "" || key.Workspace == workspaceDM {
		return key.Channel, nil, nil
	}
	if a.isKnownThread(key.Thread) {
		return key.Thread, nil, nil
	}
	if inline, _ := a.inline.Get(key.String()); inline {
		return key.Channel, nil, nil
	}
	v, err, _ := a.create.Do(key.Thread, func() (any, error) {
		return a.startThread(ctx, key)
	})
	if err != nil {
		return "", nil, err
	}
	if ch := v.(string); ch != "" {
		return ch, nil, nil
	}
	return key.Channel, &discordgo.MessageReference{MessageID: key.Thread, ChannelID: key.Channel, GuildID: key.Workspace}, nil
}

// startThread creates the thread on message key.Thread in key.Channel and
// returns its id. It returns "" when the bot may not create threads there
// (the conversation then continues inline).
func (a *Adapter) startThread(ctx context.Context, key chat.ConversationKey) (string, error) {
	name, ok := a.names.Get(key.Thread)
	if !ok {
		name = defaultThreadName
	}
	data := &discordgo.ThreadStart{Name: name, AutoArchiveDuration: a.cfg.ThreadArchiveMinutes}
	// One bucket per channel: discordgo would otherwise keep one per message.
	_, err := a.sess.RequestWithBucketID("POST", discordgo.EndpointChannelMessageThread(key.Channel, key.Thread),
		data, discordgo.EndpointChannelThreads(key.Channel), reqOpts(ctx)...)
	switch code := restCode(err); {
	case err == nil, code == codeThreadExists:
		a.threads.Put(key.Thread, key.Channel)
		a.names.Delete(key.Thread)
		return key.Thread, nil
	case code == codeMissingPermissions || code == codeMissingAccess:
		a.log.WarnContext(ctx, "cannot create a thread (grant the bot Create Public Threads and Send Messages in Threads); replying inline",
			"conversation", key.String(), "code", code)
		a.inline.Put(key.String(), true)
		return "", nil
	case code == codeInvalidChannelType || code == codeMaxActiveThreads:
		// 50024: the channel cannot hold threads (a voice or stage text
		// chat, a forum post); 160006: the guild has reached its active
		// thread limit.
		a.log.WarnContext(ctx, "Discord refused the thread; replying inline", "conversation", key.String(), "code", code)
		a.inline.Put(key.String(), true)
		return "", nil
	default:
		return "", fmt.Errorf("discord: create thread: %w", mapErr(err))
	}
}

// NeedsThread implements chat.ThreadStarter: the next post into key first
// creates its thread on the parent channel.
func (a *Adapter) NeedsThread(key chat.ConversationKey) bool {
	return key.Platform == Name && key.Workspace != workspaceDM && key.Thread != "" &&
		a.existingChannel(key) == ""
}

// existingChannel is the channel a conversation's messages are in, or ""
// when its thread has not been created yet.
func (a *Adapter) existingChannel(key chat.ConversationKey) string {
	if key.Thread == "" || key.Workspace == workspaceDM {
		return key.Channel
	}
	if a.isKnownThread(key.Thread) {
		return key.Thread
	}
	if inline, _ := a.inline.Get(key.String()); inline {
		return key.Channel
	}
	return ""
}

// isKnownThread reports whether id is known to be a thread.
func (a *Adapter) isKnownThread(id string) bool {
	parent, ok := a.threads.Get(id)
	return ok && parent != ""
}

// keyChannel is where a key's messages are when nothing else is known.
func keyChannel(key chat.ConversationKey) string {
	if key.Thread != "" && key.Workspace != workspaceDM {
		return key.Thread
	}
	return key.Channel
}

func checkKey(key chat.ConversationKey) error {
	if key.Platform != Name || key.Channel == "" {
		return fmt.Errorf("discord: not a discord conversation key: %q", key.String())
	}
	return nil
}

func tokenKey(channelID, userID string) string { return channelID + "/" + userID }

// interactionTokenTTL is how long an interaction token is used for
// follow-ups (Discord accepts them for 15 minutes).
const interactionTokenTTL = 14 * time.Minute

// rememberInteraction keeps the interaction's token for ephemeral follow-ups.
func (a *Adapter) rememberInteraction(i *discordgo.Interaction, userID string) {
	if i.Token == "" || i.AppID == "" || userID == "" {
		return
	}
	a.tokens.Put(tokenKey(i.ChannelID, userID), interactionToken{
		appID: i.AppID, token: i.Token, expires: a.now().Add(interactionTokenTTL),
	})
}

// threadName makes a thread name from a question (Discord allows 1-100 characters).
func threadName(question string) string {
	name := oneLine(strings.ReplaceAll(question, "`", ""), 90)
	if name == "" {
		return defaultThreadName
	}
	return name
}
