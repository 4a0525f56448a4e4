package slack

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Scopes needed by the lanes.
const (
	// ScopeChatWrite lets the app post, edit, stream and set thread statuses.
	ScopeChatWrite = "chat:write"
	// ScopeAssistantWrite is what Slack adds to an app declared as an agent;
	// agents.sessions.setStatus needs it (with chat:write).
	ScopeAssistantWrite = "assistant:write"
)

// Scopes returns the bot token's OAuth scopes, as Slack reports them in the
// X-OAuth-Scopes header of an auth.test answer. It is meant for checks
// (`check --online`), not for the hot path.
func (a *Adapter) Scopes(ctx context.Context) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.APIURL+"auth.test", strings.NewReader(url.Values{}.Encode()))
	if err != nil {
		return nil, fmt.Errorf("slack: scopes: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+a.cfg.BotToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := a.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("slack: scopes: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("slack: scopes: auth.test answered HTTP %d", resp.StatusCode)
	}
	var out []string
	for _, s := range strings.Split(resp.Header.Get("X-OAuth-Scopes"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// AgentSessionsAllowed reports whether the bot token may manage agent
// sessions (agents.sessions.setStatus): the app is declared as an agent
// (assistant:write) and has chat:write. missing names the scopes it lacks.
// `check --online` reports it when slack.agent_sessions is on.
func (a *Adapter) AgentSessionsAllowed(ctx context.Context) (ok bool, missing []string, err error) {
	scopes, err := a.Scopes(ctx)
	if err != nil {
		return false, nil, err
	}
	for _, need := range []string{ScopeChatWrite, ScopeAssistantWrite} {
		if !slices.Contains(scopes, need) {
			missing = append(missing, need)
		}
	}
	return len(missing) == 0, missing, nil
}

// httpClient is the client of direct Web API requests.
func (a *Adapter) httpClient() *http.Client {
	if a.http != nil {
		return a.http
	}
	return &http.Client{Timeout: webAPITimeout}
}
