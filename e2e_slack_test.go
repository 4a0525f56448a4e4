package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack"
	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
)

// TestEndToEndSlack boots the daemon from a config file with the Slack
// adapter in Socket Mode against slackfake, then runs a mention through an
// approval click to the final answer.
func TestEndToEndSlack(t *testing.T) {
	const key = "pk-e2e-slack-secret"
	api := startFakePromptev(t, key, "ops-agent")
	fake := slackfake.New(t)
	t.Setenv("PB_E2E_KEY", key)
	t.Setenv("PB_SLACK_BOT", slackfake.BotToken)
	t.Setenv("PB_SLACK_APP", slackfake.AppToken)
	cfgPath := writeFile(t, "config.yaml", fmt.Sprintf(`
promptev: {project_key: '${PB_E2E_KEY}', base_url: '%s'}
routes: {default: {agent: ops-agent}}
store: {path: '%s'}
slack:
  enabled: true
  mode: socket
  bot_token: ${PB_SLACK_BOT}
  app_token: ${PB_SLACK_APP}
  api_url: %s
http: {listen: '127.0.0.1:0'}
log: {level: debug}
`, api.URL, filepath.Join(t.TempDir(), "bridge.db"), fake.APIURL()))

	p := startProgram(t, strings.NewReader(""), "run", "--config", cfgPath)
	base := "http://" + (<-p.sidePort).String()
	fake.Await(t, "socket connection", fake.Connected)

	ev := fake.Mention("C1", "U1", "is prod down?")
	_, err := fake.SendEvent(ev, 0)
	require.NoError(t, err)

	var card slackfake.Message
	fake.Await(t, "approval card", func() bool {
		for _, m := range fake.Thread("C1", ev.TS) {
			if m.ButtonValue(slack.ActionApprove) != "" {
				card = m
				return true
			}
		}
		return false
	})
	// The placeholder says "waiting" once the approval is recorded.
	fake.Await(t, "waiting status", func() bool {
		for _, c := range fake.Calls("chat.update") {
			if strings.Contains(string(c.Blocks)+c.Text, "Waiting for approval") {
				return true
			}
		}
		return false
	})
	_, err = fake.SendClick(slackfake.ClickOn(card, "U1", slack.ActionApprove))
	require.NoError(t, err)
	fake.Await(t, "answer", func() bool {
		for _, m := range fake.Thread("C1", ev.TS) {
			if strings.Contains(m.BlockText(), "OPS-7") {
				return true
			}
		}
		return false
	})
	p.stderr.waitFor(t, "outcome=done")

	checkSidePortAfterApproval(t, base, "slack")

	p.cancel()
	assert.Equal(t, exitOK, p.wait(t))
	logs := p.stderr.String()
	for _, secret := range []string{key, slackfake.BotToken, slackfake.AppToken, "ticket="} {
		assert.NotContains(t, logs, secret, "secrets never reach the logs")
	}
}

// TestRunStopsOnFatalAdapterError checks that a revoked token stops the
// daemon with exit code 1 and a message naming the platform, not a loop.
func TestRunStopsOnFatalAdapterError(t *testing.T) {
	api := startFakePromptev(t, "pk", "a")
	fake := slackfake.New(t)
	fake.FailAuth("auth.test", "invalid_auth")
	cfgPath := writeFile(t, "config.yaml", fmt.Sprintf(`
promptev: {project_key: pk, base_url: '%s'}
routes: {default: {agent: a}}
store: {path: '%s'}
slack: {enabled: true, bot_token: %s, app_token: %s, api_url: '%s'}
http: {listen: ''}
`, api.URL, filepath.Join(t.TempDir(), "b.db"), slackfake.BotToken, slackfake.AppToken, fake.APIURL()))
	code, _, stderr := runProgram(t, "", "run", "--config", cfgPath)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr, "adapter failed")
	assert.Contains(t, stderr, "platform=slack")
	assert.NotContains(t, stderr, slackfake.BotToken)
}
