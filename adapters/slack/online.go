package slack

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/slack-go/slack"
)

// CheckOnline calls auth.test with the bot token and describes the bot and
// its workspace; `check --online` shows it. An error says what the answer
// means and how to fix it. The token never appears.
func (a *Adapter) CheckOnline(ctx context.Context) (string, error) {
	if a.oauth() {
		// No token of its own: each installation has one (installs list).
		return "slack.oauth: bot tokens come from the installed workspaces (promptev-bridge installs list shows them)", nil
	}
	if a.client == nil {
		return "", errors.New("slack: no Web API client")
	}
	r, err := a.client.AuthTestContext(ctx)
	if err != nil {
		return "", fmt.Errorf("auth.test: %w: %s", err, authFix(err))
	}
	desc := fmt.Sprintf("auth.test: bot @%s (%s) in workspace %s (%s)", r.User, r.UserID, r.Team, r.TeamID)
	if !a.cfg.AgentSessions {
		return desc, nil
	}
	ok, missing, err := a.AgentSessionsAllowed(ctx)
	switch {
	case err != nil:
		return "", fmt.Errorf("agent sessions: %w", err)
	case !ok:
		return "", fmt.Errorf("slack.agent_sessions is on but the token lacks %s: install the app from adapters/slack/manifest-agent.yaml (agent_view declares it an agent) and reinstall it, or turn slack.agent_sessions off",
			strings.Join(missing, ", "))
	}
	return desc + "; agent sessions allowed", nil
}

// authFix is the fix for a failed auth.test, by Slack's documented error
// codes.
func authFix(err error) string {
	var se slack.SlackErrorResponse
	code := err.Error()
	if errors.As(err, &se) {
		code = se.Err
	}
	switch code {
	case "invalid_auth", "not_authed":
		return "slack.bot_token (SLACK_BOT_TOKEN) is not a valid token: copy the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page"
	case "account_inactive", "token_revoked", "token_expired":
		return "the token no longer works (the app was uninstalled or the token revoked): reinstall the app to the workspace and copy the new Bot User OAuth Token"
	case "no_permission", "missing_scope":
		return "the token lacks a scope: add the scopes of adapters/slack/manifest.yaml and reinstall the app"
	}
	return "check slack.api_url and that this machine reaches Slack"
}
