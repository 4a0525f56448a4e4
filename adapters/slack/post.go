package slack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/slack-go/slack"
)

// Post posts msg in the conversation's thread (inline for a DM without a
// thread), with link and media unfurls off.
func (a *Adapter) Post(ctx context.Context, key chat.ConversationKey, msg chat.Message) (chat.MessageRef, error) {
	r := render(msg)
	opts := append(r.msgOptions(), slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionDisableMediaUnfurl())
	if key.Thread != "" {
		opts = append(opts, slack.MsgOptionTS(key.Thread))
	}
	channel, ts, err := a.api.PostMessageContext(ctx, key.Channel, opts...)
	if err != nil {
		return chat.MessageRef{}, mapError("chat.postMessage", err)
	}
	ref := chat.MessageRef{Key: key, ID: ts, Posted: a.now()}
	if channel != "" && channel != key.Channel {
		ref.Channel = channel
	}
	return ref, nil
}

// Edit replaces the message's text and blocks (blocks are always resent).
func (a *Adapter) Edit(ctx context.Context, ref chat.MessageRef, msg chat.Message) error {
	r := render(msg)
	if _, _, _, err := a.api.UpdateMessageContext(ctx, refChannel(ref), ref.ID, r.msgOptions()...); err != nil {
		return mapError("chat.update", err)
	}
	return nil
}

// Delete deletes a message the bridge posted.
func (a *Adapter) Delete(ctx context.Context, ref chat.MessageRef) error {
	if _, _, err := a.api.DeleteMessageContext(ctx, refChannel(ref), ref.ID); err != nil {
		return mapError("chat.delete", err)
	}
	return nil
}

// Ephemeral shows text to userID only, in the conversation's thread.
func (a *Adapter) Ephemeral(ctx context.Context, key chat.ConversationKey, userID, text string) error {
	opts := []slack.MsgOption{slack.MsgOptionText(plainFallback(neutralizeMentions(text)), false)}
	if key.Thread != "" {
		opts = append(opts, slack.MsgOptionTS(key.Thread))
	}
	if _, err := a.api.PostEphemeralContext(ctx, key.Channel, userID, opts...); err != nil {
		return mapError("chat.postEphemeral", err)
	}
	return nil
}

// SetStatus sets the assistant thread status ("is working on it...") when
// assistant_status is enabled in the config; otherwise it does nothing.
// Status "" clears it. Threadless conversations have no status.
func (a *Adapter) SetStatus(ctx context.Context, key chat.ConversationKey, status string) error {
	if !a.cfg.AssistantStatus || key.Thread == "" {
		return nil
	}
	err := a.api.SetAssistantThreadsStatusContext(ctx, slack.AssistantThreadsSetStatusParameters{
		ChannelID: key.Channel,
		ThreadTS:  key.Thread,
		Status:    chat.TruncateRunes(chat.OneLine(status), 200),
	})
	if err != nil {
		return mapError("assistant.threads.setStatus", err)
	}
	return nil
}

func refChannel(ref chat.MessageRef) string {
	if ref.Channel != "" {
		return ref.Channel
	}
	return ref.Key.Channel
}

// mapError turns slack-go's 429 errors into *chat.RateLimitError and wraps
// the rest with the method name. slack-go's error texts carry no token.
func mapError(method string, err error) error {
	if rl, ok := errors.AsType[*slack.RateLimitedError](err); ok {
		return &chat.RateLimitError{RetryAfter: max(rl.RetryAfter, time.Second), Scope: method}
	}
	if sc, ok := errors.AsType[slack.StatusCodeError](err); ok && sc.Code == http.StatusTooManyRequests {
		return &chat.RateLimitError{RetryAfter: time.Second, Scope: method}
	}
	return fmt.Errorf("slack: %s: %w", method, err)
}
