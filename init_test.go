package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var envRef = regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)\}`)

// envNames returns the sorted variable names matched by re in s.
func envNames(re *regexp.Regexp, s string) []string {
	var names []string
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		if !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	return names
}

var envLine = regexp.MustCompile(`(?m)^([A-Z_][A-Z0-9_]*)=`)

func TestInit(t *testing.T) {
	tests := []struct {
		name     string
		stdin    string
		args     []string
		wantEnv  []string
		manifest string // a line the Slack manifest must have; "" means no manifest
		want     []string
	}{
		{
			name:     "slack in socket mode and discord, from flags",
			args:     []string{"--platforms", "slack,discord", "--slack-mode", "socket", "--agent", "ops-agent", "--discord-app-id", "123456789"},
			wantEnv:  []string{"DISCORD_BOT_TOKEN", "PROMPTEV_PROJECT_KEY", "SLACK_APP_TOKEN", "SLACK_BOT_TOKEN"},
			manifest: "socket_mode_enabled: true",
			want: []string{
				"From a manifest", "slack-app-manifest.yaml", "connections:write",
				"https://discord.com/oauth2/authorize?client_id=123456789",
				"export SLACK_APP_TOKEN=...", "export DISCORD_BOT_TOKEN=...",
				"promptev-bridge check --config ", "--online --agent ops-agent", "promptev-bridge run --config ",
			},
		},
		{
			name:     "slack in http mode, asked",
			stdin:    "slack\nhttp\nhttps://bridge.example.com\nops-agent\n",
			wantEnv:  []string{"PROMPTEV_PROJECT_KEY", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"},
			manifest: "request_url: https://bridge.example.com/slack/events",
			want:     []string{"Which platforms?", "socket (Socket Mode", "public https URL", "agent id", "export SLACK_SIGNING_SECRET=..."},
		},
		{
			// An id YAML would read as a number keeps its digits.
			name:    "discord only, asked; an empty answer is asked again",
			stdin:   "\ndiscord\n\n0042\n",
			wantEnv: []string{"DISCORD_BOT_TOKEN", "PROMPTEV_PROJECT_KEY"},
			want:    []string{"the invite URL that check --online prints", "export DISCORD_BOT_TOKEN=..."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfgPath := filepath.Join(dir, "config.yaml")
			args := append([]string{"init", "--config", cfgPath}, tt.args...)
			code, stdout, stderr := runProgram(t, tt.stdin, args...)
			require.Equal(t, exitOK, code, stdout+stderr)
			for _, w := range tt.want {
				assert.Contains(t, stdout, w)
			}
			cfg, err := os.ReadFile(cfgPath)
			require.NoError(t, err)
			env, err := os.ReadFile(filepath.Join(dir, ".env.example"))
			require.NoError(t, err)
			assert.Equal(t, tt.wantEnv, envNames(envRef, string(cfg)), "the config references exactly the secrets the choice needs")
			assert.Equal(t, tt.wantEnv, envNames(envLine, string(env)), ".env.example lists exactly those")
			manifest, err := os.ReadFile(filepath.Join(dir, "slack-app-manifest.yaml"))
			if tt.manifest == "" {
				assert.True(t, os.IsNotExist(err), "no Slack, no manifest")
			} else {
				require.NoError(t, err)
				assert.Contains(t, string(manifest), tt.manifest)
			}

			// With the variables set, the written config passes check (its
			// side port moved to a free one, as another bridge may hold 9464).
			for _, name := range tt.wantEnv {
				t.Setenv(name, map[string]string{
					"SLACK_BOT_TOKEN": "xoxb-init", "SLACK_APP_TOKEN": "xapp-init",
				}[name]+"init-value-"+strings.ToLower(name))
			}
			freePort := strings.Replace(string(cfg), "listen: 127.0.0.1:9464", "listen: 127.0.0.1:0", 1)
			require.NoError(t, os.WriteFile(cfgPath, []byte(freePort), 0o600))
			code, stdout, stderr = runProgram(t, "", "check", "--config", cfgPath)
			assert.Equal(t, exitOK, code, stdout+stderr)
			assert.Contains(t, stdout, "All checks passed.")
			assert.Regexp(t, `default agent: (ops-agent|0042) `, stdout)
		})
	}
}

func TestInitNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".env.example"), []byte("MINE=1\n"), 0o600))
	code, _, stderr := runProgram(t, "", "init", "--config", cfgPath, "--platforms", "discord", "--agent", "a")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr, ".env.example exists: init never overwrites a file")
	_, err := os.Stat(cfgPath)
	assert.True(t, os.IsNotExist(err), "nothing is written when any file exists")
	env, err := os.ReadFile(filepath.Join(dir, ".env.example"))
	require.NoError(t, err)
	assert.Equal(t, "MINE=1\n", string(env))
}

func TestInitWithoutAnswers(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"no platforms and no input", nil, "", "--platforms is required"},
		{"an unknown platform", []string{"--platforms", "teams"}, "", `--platforms: unknown platform "teams": choose from slack, discord`},
		{"a bad Slack mode", []string{"--platforms", "slack", "--slack-mode", "rtm"}, "", `--slack-mode: must be socket or http, not "rtm"`},
		{"no agent", []string{"--platforms", "discord"}, "", "--agent is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"init", "--config", filepath.Join(dir, "config.yaml")}, tt.args...)
			code, _, stderr := runProgram(t, tt.stdin, args...)
			assert.Equal(t, exitUsage, code)
			assert.Contains(t, stderr, tt.want)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "nothing written")
		})
	}
}
