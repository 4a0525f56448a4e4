package slack

import (
	"context"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// onAgentSessionStopped handles Slack's agent_session_stopped event (a user
// pressed the native stop button of a session in processing, which the
// bridge's assistant thread status puts it in): the run under way in the
// thread is stopped exactly like a press on its Stop button, then the
// session is moved out of processing (agents.sessions.setStatus active), as
// Slack leaves that to the app; a notice for the user (not allowed, nothing
// running) is sent ephemerally. It reports whether ev was that event.
func (a *Adapter) onAgentSessionStopped(ctx context.Context, h chat.Handler, ev slackevents.EventsAPIEvent) bool {
	stop, ok := ev.InnerEvent.Data.(*slackevents.AgentSessionStoppedEvent)
	if !ok {
		return false
	}
	k := key(ev.TeamID, stop.Channel, stop.ThreadTimestamp)
	act := chat.Action{
		Platform: Name,
		Kind:     chat.StopConversation,
		Target:   k.String(),
		User:     chat.User{ID: stop.User},
		Received: a.now(),
	}
	res, err := h.HandleAction(ctx, act)
	if err != nil {
		a.log.Error("bridge refused slack agent stop", "conversation", k.String(), "user", stop.User, errAttr(err))
		res = chat.ActionResult{Notice: "Sorry, the stop could not be processed. Please try again."}
	}
	// A refused stop leaves the run going, and its session in processing.
	release := err == nil && res.Accepted
	started := a.goBackground(func() {
		if release {
			_, err := a.webAPI(ctx, k.Workspace).SetAgentSessionStatusContext(ctx, slack.AgentSessionSetStatusParameters{
				Status: slack.AgentSessionStatusActive, ChannelID: stop.Channel, ThreadTS: stop.ThreadTimestamp,
			})
			if err != nil && ctx.Err() == nil {
				a.log.Warn("slack agent session not moved out of processing", "conversation", k.String(),
					errAttr(mapError("agents.sessions.setStatus", err)))
			}
		}
		if res.Notice != "" {
			a.sendNotices(ctx, k, stop.User, []string{res.Notice})
		}
	})
	if !started {
		a.log.Debug("slack agent stop follow-up dropped: adapter stopping", "conversation", k.String())
	}
	return true
}
