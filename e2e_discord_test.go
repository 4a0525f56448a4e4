package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/discord/discordfake"
)

// TestEndToEndDiscord boots the daemon from a config file with the Discord
// adapter against discordfake (REST and gateway through api_url), then runs
// a mention through an approval click to the final answer.
func TestEndToEndDiscord(t *testing.T) {
	const key = "pk-e2e-discord-secret"
	const token = "discord-e2e-bot-token-secret"
	api := startFakePromptev(t, key, "ops-agent")
	fake := discordfake.New()
	t.Cleanup(fake.Close)
	fake.AddChannel(discordfake.Channel{ID: "200", GuildID: "100", Name: "general", Type: discordfake.ChannelTypeGuildText})
	t.Setenv("PB_E2E_KEY", key)
	t.Setenv("PB_DISCORD_TOKEN", token)
	cfgPath := writeFile(t, "config.yaml", fmt.Sprintf(`
promptev: {project_key: '${PB_E2E_KEY}', base_url: '%s'}
routes: {default: {agent: ops-agent}}
store: {path: '%s'}
discord:
  enabled: true
  token: ${PB_DISCORD_TOKEN}
  api_url: %s
  slash_command: {enabled: false}
http: {listen: '127.0.0.1:0'}
log: {level: debug}
`, api.URL, filepath.Join(t.TempDir(), "bridge.db"), fake.APIURL()))

	p := startProgram(t, strings.NewReader(""), "run", "--config", cfgPath)
	base := "http://" + (<-p.sidePort).String()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // failure guard
	defer cancel()
	wait := func(what string, cond func(discordfake.Snapshot) bool) discordfake.Snapshot {
		t.Helper()
		snap, err := fake.Wait(ctx, cond)
		require.NoError(t, err, "waiting for %s", what)
		return snap
	}
	wait("gateway identify", func(s discordfake.Snapshot) bool { return s.Connections > 0 && len(s.Identifies) > 0 })

	_, err := fake.SendMessage(discordfake.UserMessage{GuildID: "100", ChannelID: "200", AuthorID: "300",
		AuthorName: "ana", Content: "is prod down?", MentionBot: true})
	require.NoError(t, err)

	var card discordfake.Message
	var approve discordfake.Button
	wait("approval card", func(s discordfake.Snapshot) bool {
		for _, m := range s.Messages {
			for _, b := range m.Buttons() {
				if strings.Contains(strings.ToLower(b.Label), "approve") {
					card, approve = m, b
					return true
				}
			}
		}
		return false
	})
	// The placeholder says "waiting" once the approval is recorded.
	wait("waiting status", func(s discordfake.Snapshot) bool {
		for _, e := range s.Edits {
			if e.Content != nil && strings.Contains(*e.Content, "Waiting for approval") {
				return true
			}
		}
		return false
	})
	clickID, err := fake.Click(discordfake.Click{GuildID: "100", ChannelID: card.ChannelID, MessageID: card.ID,
		CustomID: approve.CustomID, UserID: "300", UserName: "ana"})
	require.NoError(t, err)
	wait("answer", func(s discordfake.Snapshot) bool {
		for _, m := range s.Messages {
			if m.FromBot && strings.Contains(m.Content, "OPS-7") {
				return true
			}
		}
		return false
	})
	p.stderr.waitFor(t, "outcome=done")

	checkSidePortAfterApproval(t, base, "discord")

	p.cancel()
	assert.Equal(t, exitOK, p.wait(t))
	logs := p.stderr.String()
	for _, secret := range []string{key, token, fake.InteractionToken(clickID)} {
		assert.NotContains(t, logs, secret, "secrets never reach the logs")
	}
}
