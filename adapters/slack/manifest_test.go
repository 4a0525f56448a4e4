package slack

import (
	"os"
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

// manifest is the part of a Slack app manifest the lanes depend on.
type manifest struct {
	Features struct {
		AgentView *struct {
			AgentDescription string `yaml:"agent_description"`
		} `yaml:"agent_view"`
	} `yaml:"features"`
	OAuth struct {
		Scopes struct {
			Bot []string `yaml:"bot"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		Events struct {
			Bot []string `yaml:"bot_events"`
		} `yaml:"event_subscriptions"`
		Interactivity struct {
			Enabled bool `yaml:"is_enabled"`
		} `yaml:"interactivity"`
	} `yaml:"settings"`
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(raw)
}

func readManifest(t *testing.T, path string) manifest {
	t.Helper()
	var m manifest
	require.NoError(t, yaml.Unmarshal([]byte(mustRead(t, path)), &m))
	return m
}

func TestManifestsCoverTheLanes(t *testing.T) {
	base := readManifest(t, "manifest.yaml")
	// Streams, the status line, edits and posts all need chat:write;
	// buttons and feedback need interactivity.
	assert.Contains(t, base.OAuth.Scopes.Bot, ScopeChatWrite)
	assert.True(t, base.Settings.Interactivity.Enabled)
	assert.Nil(t, base.Features.AgentView, "the base app is not an agent")

	// The manifest init writes is this file.
	assert.Equal(t, Manifest(ModeSocket, ""), mustRead(t, "manifest.yaml"))

	agent := readManifest(t, "manifest-agent.yaml")
	require.NotNil(t, agent.Features.AgentView, "agent_view declares the app an agent")
	assert.NotEmpty(t, agent.Features.AgentView.AgentDescription)
	assert.Subset(t, agent.OAuth.Scopes.Bot, append(base.OAuth.Scopes.Bot, ScopeAssistantWrite))
	assert.Subset(t, agent.Settings.Events.Bot, append(base.Settings.Events.Bot, "agent_session_stopped"),
		"the native Stop button needs the agent_session_stopped subscription")
	assert.True(t, agent.Settings.Interactivity.Enabled)
}
