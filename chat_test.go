package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/promptev/promptevtest"
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

// chat is how a user first checks the assumed wire protocol against their
// account: a failed run must exit non-zero and show what was called, the
// status and the body, without the key, and without asking the operator to
// tell the operator.
func TestChatFailedRun(t *testing.T) {
	const key = "pk-chat-failure-secret"
	api := startFakePromptev(t, key, "ops-agent")
	api.AddAgent("broken", promptevtest.Agent{Script: []promptevtest.Event{{Type: "error", Output: "the tool crashed"}}})
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // nothing listens there any more
	tests := []struct {
		name, key, baseURL, agent string
		want                      []string
	}{
		{
			name: "wrong key (401)", key: "pk-wrong-key-secret", baseURL: api.URL, agent: "ops-agent",
			want: []string{
				"promptev-bridge chat: the Promptev call failed:",
				"request:  POST " + api.URL + "/api/sdk/v1/agent/ops-agent/start",
				"status:   401 Unauthorized",
				"response: {",
				"fix:      check promptev.project_key (PROMPTEV_PROJECT_KEY) and promptev.auth",
			},
		},
		{
			name: "unknown agent (404)", key: key, baseURL: api.URL, agent: "no-such-agent",
			want: []string{"status:   404 Not Found", "fix:      check the agent id"},
		},
		{
			name: "unreachable API", key: key, baseURL: deadURL, agent: "ops-agent",
			want: []string{"request:  POST " + deadURL + "/api/sdk/v1/agent/ops-agent/start", "error:    ", "connection refused"},
		},
		{
			name: "the agent sends error", key: key, baseURL: api.URL, agent: "broken",
			want: []string{"level=ERROR", "the tool crashed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PROMPTEV_PROJECT_KEY", tt.key)
			t.Setenv("PROMPTEV_BASE_URL", tt.baseURL)
			code, stdout, stderr := runProgram(t, "", "chat", "--agent", tt.agent, "--message", "status?")
			assert.Equal(t, exitFailure, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			for _, w := range tt.want {
				assert.Contains(t, stdout+stderr, w)
			}
			assert.Contains(t, stderr, "promptev-bridge chat: the run failed: exit code 1")
			assert.NotContains(t, stdout+stderr, "Please tell the operator")
			assert.NotContains(t, stdout+stderr, tt.key, "the key is redacted")
		})
	}
}

func TestDemoFailedRunExitsNonZero(t *testing.T) {
	script := writeFile(t, "broken.yaml", "name: Broken\nscript:\n  - {type: error, output: \"the tool crashed\"}\n")
	code, stdout, stderr := runProgram(t, "", "demo", "--script", script, "--message", "hello")
	assert.Equal(t, exitFailure, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Contains(t, stderr, "promptev-bridge demo: the run failed: exit code 1")
}
