package slack

import (
	"fmt"
	"net/url"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/promptev/promptev-bridge/chat"
)

// Defaults of OAuthConfig.
const (
	DefaultInstallPath  = "/slack/install"
	DefaultAuthorizeURL = "https://slack.com/oauth/v2/authorize"
)

// DefaultOAuthScopes are the bot scopes an install asks for when
// slack.oauth.scopes is empty: those of manifest.yaml.
var DefaultOAuthScopes = []string{
	"app_mentions:read", "chat:write", "channels:history", "groups:history", "im:history", "mpim:history",
}

// OAuthConfig is the "slack.oauth" section: distribution to many workspaces
// through Slack's OAuth v2 install flow. With it, every workspace (or
// Enterprise Grid org) that installs the app gets its own bot token, kept
// sealed in the store; slack.bot_token is then left empty.
type OAuthConfig struct {
	// ClientID and ClientSecret are the app's credentials (Basic
	// Information page).
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret" secret:"true"`
	// Scopes are the bot scopes asked for (default DefaultOAuthScopes).
	Scopes []string `yaml:"scopes"`
	// RedirectURL is the public HTTPS URL of the redirect page, as listed
	// under the app's Redirect URLs (for example
	// https://bridge.example.com/slack/oauth_redirect). Its path is served
	// on slack.listen.
	RedirectURL string `yaml:"redirect_url"`
	// InstallPath is the path of the page that starts an install (default
	// /slack/install).
	InstallPath string `yaml:"install_path"`
	// TokenKey are the keys sealing the bot tokens in the store (AES-256-GCM):
	// each 32 random bytes in base64 (`openssl rand -base64 32`). A list,
	// or one string of keys separated by commas: the first key seals, every
	// key opens, so a new key goes first and an old one stays until every
	// installation was sealed again (at each start).
	TokenKey TokenKeys `yaml:"token_key" secret:"true"`
	// AuthorizeURL is Slack's authorize page (default
	// https://slack.com/oauth/v2/authorize); tests point it at a fake.
	AuthorizeURL string `yaml:"authorize_url"`
}

// TokenKeys are the keys of slack.oauth.token_key, newest first.
type TokenKeys []string

// UnmarshalYAML reads a list of keys, or one string of keys separated by
// commas or spaces (what one ${ENV} gives).
func (k *TokenKeys) UnmarshalYAML(n *yaml.Node) error {
	var list []string
	switch n.Kind {
	case yaml.SequenceNode:
		if err := n.Decode(&list); err != nil {
			return fmt.Errorf("a list of keys: %w", err)
		}
	case yaml.ScalarNode:
		list = strings.FieldsFunc(n.Value, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' })
	default:
		return fmt.Errorf("expected a key or a list of keys")
	}
	*k = list
	return nil
}

// withDefaults fills the empty fields of the section.
func (o OAuthConfig) withDefaults() OAuthConfig {
	if o.InstallPath == "" {
		o.InstallPath = DefaultInstallPath
	}
	if o.AuthorizeURL == "" {
		o.AuthorizeURL = DefaultAuthorizeURL
	}
	if len(o.Scopes) == 0 {
		o.Scopes = append([]string(nil), DefaultOAuthScopes...)
	}
	return o
}

// redirectPath is the path part of RedirectURL.
func (o OAuthConfig) redirectPath() string {
	u, err := url.Parse(o.RedirectURL)
	if err != nil || u.Path == "" {
		return "/"
	}
	return u.Path
}

// validate reports the section's problems under path ("slack.oauth"); c is
// the whole slack section, with its defaults. Key values never appear.
func (o OAuthConfig) validate(path string, c Config, ps *chat.ConfigProblems) {
	o = o.withDefaults()
	p := func(name string) string { return chat.JoinPath(path, name) }
	if c.BotToken != "" {
		ps.Add(path, "cannot be used with slack.bot_token: one deployment either serves the one workspace of slack.bot_token, "+
			"or the workspaces that install the app through slack.oauth; remove one of the two")
	}
	if c.Mode != ModeHTTP {
		ps.Add(path, "needs slack.mode: http: installed workspaces send their events to the Events API request URL "+
			"(Socket Mode apps cannot be distributed through the Slack Marketplace); set slack.mode to http and slack.signing_secret")
	}
	if o.ClientID == "" {
		ps.Add(p("client_id"), "is required (the app's Client ID, on its Basic Information page)")
	}
	if o.ClientSecret == "" {
		ps.Add(p("client_secret"), "is required (the app's Client Secret, on its Basic Information page)")
	}
	for i, s := range o.Scopes {
		if s == "" || strings.ContainsAny(s, ", ") {
			ps.Add(fmt.Sprintf("%s[%d]", p("scopes"), i), "must be one scope name, got %q", s)
		}
	}
	u, err := url.Parse(o.RedirectURL)
	switch {
	case o.RedirectURL == "":
		ps.Add(p("redirect_url"), "is required: the public URL of the redirect page, listed under the app's Redirect URLs "+
			"(for example https://bridge.example.com/slack/oauth_redirect)")
	case err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))):
		ps.Add(p("redirect_url"), "must be an https URL (http only on localhost), got %q", o.RedirectURL)
	case u.RawQuery != "" || u.Fragment != "":
		ps.Add(p("redirect_url"), "must have no query or fragment, got %q", o.RedirectURL)
	}
	if !strings.HasPrefix(o.InstallPath, "/") || strings.ContainsAny(o.InstallPath, " \t\n{}") {
		ps.Add(p("install_path"), "must be a URL path starting with / (no spaces or braces), got %q", o.InstallPath)
	}
	paths := map[string]string{c.EventsPath: "slack.events_path", c.InteractionsPath: "slack.interactions_path"}
	if other, ok := paths[o.InstallPath]; ok {
		ps.Add(p("install_path"), "must differ from %s", other)
	}
	if err == nil && u.Path != "" {
		paths[o.InstallPath] = p("install_path")
		if other, ok := paths[u.Path]; ok {
			ps.Add(p("redirect_url"), "its path %s must differ from %s", u.Path, other)
		}
	}
	if u2, err := url.Parse(o.AuthorizeURL); err != nil || (u2.Scheme != "http" && u2.Scheme != "https") || u2.Host == "" {
		ps.Add(p("authorize_url"), "must be an http or https URL")
	}
	if len(o.TokenKey) == 0 {
		ps.Add(p("token_key"), "is required: the key sealing the bot tokens in the store, 32 random bytes in base64 "+
			"(`openssl rand -base64 32`, kept in an environment variable: token_key: ${SLACK_TOKEN_KEY})")
	}
	for i, k := range o.TokenKey {
		if _, err := parseKey(k); err != nil {
			ps.Add(fmt.Sprintf("%s[%d]", p("token_key"), i), "%v", err)
		}
	}
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
