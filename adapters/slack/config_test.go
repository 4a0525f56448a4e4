package slack

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func validConfig() Config {
	c := DefaultConfig()
	c.Enabled = true
	c.BotToken = "xoxb-secret-bot-value"
	c.AppToken = "xapp-secret-app-value"
	return c
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	assert.False(t, c.Enabled)
	assert.Equal(t, ModeSocket, c.Mode)
	assert.Equal(t, "https://slack.com/api/", c.APIURL)
	assert.Equal(t, "127.0.0.1:3000", c.Listen)
	assert.Equal(t, 40, c.EditBudgetPerMin)
	assert.Equal(t, 1, c.PostPerSec)
	assert.Positive(t, c.PostBurst)
	assert.Equal(t, 2, c.SocketConnections)
	assert.False(t, c.AssistantStatus)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		paths []string
	}{
		{"valid socket", func(*Config) {}, nil},
		{"disabled is not checked", func(c *Config) { c.Enabled = false; c.BotToken = ""; c.Mode = "carrier-pigeon" }, nil},
		{"missing bot token", func(c *Config) { c.BotToken = "" }, []string{"slack.bot_token"}},
		{"user token as bot token", func(c *Config) { c.BotToken = "xoxp-secret-user" }, []string{"slack.bot_token"}},
		{"missing app token", func(c *Config) { c.AppToken = "" }, []string{"slack.app_token"}},
		{"bot token as app token", func(c *Config) { c.AppToken = "xoxb-secret-bot-value" }, []string{"slack.app_token"}},
		{"unknown mode", func(c *Config) { c.Mode = "rtm" }, []string{"slack.mode"}},
		{"empty mode means socket", func(c *Config) { c.Mode = "" }, nil},
		{"valid http", func(c *Config) { c.Mode = ModeHTTP; c.AppToken = ""; c.SigningSecret = "s3cr3t-signing" }, nil},
		{"http without signing secret", func(c *Config) { c.Mode = ModeHTTP }, []string{"slack.signing_secret"}},
		{"http bad listen", func(c *Config) { c.Mode = ModeHTTP; c.SigningSecret = "x"; c.Listen = "localhost" }, []string{"slack.listen"}},
		{"http bad path", func(c *Config) { c.Mode = ModeHTTP; c.SigningSecret = "x"; c.EventsPath = "events" }, []string{"slack.events_path"}},
		{"http path with space", func(c *Config) { c.Mode = ModeHTTP; c.SigningSecret = "x"; c.InteractionsPath = "/a b" }, []string{"slack.interactions_path"}},
		{"http same paths", func(c *Config) {
			c.Mode = ModeHTTP
			c.SigningSecret = "x"
			c.InteractionsPath = c.EventsPath
		}, []string{"slack.interactions_path"}},
		{"api url without scheme", func(c *Config) { c.APIURL = "slack.com/api" }, []string{"slack.api_url"}},
		{"api url without slash is fine", func(c *Config) { c.APIURL = "https://slack-gov.com/api" }, nil},
		{"edit budget over tier 3", func(c *Config) { c.EditBudgetPerMin = 90 }, []string{"slack.edit_budget_per_min"}},
		{"negative edit budget", func(c *Config) { c.EditBudgetPerMin = -1 }, []string{"slack.edit_budget_per_min", "slack.edit_burst"}},
		{"negative post rate", func(c *Config) { c.PostPerSec = -2; c.PostBurst = -1 }, []string{"slack.post_per_sec", "slack.post_burst"}},
		{"one socket connection is allowed", func(c *Config) { c.SocketConnections = 1 }, nil},
		{"ten socket connections", func(c *Config) { c.SocketConnections = 10 }, nil},
		{"more socket connections than Slack allows", func(c *Config) { c.SocketConnections = 11 }, []string{"slack.socket_connections"}},
		{"negative socket connections", func(c *Config) { c.SocketConnections = -1 }, []string{"slack.socket_connections"}},
		{"unknown streaming mode", func(c *Config) { c.Streaming = "stream" }, []string{"slack.streaming"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.edit(&c)
			ps := c.Validate("slack")
			var paths []string
			for _, p := range ps {
				paths = append(paths, p.Path)
				for _, secret := range []string{c.BotToken, c.AppToken, c.SigningSecret} {
					if secret != "" {
						assert.NotContains(t, p.Error(), secret, "secrets are never echoed")
					}
				}
			}
			assert.ElementsMatch(t, tt.paths, paths)
		})
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	c := validConfig()
	c.BotToken = "xoxp-secret-user-token"
	_, err := New(c, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "slack.bot_token")
	assert.NotContains(t, err.Error(), "secret-user-token")

	c = validConfig()
	c.APIURL = "http://127.0.0.1:1/api"
	a, err := New(c, nil)
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:1/api/", a.cfg.APIURL, "the trailing slash slack-go needs is added")
}

func TestLimits(t *testing.T) {
	c := validConfig()
	c.EditBudgetPerMin = 30
	a, err := New(c, nil)
	require.NoError(t, err)
	l := a.Limits()
	assert.Equal(t, 3900, l.MaxMessageChars)
	assert.Equal(t, "1s", l.MinEditInterval.String())
	assert.Equal(t, 30, l.EditRate.Count)
	assert.Equal(t, "1m0s", l.EditRate.Per.String())
	assert.Equal(t, DefaultEditBurst, l.EditRate.Burst)
	assert.Equal(t, 4, l.PostRate.Count, "4 posts in 5 s: a 20 % margin under Slack's one a second")
	assert.Equal(t, "5s", l.PostRate.Per.String())
	assert.Equal(t, DefaultPostBurst, l.PostRate.Burst)

	// The default budgets stay under Slack's documented limits with a margin:
	// posts below one a second per channel, edits (budget plus burst) below
	// 50 in any minute.
	d, err := New(validConfig(), nil)
	require.NoError(t, err)
	dl := d.Limits()
	assert.Less(t, float64(dl.PostRate.Count)/dl.PostRate.Per.Seconds(), 1.0)
	assert.Less(t, dl.EditRate.Count+dl.EditRate.Burst, 50)
	assert.False(t, l.SharedBudget)
	assert.Equal(t, "slack", a.Name())
	assert.True(t, a.ButtonsSupported())
	assert.False(t, a.Ready())
}

func TestMissingBotTokenSaysWhereToFindIt(t *testing.T) {
	c := validConfig()
	c.BotToken = ""
	ps := c.Validate("slack")
	require.Len(t, ps, 1)
	assert.Contains(t, ps[0].Message, "OAuth & Permissions", "the hint names the page the token is on")
}
