package main

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChatAgainstAPI(t *testing.T) {
	const key = "pk-chat-secret"
	api := startFakePromptev(t, key, "ops-agent")
	tests := []struct {
		name  string
		setup func(t *testing.T) []string
	}{
		{
			name: "project key and base URL from the environment",
			setup: func(t *testing.T) []string {
				t.Setenv("PROMPTEV_PROJECT_KEY", key)
				t.Setenv("PROMPTEV_BASE_URL", api.URL)
				return nil
			},
		},
		{
			name: "promptev section from a config file; its routes, platforms and side port are ignored",
			setup: func(t *testing.T) []string {
				path := writeFile(t, "config.yaml", fmt.Sprintf(
					"promptev: {project_key: %s, base_url: '%s'}\nroutes: {default: {agent: other, allow_users: [nobody]}}\n"+
						"slack: {enabled: true, bot_token: xoxb-1, app_token: xapp-1}\nhttp: {listen: '127.0.0.1:1'}\n"+
						"discord: {enabled: true}\n", key, api.URL)) // no token: valid only because chat turns the platforms off
				return []string{"--config", path}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"chat", "--agent", "ops-agent", "--message", "status?", "--auto-approve"}, tt.setup(t)...)
			code, stdout, stderr := runProgram(t, "", args...)
			require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			assert.Contains(t, stdout, "? Approval needed: jira.create_issue")
			assert.Contains(t, stdout, "Ticket **OPS-7** created.")
			assert.NotContains(t, stdout+stderr, key)
		})
	}
}

func TestChatWithoutKey(t *testing.T) {
	t.Setenv("PROMPTEV_PROJECT_KEY", "")
	code, _, stderr := runProgram(t, "", "chat", "--agent", "a", "--message", "x")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr, "promptev.project_key: is required")
}
