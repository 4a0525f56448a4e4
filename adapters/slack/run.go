package slack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/internal/workgroup"
	"github.com/slack-go/slack"
)

// Run checks the bot token with auth.test, then receives events over Socket
// Mode or HTTP (per Config.Mode) and hands them to h until ctx ends (it then
// returns nil) or a fatal error happens. A token Slack refuses ends Run with
// an error matching ErrAuth, naming the setting to fix.
func (a *Adapter) Run(ctx context.Context, h chat.Handler) error {
	if h == nil {
		return errors.New("slack: run: nil handler")
	}
	bg := new(workgroup.Group)
	a.bg.Store(bg)
	defer waitBackground(bg)
	defer a.ready.Store(false)
	if a.oauth() {
		if err := a.startInstalls(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		return a.runHTTP(ctx, h)
	}
	if err := a.identify(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if a.cfg.Mode == ModeHTTP {
		return a.runHTTP(ctx, h)
	}
	return a.runSocket(ctx, h)
}

// identify learns the bot's team and user id from auth.test, retrying
// transient failures with backoff and failing at once on auth errors.
func (a *Adapter) identify(ctx context.Context) error {
	backoff := chat.Backoff{Min: time.Second, Max: 30 * time.Second}
	for {
		res, err := a.api.AuthTestContext(ctx)
		if err == nil {
			a.self.Store(&identity{
				TeamID:    res.TeamID,
				UserID:    res.UserID,
				BotID:     res.BotID,
				mentionRE: newMentionMatcher(res.UserID),
			})
			a.log.Info("slack identity", "team", res.TeamID, "bot_user", res.UserID, "mode", a.cfg.Mode)
			return nil
		}
		if fatal := asAuthError("auth.test", "slack.bot_token", err); fatal != nil {
			return fatal
		}
		wait := backoff.Next()
		a.log.Warn("slack auth.test failed, retrying", errAttr(err), "backoff", wait)
		if !chat.SleepContext(ctx, wait) {
			return fmt.Errorf("slack: auth.test: %w", ctx.Err())
		}
	}
}

// applyClick applies the button clicks of an interaction that has already
// been acknowledged: it calls the bridge's HandleAction for each, then posts
// any notices to the clicker (chat.postEphemeral) and opens any form the
// bridge asks for (views.open with the click's trigger_id) on the
// background group, so the caller (the Socket Mode event loop) is not held
// by the Web API calls. A submitted form (view_submission) is handed to the
// bridge as the action it answers.
func (a *Adapter) applyClick(ctx context.Context, h chat.Handler, cb slack.InteractionCallback) {
	if act, where, ok := submittedPrompt(cb); ok {
		act.Received = a.now()
		notices, _ := a.handleActions(ctx, h, []chat.Action{act})
		a.noticeLater(ctx, where, cb.User.ID, notices)
		return
	}
	notices, prompts := a.handleActions(ctx, h, actionsFromCallback(cb, a.now()))
	key, user := callbackKey(cb), cb.User.ID
	for _, p := range prompts {
		if !a.goBackground(func() { a.openPrompt(ctx, cb.TriggerID, p, key, user) }) {
			a.log.Debug("slack prompt dropped: adapter stopping", "conversation", key.String())
		}
	}
	a.noticeLater(ctx, key, user, notices)
}

// noticeLater posts notices to user on the background group.
func (a *Adapter) noticeLater(ctx context.Context, key chat.ConversationKey, user string, notices []string) {
	if len(notices) == 0 {
		return
	}
	if !a.goBackground(func() { a.sendNotices(ctx, key, user, notices) }) {
		a.log.Debug("slack click notice dropped: adapter stopping", "conversation", key.String())
	}
}

// goBackground runs fn on the background group of the current Run, which
// Run waits for before it returns. Once Run has started waiting (or before
// any Run), fn is not run and goBackground reports false: a late HTTP
// handler (one that outlived the server's shutdown grace) cannot add to a
// group already being waited for.
func (a *Adapter) goBackground(fn func()) bool {
	bg := a.bg.Load()
	return bg != nil && bg.Go(fn)
}

// waitBackground stops bg from starting more work and waits for the work
// already started.
func waitBackground(bg *workgroup.Group) {
	bg.Close()
	bg.Wait()
}

// handleActions applies clicks synchronously and returns the notices to show
// to the clicker and the forms to open for them; callers acknowledge the
// click before calling it.
func (a *Adapter) handleActions(ctx context.Context, h chat.Handler, acts []chat.Action) (notices []string, prompts []chat.Prompt) {
	for _, act := range acts {
		res, err := h.HandleAction(ctx, act)
		if err != nil {
			a.log.Error("bridge refused slack click", "action", act.Kind, "target", act.Target, "user", act.User.ID, errAttr(err))
			notices = append(notices, "Sorry, that click could not be processed. Please try again.")
			continue
		}
		if res.Notice != "" {
			notices = append(notices, res.Notice)
		}
		if res.Prompt != nil {
			prompts = append(prompts, *res.Prompt)
		}
	}
	return notices, prompts
}

// sendNotices posts the click notices as ephemeral messages to the clicker.
func (a *Adapter) sendNotices(ctx context.Context, key chat.ConversationKey, userID string, notices []string) {
	for _, n := range notices {
		if err := a.Ephemeral(ctx, key, userID, n); err != nil && ctx.Err() == nil {
			a.log.Warn("slack ephemeral notice failed", "conversation", key.String(), errAttr(err))
		}
	}
}
