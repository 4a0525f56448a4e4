package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/promptev/promptev-bridge/adapters/discord/discordfake"
	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
)

// check --online calls Slack auth.test, Discord GET /users/@me and one
// Promptev start, here against the loopback fakes; each prints OK or the
// failure with its fix.
func TestCheckOnline(t *testing.T) {
	const key = "pk-online-secret"
	api := startFakePromptev(t, key, "ops-agent")
	sl := slackfake.New(t)
	dc := discordfake.New()
	t.Cleanup(dc.Close)
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()

	config := func(t *testing.T, promptevKey, slackToken, discordAPI string) string {
		t.Setenv("PB_ONLINE_KEY", promptevKey)
		t.Setenv("PB_ONLINE_SLACK", slackToken)
		return writeFile(t, "config.yaml", fmt.Sprintf(`
promptev: {project_key: '${PB_ONLINE_KEY}', base_url: '%s'}
routes: {default: {agent: ops-agent}}
store: {path: '%s'}
slack: {enabled: true, bot_token: '${PB_ONLINE_SLACK}', app_token: %s, api_url: '%s'}
discord: {enabled: true, token: discord-online-secret, api_url: '%s'}
http: {listen: '127.0.0.1:0'}
`, api.URL, filepath.Join(t.TempDir(), "b.db"), slackfake.AppToken, sl.APIURL(), discordAPI))
	}
	tests := []struct {
		name     string
		args     func(t *testing.T) []string
		wantCode int
		want     []string
	}{
		{
			name: "all good, with an agent",
			args: func(t *testing.T) []string {
				return []string{"--config", config(t, key, slackfake.BotToken, dc.APIURL()), "--agent", "ops-agent"}
			},
			wantCode: exitOK,
			want: []string{
				"slack                  OK: auth.test: bot @promptev (" + slackfake.BotUserID + ") in workspace Fake (" + slackfake.TeamID + ")",
				"discord                OK: GET /users/@me: bot " + discordfake.BotName + " (" + discordfake.BotID + "); invite it with https://discord.com/oauth2/authorize?client_id=" + discordfake.BotID,
				"promptev start         OK: agent ops-agent",
				"All checks passed. Start the bridge with: promptev-bridge run",
			},
		},
		{
			name: "no agent: the start is skipped with a note",
			args: func(t *testing.T) []string {
				return []string{"--config", config(t, key, slackfake.BotToken, dc.APIURL())}
			},
			wantCode: exitOK,
			want:     []string{"promptev start         skipped: give --agent ID (for example ops-agent)"},
		},
		{
			name: "every credential wrong",
			args: func(t *testing.T) []string {
				return []string{"--config", config(t, "pk-wrong-online-secret", "xoxb-wrong-online-secret", goneURL), "--agent", "ops-agent"}
			},
			wantCode: exitFailure,
			want: []string{
				"slack                  FAILED: auth.test: invalid_auth: slack.bot_token (SLACK_BOT_TOKEN) is not a valid token",
				"discord                FAILED: GET /users/@me: ",
				"check discord.api_url and that this machine reaches Discord",
				"promptev start         FAILED: agent ops-agent",
				"request:  POST " + api.URL + "/api/sdk/v1/agent/ops-agent/start",
				"status:   401 Unauthorized",
				"fix:      check promptev.project_key (PROMPTEV_PROJECT_KEY)",
				"3 check(s) failed",
			},
		},
		{
			name: "unknown agent",
			args: func(t *testing.T) []string {
				return []string{"--config", config(t, key, slackfake.BotToken, dc.APIURL()), "--agent", "nobody"}
			},
			wantCode: exitFailure,
			want:     []string{"status:   404 Not Found", "fix:      check the agent id", "1 check(s) failed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"check", "--online"}, tt.args(t)...)
			code, stdout, stderr := runProgram(t, "", args...)
			assert.Equal(t, tt.wantCode, code, stdout+stderr)
			for _, w := range tt.want {
				assert.Contains(t, stdout, w)
			}
			for _, secret := range []string{key, "pk-wrong-online-secret", "xoxb-wrong-online-secret", "discord-online-secret"} {
				assert.NotContains(t, stdout+stderr, secret)
			}
		})
	}
}

func TestCheckAgentNeedsOnline(t *testing.T) {
	code, _, stderr := runProgram(t, "", "check", "--agent", "ops-agent")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "add --online")
}
