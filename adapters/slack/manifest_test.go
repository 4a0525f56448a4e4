package slack

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestManifest(t *testing.T) {
	type manifest struct {
		Settings struct {
			EventSubscriptions struct {
				RequestURL string   `yaml:"request_url"`
				BotEvents  []string `yaml:"bot_events"`
			} `yaml:"event_subscriptions"`
			Interactivity struct {
				IsEnabled  bool   `yaml:"is_enabled"`
				RequestURL string `yaml:"request_url"`
			} `yaml:"interactivity"`
			SocketMode bool `yaml:"socket_mode_enabled"`
		} `yaml:"settings"`
	}
	var socket, http manifest
	require.NoError(t, yaml.Unmarshal([]byte(Manifest(ModeSocket, "")), &socket))
	assert.True(t, socket.Settings.SocketMode)
	assert.Empty(t, socket.Settings.EventSubscriptions.RequestURL)
	assert.Contains(t, socket.Settings.EventSubscriptions.BotEvents, "app_mention")

	require.NoError(t, yaml.Unmarshal([]byte(Manifest(ModeHTTP, "https://bridge.example.com/")), &http))
	assert.False(t, http.Settings.SocketMode)
	assert.Equal(t, "https://bridge.example.com/slack/events", http.Settings.EventSubscriptions.RequestURL)
	assert.Equal(t, "https://bridge.example.com/slack/interactions", http.Settings.Interactivity.RequestURL)
	assert.True(t, http.Settings.Interactivity.IsEnabled)
	assert.Equal(t, socket.Settings.EventSubscriptions.BotEvents, http.Settings.EventSubscriptions.BotEvents)
}
