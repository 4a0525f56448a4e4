package slack_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack"
	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
)

func TestCheckOnlineAgentSessions(t *testing.T) {
	tests := []struct {
		name     string
		sessions bool
		scopes   []string
		wantErr  string
		wantDesc string
	}{
		{"off: not checked", false, []string{"chat:write"}, "", "auth.test: bot"},
		{"on, declared as an agent", true, []string{"chat:write", "assistant:write"}, "", "agent sessions allowed"},
		{"on, not an agent", true, []string{"chat:write"}, "lacks assistant:write: install the app from adapters/slack/manifest-agent.yaml", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := slackfake.New(t, slackfake.WithScopes(tt.scopes...))
			cfg := slack.DefaultConfig()
			cfg.Enabled, cfg.BotToken, cfg.AppToken, cfg.APIURL = true, slackfake.BotToken, slackfake.AppToken, fake.APIURL()
			cfg.AgentSessions = tt.sessions
			a, err := slack.New(cfg, nil)
			require.NoError(t, err)
			desc, err := a.CheckOnline(context.Background())
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Contains(t, desc, tt.wantDesc)
		})
	}
}
