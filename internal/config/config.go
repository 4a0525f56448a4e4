// Package config is the configuration file of promptev-bridge: its schema
// (the promptev, http and log sections, with the engine's, the store's and
// each registered platform's sections), the strict YAML loader with ${ENV}
// expansion, and the redacted rendering that check --print shows.
package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/store"
)

// Config is the whole configuration file. Each package owns its section, its
// defaults and its validation; this package only assembles them. The chat
// platforms' sections come from the list of platforms (Platforms) and sit in
// the file between store and http.
//
// Fields whose values are secret carry the struct tag `secret:"true"` (on a
// map, every value is secret): check --print redacts them and problem
// messages never show them.
type Config struct {
	Promptev PromptevConfig `yaml:"promptev"`
	// Bridge holds the routes, approvals, render and runs sections.
	Bridge bridge.Config `yaml:",inline"`
	Store  store.Config  `yaml:"store"`
	// Platforms holds each registered platform's section by name.
	Platforms map[string]chat.Section `yaml:"-"`
	HTTP      HTTPConfig              `yaml:"http"`
	Log       LogConfig               `yaml:"log"`
}

// Section returns the section of the platform named name (nil for a name
// not in the list of platforms).
func (c Config) Section(name string) chat.Section { return c.Platforms[name] }

// PromptevConfig is the promptev section: how to reach the Promptev API.
// Paths and auth placement are configurable because the 0.2 wire format is
// not public.
type PromptevConfig struct {
	// ProjectKey authenticates every call.
	ProjectKey string `yaml:"project_key" secret:"true"`
	// BaseURL is the API's base URL; a trailing slash is stripped.
	BaseURL string `yaml:"base_url"`
	// Timeout bounds unary calls (start, trigger); streams use IdleTimeout.
	Timeout time.Duration `yaml:"timeout"`
	// MaxRetries is how often a 502/503/504 on the opening request is retried.
	MaxRetries int `yaml:"max_retries"`
	// Headers are extra HTTP headers sent with every call. Values are secret.
	Headers map[string]string `yaml:"headers" secret:"true"`
	// Endpoints are the path templates of the three calls.
	Endpoints EndpointsConfig `yaml:"endpoints"`
	// Auth places the key: bearer, header:<Name> or path.
	Auth string `yaml:"auth"`
	// IdleTimeout ends a stream that sends no byte for this long: the one
	// idle watchdog of a run (the run then ends with "The agent stopped
	// responding").
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// EndpointsConfig are the path templates of the agent calls; {agent_id} and
// {project_key} are substituted.
type EndpointsConfig struct {
	Trigger string `yaml:"trigger"`
	Start   string `yaml:"start"`
	Stream  string `yaml:"stream"`
}

// HTTPConfig is the http section: the side port.
type HTTPConfig struct {
	// Listen is the side port's address; empty turns the side port off.
	// Port 0 picks a free port, which is logged.
	Listen string `yaml:"listen"`
}

// LogConfig is the log section.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// DefaultListen is the side port's default address.
const DefaultListen = "127.0.0.1:9464"

// Defaults of the sections this package owns.
const (
	defaultBaseURL     = "https://api.promptev.ai"
	defaultTimeout     = 30 * time.Second
	defaultMaxRetries  = 2
	defaultIdleTimeout = 90 * time.Second
	defaultAuth        = "bearer"
)

// defaultEndpoints are the SDK's assumed paths (promptev.DefaultEndpoints).
func defaultEndpoints() EndpointsConfig {
	d := promptev.DefaultEndpoints()
	return EndpointsConfig{Trigger: d.Trigger, Start: d.Start, Stream: d.Stream}
}

// DefaultConfig returns every section's defaults.
func DefaultConfig() Config {
	return Config{
		Promptev: PromptevConfig{
			BaseURL:     defaultBaseURL,
			Timeout:     defaultTimeout,
			MaxRetries:  defaultMaxRetries,
			Endpoints:   defaultEndpoints(),
			Auth:        defaultAuth,
			IdleTimeout: defaultIdleTimeout,
		},
		Bridge:    bridge.DefaultConfig(),
		Store:     store.DefaultConfig(),
		Platforms: defaultSections(),
		HTTP:      HTTPConfig{Listen: DefaultListen},
		Log:       LogConfig{Level: "info", Format: "text"},
	}
}

// defaultSections returns a new section with its defaults for every
// registered platform.
func defaultSections() map[string]chat.Section {
	m := make(map[string]chat.Section)
	for _, r := range Platforms() {
		m[r.Name] = r.NewSection()
	}
	return m
}

// ResetPlatforms puts every platform's section back to its defaults, which
// turn the platform off.
func (c *Config) ResetPlatforms() { c.Platforms = defaultSections() }

// PlatformNames lists the registered platforms, in the order of the list.
func PlatformNames() []string {
	var names []string
	for _, r := range Platforms() {
		names = append(names, r.Name)
	}
	return names
}

// Enabled lists the platforms whose section has enabled: true, in the order
// of the list of platforms.
func (c Config) Enabled() []string {
	var names []string
	for _, r := range Platforms() {
		if s := c.Platforms[r.Name]; s != nil && s.IsEnabled() {
			names = append(names, r.Name)
		}
	}
	return names
}

// NoPlatform is the problem of a config that enables no platform: run
// refuses it, so check reports it too.
func NoPlatform() string {
	var keys []string
	for _, name := range PlatformNames() {
		keys = append(keys, name+".enabled: true")
	}
	return fmt.Sprintf("no platform enabled: set %s (or try the bridge offline: promptev-bridge demo)", orList(keys))
}

// orList renders "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// Normalize applies the documented tidy-ups (trailing slash of base_url).
func (c *Config) Normalize() {
	c.Promptev.BaseURL = strings.TrimRight(strings.TrimSpace(c.Promptev.BaseURL), "/")
}

// Validate checks every section and returns all problems.
func (c Config) Validate() chat.ConfigProblems {
	var ps chat.ConfigProblems
	ps = append(ps, c.Promptev.Validate("promptev")...)
	ps = append(ps, c.Bridge.Validate(PlatformNames()...)...)
	ps = append(ps, c.Store.Validate("store")...)
	for _, r := range Platforms() {
		if s := c.Platforms[r.Name]; s != nil {
			ps = append(ps, s.Validate(r.Name)...)
		}
	}
	ps = append(ps, c.HTTP.Validate("http")...)
	ps = append(ps, c.Log.Validate("log")...)
	return ps
}

// Validate checks the promptev section.
func (c PromptevConfig) Validate(path string) chat.ConfigProblems {
	var ps chat.ConfigProblems
	p := func(name string) string { return chat.JoinPath(path, name) }
	if strings.TrimSpace(c.ProjectKey) == "" {
		ps.Add(p("project_key"), "is required: write project_key: ${PROMPTEV_PROJECT_KEY} in the promptev section and export PROMPTEV_PROJECT_KEY")
	} else if _, err := promptev.New(c.ProjectKey); err != nil {
		// The SDK's key checks; their messages never echo the key.
		ps.Add(p("project_key"), "%s", strings.TrimPrefix(strings.TrimPrefix(err.Error(), "promptev: "), "project key "))
	}
	switch u, err := url.Parse(c.BaseURL); {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		ps.Add(p("base_url"), "must be an http or https URL such as %s", defaultBaseURL)
	case u.User != nil:
		ps.Add(p("base_url"), "must not carry user info (put credentials in project_key or headers)")
	case u.RawQuery != "" || u.Fragment != "":
		ps.Add(p("base_url"), "must not carry a query or fragment")
	}
	if c.Timeout <= 0 {
		ps.Add(p("timeout"), "must be positive, got %s", c.Timeout)
	}
	if c.IdleTimeout <= 0 {
		ps.Add(p("idle_timeout"), "must be positive, got %s", c.IdleTimeout)
	}
	if c.MaxRetries < 0 || c.MaxRetries > 10 {
		ps.Add(p("max_retries"), "must be between 0 and 10, got %d", c.MaxRetries)
	}
	for name, h := range c.Headers {
		if !promptev.ValidHeaderName(name) {
			ps.Add(p("headers."+name), "is not a valid HTTP header name")
		}
		if strings.ContainsAny(h, "\r\n") {
			ps.Add(p("headers."+name), "must not contain line breaks")
		}
	}
	auth, authErr := promptev.ParseAuth(c.Auth)
	if authErr != nil || c.Auth == "" {
		ps.Add(p("auth"), "must be bearer, header:<Name> or path, got %q", c.Auth)
	}
	for _, ep := range []struct{ name, tmpl string }{
		{"trigger", c.Endpoints.Trigger}, {"start", c.Endpoints.Start}, {"stream", c.Endpoints.Stream},
	} {
		one := promptev.Endpoints{Trigger: ep.tmpl, Start: ep.tmpl, Stream: ep.tmpl}
		if ep.tmpl == "" {
			ps.Add(chat.JoinPath(p("endpoints"), ep.name), "must be a path template such as /api/sdk/v1/agent/{agent_id}/%s", ep.name)
		} else if err := one.Validate(auth); err != nil && authErr == nil {
			msg := strings.TrimPrefix(err.Error(), "promptev: ")
			msg = strings.TrimPrefix(msg, "trigger endpoint ")
			ps.Add(chat.JoinPath(p("endpoints"), ep.name), "%s", msg)
		}
	}
	return ps
}

// Validate checks the http section.
func (c HTTPConfig) Validate(path string) chat.ConfigProblems {
	var ps chat.ConfigProblems
	if c.Listen == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(c.Listen)
	if n, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || n > 65535 {
		ps.Add(chat.JoinPath(path, "listen"), "must be host:port with a port from 0 to 65535 (0 picks a free one), or empty to turn the side port off, got %q", c.Listen)
	}
	return ps
}

// Validate checks the log section.
func (c LogConfig) Validate(path string) chat.ConfigProblems {
	var ps chat.ConfigProblems
	switch strings.ToLower(c.Level) {
	case "debug", "info", "warn", "warning", "error":
	default:
		ps.Add(chat.JoinPath(path, "level"), "must be debug, info, warn or error, got %q", c.Level)
	}
	switch c.Format {
	case "text", "json":
	default:
		ps.Add(chat.JoinPath(path, "format"), "must be text or json, got %q", c.Format)
	}
	return ps
}
