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
	channel, ts, err := a.webAPI(ctx, key.Workspace).PostMessageContext(ctx, key.Channel, opts...)
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
	if _, _, _, err := a.webAPI(ctx, ref.Key.Workspace).UpdateMessageContext(ctx, refChannel(ref), ref.ID, r.msgOptions()...); err != nil {
		return mapError("chat.update", err)
	}
	return nil
}

// Delete deletes a message the bridge posted.
func (a *Adapter) Delete(ctx context.Context, ref chat.MessageRef) error {
	if _, _, err := a.webAPI(ctx, ref.Key.Workspace).DeleteMessageContext(ctx, refChannel(ref), ref.ID); err != nil {
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
	if _, err := a.webAPI(ctx, key.Workspace).PostEphemeralContext(ctx, key.Channel, userID, opts...); err != nil {
		return mapError("chat.postEphemeral", err)
	}
	return nil
}

// SetStatus is the run's status line: assistant.threads.setStatus with the
// current step, visible to everyone in the thread, when streaming is auto or
// native (or assistant_status is on); status "" clears it. Threadless
// conversations have no status line. Calls are drawn from a budget per
// thread; a short budget answers *chat.RateLimitError (the bridge sends the
// latest step later). With agent_sessions on, a status moves the thread's
// agent session to processing and the clear moves it back to active.
func (a *Adapter) SetStatus(ctx context.Context, key chat.ConversationKey, status string) error {
	if key.Thread == "" {
		return nil
	}
	if a.cfg.AgentSessions {
		a.setSession(ctx, key, status != "")
	}
	if !a.statusLine() || a.lanes.isMissing(key.Workspace, laneStatus) {
		return nil
	}
	for {
		ok, wait := a.takeLane(ctx, "assistant.threads.setStatus", key.Channel+" "+key.Thread)
		if ok {
			break
		}
		if status != "" {
			return budgetShort("assistant.threads.setStatus", wait)
		}
		// The clear is never dropped: it waits for the thread's budget.
		if !chat.SleepContext(ctx, wait) {
			return ctx.Err()
		}
	}
	err := a.webAPI(ctx, key.Workspace).SetAssistantThreadsStatusContext(ctx, slack.AssistantThreadsSetStatusParameters{
		ChannelID: key.Channel,
		ThreadTS:  key.Thread,
		Status:    chat.TruncateRunes(chat.OneLine(status), 200),
	})
	if err != nil {
		return a.laneFailed(key.Workspace, laneStatus, "assistant.threads.setStatus", err)
	}
	return nil
}

// statusLine reports whether the status line is on.
func (a *Adapter) statusLine() bool {
	return a.cfg.AssistantStatus || a.cfg.Streaming == StreamingAuto || a.cfg.Streaming == StreamingNative
}

// setSession moves the thread's agent session to processing (working) or
// back to active, once per change (each step of a run sets the status
// line, not the session). It is best effort: a workspace without agent sessions is
// remembered, and other failures are logged.
func (a *Adapter) setSession(ctx context.Context, key chat.ConversationKey, working bool) {
	if a.lanes.isMissing(key.Workspace, laneSession) || !a.lanes.sessionMoves(key.Channel+" "+key.Thread, working) {
		return
	}
	status := slack.AgentSessionStatusActive
	if working {
		status = slack.AgentSessionStatusProcessing
	}
	if ok, _ := a.takeLane(ctx, "agents.sessions.setStatus", key.Workspace); !ok && working {
		// Short budget: skip processing; never skip the way back to active.
		return
	}
	_, err := a.webAPI(ctx, key.Workspace).SetAgentSessionStatusContext(ctx, slack.AgentSessionSetStatusParameters{
		Status: status, ChannelID: key.Channel, ThreadTS: key.Thread,
	})
	if err != nil {
		err = a.laneFailed(key.Workspace, laneSession, "agents.sessions.setStatus", err)
		a.log.Debug("agent session status not set", "status", status, "conversation", key.String(), "err", err)
	}
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
