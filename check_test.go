package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckCommand(t *testing.T) {
	t.Setenv("PB_TEST_KEY", "pk-super-secret-value")
	tests := []struct {
		name     string
		config   string
		wantCode int
		want     []string
	}{
		{
			name:     "valid",
			config:   "promptev: {project_key: '${PB_TEST_KEY}'}\nroutes: {default: {agent: helpdesk}}\nconsole: {enabled: true}\nhttp: {listen: '127.0.0.1:0'}\n",
			wantCode: exitOK,
			want: []string{": OK", "default agent: helpdesk (stream), 0 channel route(s)", "slack: disabled, discord: disabled, console: enabled",
				"platforms              OK: console", "adapters               OK: console built", "store                  OK: ",
				"side port              OK: 127.0.0.1:0 can be bound", "All checks passed."},
		},
		{
			// run refuses a config without a platform: check must too.
			name:     "no platform enabled",
			config:   "promptev: {project_key: '${PB_TEST_KEY}'}\nroutes: {default: {agent: helpdesk}}\nhttp: {listen: '127.0.0.1:0'}\n",
			wantCode: exitFailure,
			want: []string{": OK", "platforms              FAILED: no platform enabled: set slack.enabled: true, discord.enabled: true or console.enabled: true",
				"1 check(s) failed: run would not start as configured."},
		},
		{
			name: "discord invite URL",
			config: "promptev: {project_key: '${PB_TEST_KEY}'}\nroutes: {default: {agent: helpdesk}}\n" +
				"discord: {enabled: true, token: tok-secret, application_id: '123456789'}\nhttp: {listen: '127.0.0.1:0'}\n",
			wantCode: exitOK,
			want:     []string{"discord invite URL: https://discord.com/oauth2/authorize?client_id=123456789"},
		},
		{
			name: "every problem with its path",
			config: "promptev: {project_key: '${PB_TEST_KEY}', timeout: soon}\n" +
				"routes: {default: {agent: helpdesk, mode: turbo}}\n" +
				"log: {format: yaml}\n" +
				"slack: {enabled: true, bot_token: '${PB_UNSET_TOKEN}'}\n" +
				"extra: 1\n",
			wantCode: exitFailure,
			want: []string{
				"6 problem(s):",
				`  promptev.timeout: expected a duration such as 30s, 5m or 1h30m, got "soon" (line 1)`,
				"  slack.bot_token: is required (the Bot User OAuth Token, xoxb-..., from the Slack app's OAuth & Permissions page): environment variable PB_UNSET_TOKEN is not set (export it; see .env.example) (line 4)",
				"  extra: unknown key (line 5)",
				// Validation runs on the rest, so one check shows everything.
				`  routes.default.mode: must be stream or trigger, not "turbo" (line 2)`,
				`  log.format: must be text or json, got "yaml" (line 3)`,
				"  slack.app_token: is required in socket mode (not in the file: add it under slack, line 4)\n",
			},
		},
		{
			name:     "validation problems after a clean decode",
			config:   "promptev: {project_key: '${PB_TEST_KEY}'}\nroutes: {default: {agent: helpdesk, mode: turbo}}\nlog: {format: yaml}\n",
			wantCode: exitFailure,
			want: []string{
				"2 problem(s):",
				`  routes.default.mode: must be stream or trigger, not "turbo" (line 2)`,
				`  log.format: must be text or json, got "yaml" (line 3)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "config.yaml", tt.config)
			code, stdout, stderr := runProgram(t, "", "check", "--config", path)
			assert.Equal(t, tt.wantCode, code, stdout+stderr)
			for _, w := range tt.want {
				assert.Contains(t, stdout, w)
			}
			assert.LessOrEqual(t, strings.Count(stdout, "slack.bot_token:"), 1, "no second problem for the same path")
			assert.NotContains(t, stdout+stderr, "pk-super-secret-value")
		})
	}
}

// The shipped example enables no platform: check says so, as run would.
// With Slack enabled in Socket Mode it passes, although the example names
// ${SLACK_SIGNING_SECRET} (an HTTP-mode setting) and that is not set.
func TestCheckExampleConfig(t *testing.T) {
	for k, v := range exampleEnv {
		if k != "SLACK_SIGNING_SECRET" {
			t.Setenv(k, v)
		}
	}
	example, err := os.ReadFile("config.example.yaml")
	require.NoError(t, err)
	code, stdout, stderr := runProgram(t, "", "check", "--config", "config.example.yaml")
	assert.Equal(t, exitFailure, code, stdout+stderr)
	assert.Contains(t, stdout, "config.example.yaml: OK")
	assert.Contains(t, stdout, "platforms              FAILED: no platform enabled")

	withSlack := strings.Replace(string(example), "slack:\n  enabled: false", "slack:\n  enabled: true", 1)
	withSlack = strings.Replace(withSlack, "listen: 127.0.0.1:9464", "listen: 127.0.0.1:0", 1)
	require.NotEqual(t, string(example), withSlack)
	path := writeFile(t, "config.yaml", withSlack)
	code, stdout, stderr = runProgram(t, "", "check", "--config", path)
	assert.Equal(t, exitOK, code, stdout+stderr)
	assert.Contains(t, stdout, "platforms              OK: slack")
	for _, v := range exampleEnv {
		if v != "agent-example" {
			assert.NotContains(t, stdout, v, "secrets are not printed")
		}
	}
}

func TestCheckMissingFile(t *testing.T) {
	code, stdout, _ := runProgram(t, "", "check", "--config", "/nonexistent/config.yaml")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stdout, "no config file at /nonexistent/config.yaml")
	assert.Contains(t, stdout, "promptev-bridge init")
}

// check runs the start-up steps run would fail on: the store's directory
// and the side port.
func TestCheckRunsTheOfflineStartUpSteps(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = busy.Close() })
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	readOnly := t.TempDir()
	require.NoError(t, os.Chmod(readOnly, 0o500))
	t.Cleanup(func() { _ = os.Chmod(readOnly, 0o700) })
	base := "promptev: {project_key: pk}\nroutes: {default: {agent: a}}\nconsole: {enabled: true}\n"
	tests := []struct {
		name, config string
		want         []string
	}{
		{
			name:   "store in a missing directory",
			config: base + fmt.Sprintf("store: {path: %s}\nhttp: {listen: '127.0.0.1:0'}\n", filepath.Join(missing, "b.db")),
			want:   []string{"store                  FAILED: store.path: the directory " + missing + " does not exist: create it (mkdir -p " + missing + ")"},
		},
		{
			name:   "side port in use",
			config: base + fmt.Sprintf("store: {path: %s}\nhttp: {listen: '%s'}\n", filepath.Join(t.TempDir(), "b.db"), busy.Addr()),
			want: []string{"side port              FAILED: http.listen " + busy.Addr().String() + ": listen tcp " + busy.Addr().String(),
				"stop what listens there (a running bridge?), or change http.listen"},
		},
	}
	if os.Geteuid() != 0 { // root writes anywhere
		tests = append(tests, struct {
			name, config string
			want         []string
		}{
			name:   "store in a read-only directory",
			config: base + fmt.Sprintf("store: {path: %s}\nhttp: {listen: '127.0.0.1:0'}\n", filepath.Join(readOnly, "b.db")),
			want:   []string{"store                  FAILED: store.path: cannot create files in " + readOnly},
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runProgram(t, "", "check", "--config", writeFile(t, "config.yaml", tt.config))
			assert.Equal(t, exitFailure, code, stdout+stderr)
			for _, w := range tt.want {
				assert.Contains(t, stdout, w)
			}
			assert.Contains(t, stdout, "1 check(s) failed")
		})
	}
}

func TestCheckPrintRedactsSecrets(t *testing.T) {
	secrets := map[string]string{
		"PROMPTEV_PROJECT_KEY": "pk-print-secret", "PROMPTEV_AGENT_ID": "agent-print",
		"SLACK_BOT_TOKEN": "xoxb-print-secret", "SLACK_APP_TOKEN": "xapp-print-secret",
		"SLACK_SIGNING_SECRET": "signing-print-secret", "DISCORD_BOT_TOKEN": "discord-print-secret",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	path := writeFile(t, "config.yaml", "promptev: {project_key: '${PROMPTEV_PROJECT_KEY}', headers: {X-Api-Key: hdr-print-secret}}\n"+
		"routes: {default: {agent: '${PROMPTEV_AGENT_ID}'}}\n"+
		"slack: {enabled: true, bot_token: '${SLACK_BOT_TOKEN}', app_token: '${SLACK_APP_TOKEN}'}\n")
	code, stdout, stderr := runProgram(t, "", "check", "--config", path, "--print")
	require.Equal(t, exitOK, code, stderr)
	for _, want := range []string{
		"# effective configuration", "project_key: '[redacted]'", "X-Api-Key: '[redacted]'",
		"bot_token: '[redacted]'", "app_token: '[redacted]'", "agent: agent-print",
		"timeout: 30s", "shutdown_grace: 20s", "listen: 127.0.0.1:9464", "signing_secret: \"\"",
	} {
		assert.Contains(t, stdout, want)
	}
	for k, v := range secrets {
		if k != "PROMPTEV_AGENT_ID" {
			assert.NotContains(t, stdout, v)
		}
	}
	assert.NotContains(t, stdout, "hdr-print-secret")
}
