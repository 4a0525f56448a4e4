package slack

import (
	"net"
	"net/url"
	"strings"

	"github.com/promptev/promptev-bridge/chat"
)

// Transport modes.
const (
	// ModeSocket receives events over Socket Mode (needs an app-level token).
	ModeSocket = "socket"
	// ModeHTTP receives events as signed HTTP requests on Config.Listen.
	ModeHTTP = "http"
)

// Default values of Config.
const (
	DefaultAPIURL           = "https://slack.com/api/"
	DefaultListen           = "127.0.0.1:3000"
	DefaultEventsPath       = "/slack/events"
	DefaultInteractionsPath = "/slack/interactions"
	DefaultEditBudgetPerMin = 40
	DefaultEditBurst        = 5
	DefaultPostPerSec       = 1
	DefaultPostBurst        = 3
	// DefaultSocketConnections is how many Socket Mode connections the
	// adapter keeps open, so that Slack has a healthy one to send an
	// envelope or its retry to when another is silently dead.
	DefaultSocketConnections = 2
	// MaxSocketConnections is Slack's limit of Socket Mode connections per app.
	MaxSocketConnections = 10
)

// Config is the "slack" section of the bridge configuration.
type Config struct {
	// Enabled turns the Slack adapter on.
	Enabled bool `yaml:"enabled"`
	// Mode is "socket" (default) or "http".
	Mode string `yaml:"mode"`
	// BotToken is the bot user OAuth token (xoxb-...).
	BotToken string `yaml:"bot_token" secret:"true"`
	// AppToken is the app-level token (xapp-...) with connections:write, for Socket Mode.
	AppToken string `yaml:"app_token" secret:"true"`
	// SigningSecret verifies HTTP-mode requests.
	SigningSecret string `yaml:"signing_secret" secret:"true"`
	// Listen is the HTTP-mode listen address (default 127.0.0.1:3000).
	Listen string `yaml:"listen"`
	// EventsPath is the HTTP-mode Events API request URL path (default /slack/events).
	EventsPath string `yaml:"events_path"`
	// InteractionsPath is the HTTP-mode interactivity request URL path (default /slack/interactions).
	InteractionsPath string `yaml:"interactions_path"`
	// APIURL is the Web API base URL (default https://slack.com/api/); a
	// missing trailing slash is added.
	APIURL string `yaml:"api_url"`
	// EditBudgetPerMin is the chat.update budget per workspace (default 40).
	EditBudgetPerMin int `yaml:"edit_budget_per_min"`
	// EditBurst is how many edits may go out at once within that budget (default 5).
	EditBurst int `yaml:"edit_burst"`
	// PostPerSec is the chat.postMessage budget per channel (default 1).
	PostPerSec int `yaml:"post_per_sec"`
	// PostBurst is the short burst of posts allowed per channel (default 3).
	PostBurst int `yaml:"post_burst"`
	// SocketConnections is how many Socket Mode connections to keep open
	// (default 2, at most 10, Slack's limit per app). Slack spreads
	// envelopes and their retries across them.
	SocketConnections int `yaml:"socket_connections"`
	// AssistantStatus enables assistant.threads.setStatus while the agent works
	// (needs the assistant:write scope).
	AssistantStatus bool `yaml:"assistant_status"`
	// Streaming chooses how runs show progress: "auto" (default) streams
	// natively (chat.startStream, task cards) in DMs and shows the edited
	// placeholder plus the thread's status line in channel threads;
	// "native" streams to the asker everywhere while the stream budgets
	// allow; "edit" uses the edited placeholder alone. The status line
	// (assistant.threads.setStatus) is on in auto and native.
	Streaming string `yaml:"streaming"`
	// AgentSessions moves each run's agent session to processing and back
	// to active (agents.sessions.setStatus); the app must be declared as an
	// agent (see manifest-agent.yaml).
	AgentSessions bool `yaml:"agent_sessions"`
	// OAuth, when set, serves every workspace that installs the app through
	// Slack's OAuth flow, each with its own bot token (see
	// docs/slack-distribution.md); BotToken is then left empty. It needs
	// HTTP mode.
	OAuth *OAuthConfig `yaml:"oauth"`
}

// DefaultConfig returns the defaults: socket mode, the public API URL, 40
// edits a minute per workspace and one post a second per channel.
func DefaultConfig() Config {
	return Config{
		Mode:              ModeSocket,
		Listen:            DefaultListen,
		EventsPath:        DefaultEventsPath,
		InteractionsPath:  DefaultInteractionsPath,
		APIURL:            DefaultAPIURL,
		EditBudgetPerMin:  DefaultEditBudgetPerMin,
		EditBurst:         DefaultEditBurst,
		PostPerSec:        DefaultPostPerSec,
		PostBurst:         DefaultPostBurst,
		SocketConnections: DefaultSocketConnections,
		Streaming:         StreamingAuto,
	}
}

// withDefaults fills empty fields with their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Mode == "" {
		c.Mode = d.Mode
	}
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	if c.EventsPath == "" {
		c.EventsPath = d.EventsPath
	}
	if c.InteractionsPath == "" {
		c.InteractionsPath = d.InteractionsPath
	}
	if c.APIURL == "" {
		c.APIURL = d.APIURL
	}
	if !strings.HasSuffix(c.APIURL, "/") {
		c.APIURL += "/"
	}
	if c.EditBudgetPerMin == 0 {
		c.EditBudgetPerMin = d.EditBudgetPerMin
	}
	if c.EditBurst == 0 {
		c.EditBurst = d.EditBurst
	}
	if c.PostPerSec == 0 {
		c.PostPerSec = d.PostPerSec
	}
	if c.PostBurst == 0 {
		c.PostBurst = d.PostBurst
	}
	if c.SocketConnections == 0 {
		c.SocketConnections = d.SocketConnections
	}
	if c.Streaming == "" {
		c.Streaming = d.Streaming
	}
	return c
}

// Validate checks the section and names each problem by its YAML path under
// path (normally "slack"). A disabled section is not checked. Secret values
// never appear in the messages.
func (c Config) Validate(path string) chat.ConfigProblems {
	var ps chat.ConfigProblems
	if !c.Enabled {
		return nil
	}
	c = c.withDefaults()
	p := func(name string) string { return chat.JoinPath(path, name) }

	if c.OAuth != nil {
		c.OAuth.validate(p("oauth"), c, &ps)
	} else if c.BotToken == "" {
		ps.Add(p("bot_token"), "is required (the Bot User OAuth Token, xoxb-..., from the Slack app's OAuth & Permissions page)")
	}
	if c.BotToken != "" && !strings.HasPrefix(c.BotToken, "xoxb-") {
		ps.Add(p("bot_token"), "must be a bot token (xoxb-...)")
	}
	switch c.Mode {
	case ModeSocket:
		if c.AppToken == "" {
			ps.Add(p("app_token"), "is required in socket mode")
		} else if !strings.HasPrefix(c.AppToken, "xapp-") {
			ps.Add(p("app_token"), "must be an app-level token (xapp-...)")
		}
	case ModeHTTP:
		if c.SigningSecret == "" {
			ps.Add(p("signing_secret"), "is required in http mode")
		}
		if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
			ps.Add(p("listen"), "must be host:port, got %q", c.Listen)
		}
		for name, v := range map[string]string{"events_path": c.EventsPath, "interactions_path": c.InteractionsPath} {
			if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, " \t\n{}") {
				ps.Add(p(name), "must be a URL path starting with / (no spaces or braces), got %q", v)
			}
		}
		if c.EventsPath == c.InteractionsPath {
			ps.Add(p("interactions_path"), "must differ from events_path")
		}
	default:
		ps.Add(p("mode"), "must be socket or http, got %q", c.Mode)
	}
	if u, err := url.Parse(c.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ps.Add(p("api_url"), "must be an http or https URL")
	}
	if c.EditBudgetPerMin < 0 {
		ps.Add(p("edit_budget_per_min"), "must be positive, got %d", c.EditBudgetPerMin)
	} else if c.EditBudgetPerMin > 50 {
		ps.Add(p("edit_budget_per_min"), "must be at most 50 (Slack's Tier 3 limit for chat.update), got %d", c.EditBudgetPerMin)
	}
	if c.EditBurst < 0 || c.EditBurst > c.EditBudgetPerMin {
		ps.Add(p("edit_burst"), "must be between 1 and edit_budget_per_min, got %d", c.EditBurst)
	}
	if c.PostPerSec < 0 {
		ps.Add(p("post_per_sec"), "must be positive, got %d", c.PostPerSec)
	}
	if c.PostBurst < 0 {
		ps.Add(p("post_burst"), "must be positive, got %d", c.PostBurst)
	}
	switch c.Streaming {
	case StreamingAuto, StreamingNative, StreamingEdit:
	default:
		ps.Add(p("streaming"), "must be auto, native or edit, got %q", c.Streaming)
	}
	if c.SocketConnections < 1 || c.SocketConnections > MaxSocketConnections {
		ps.Add(p("socket_connections"), "must be between 1 and %d (Slack's limit per app; 2 or more keep events flowing when one connection dies silently), got %d",
			MaxSocketConnections, c.SocketConnections)
	}
	return ps
}
