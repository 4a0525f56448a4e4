package slack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"gopkg.in/yaml.v3"
)

// Two keys of slack.oauth.token_key (32 bytes each, base64).
const (
	keyOld = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	keyNew = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
)

func oauthConfig() Config {
	c := DefaultConfig()
	c.Enabled = true
	c.Mode = ModeHTTP
	c.SigningSecret = "s3cr3t-signing"
	c.OAuth = &OAuthConfig{
		ClientID: "123.456", ClientSecret: "client-s3cret-value",
		RedirectURL: "https://bridge.example.com/slack/oauth_redirect", TokenKey: TokenKeys{keyNew},
	}
	return c
}

func TestOAuthConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		paths []string
	}{
		{"valid", func(*Config) {}, nil},
		{"with a bot token too", func(c *Config) { c.BotToken = "xoxb-secret-bot-value" }, []string{"slack.oauth"}},
		{"socket mode", func(c *Config) { c.Mode = ModeSocket; c.AppToken = "xapp-secret-app-value" }, []string{"slack.oauth"}},
		{"no client id", func(c *Config) { c.OAuth.ClientID = "" }, []string{"slack.oauth.client_id"}},
		{"no client secret", func(c *Config) { c.OAuth.ClientSecret = "" }, []string{"slack.oauth.client_secret"}},
		{"no redirect url", func(c *Config) { c.OAuth.RedirectURL = "" }, []string{"slack.oauth.redirect_url"}},
		{"plain http redirect", func(c *Config) { c.OAuth.RedirectURL = "http://bridge.example.com/cb" }, []string{"slack.oauth.redirect_url"}},
		{"plain http on localhost", func(c *Config) { c.OAuth.RedirectURL = "http://localhost:3000/cb" }, nil},
		{"redirect on the events path", func(c *Config) { c.OAuth.RedirectURL = "https://b.example.com/slack/events" }, []string{"slack.oauth.redirect_url"}},
		{"install on the events path", func(c *Config) { c.OAuth.InstallPath = "/slack/events" }, []string{"slack.oauth.install_path"}},
		{"install path without slash", func(c *Config) { c.OAuth.InstallPath = "install" }, []string{"slack.oauth.install_path"}},
		{"no token key", func(c *Config) { c.OAuth.TokenKey = nil }, []string{"slack.oauth.token_key"}},
		{"short token key", func(c *Config) { c.OAuth.TokenKey = TokenKeys{keyNew, "c2hvcnQtc2VjcmV0LWtleQ=="} }, []string{"slack.oauth.token_key[1]"}},
		{"token key not base64", func(c *Config) { c.OAuth.TokenKey = TokenKeys{"not base64 at all!"} }, []string{"slack.oauth.token_key[0]"}},
		{"bad scope", func(c *Config) { c.OAuth.Scopes = []string{"chat:write,im:history"} }, []string{"slack.oauth.scopes[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := oauthConfig()
			tt.edit(&c)
			ps := c.Validate("slack")
			var paths []string
			for _, p := range ps {
				paths = append(paths, p.Path)
				for _, secret := range append([]string{c.BotToken, c.OAuth.ClientSecret, "c2hvcnQtc2VjcmV0LWtleQ=="}, c.OAuth.TokenKey...) {
					if secret != "" {
						assert.NotContains(t, p.Error(), secret, "secrets are never echoed")
					}
				}
			}
			assert.ElementsMatch(t, tt.paths, paths)
			for _, p := range ps {
				if tt.name == "with a bot token too" {
					assert.Contains(t, p.Message, "slack.bot_token", "the problem names both settings")
				}
				if tt.name == "socket mode" {
					assert.Contains(t, p.Message, "slack.mode: http")
				}
			}
		})
	}
}

func TestTokenKeysYAML(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"token_key: a", "a"},
		{"token_key: a,b", "a b"},
		{"token_key: 'a, b'", "a b"},
		{"token_key: [a, b]", "a b"},
	} {
		var v struct {
			TokenKey TokenKeys `yaml:"token_key"`
		}
		require.NoError(t, yaml.Unmarshal([]byte(tc.doc), &v), tc.doc)
		assert.Equal(t, tc.want, strings.Join(v.TokenKey, " "), tc.doc)
	}
}

func TestSealer(t *testing.T) {
	old, err := newSealer([]string{keyOld})
	require.NoError(t, err)
	rotated, err := newSealer([]string{keyNew, keyOld})
	require.NoError(t, err)
	onlyNew, err := newSealer([]string{keyNew})
	require.NoError(t, err)

	const token = "xoxb-1234-5678-secretvalue"
	sealed, err := old.seal(token, "slack//T1")
	require.NoError(t, err)
	assert.NotContains(t, sealed, token)
	again, err := old.seal(token, "slack//T1")
	require.NoError(t, err)
	assert.NotEqual(t, sealed, again, "a fresh nonce each time")

	got, err := rotated.open(sealed, "slack//T1")
	require.NoError(t, err, "an old key still opens")
	assert.Equal(t, token, got)
	assert.False(t, rotated.current(sealed))
	assert.True(t, old.current(sealed))

	_, err = onlyNew.open(sealed, "slack//T1")
	require.ErrorIs(t, err, errUnknownKey)
	_, err = old.open(sealed, "slack//T2")
	require.Error(t, err, "bound to its installation")
	tampered := sealed[:len(sealed)-2] + "AA"
	if tampered == sealed {
		tampered = sealed[:len(sealed)-2] + "BB"
	}
	_, err = old.open(tampered, "slack//T1")
	require.Error(t, err)
	_, err = old.open("xoxb-plain", "slack//T1")
	require.Error(t, err)
	for _, e := range []error{err} {
		assert.NotContains(t, e.Error(), token)
	}
}

func TestStates(t *testing.T) {
	s := newStates("client-secret")
	other := newStates("another-secret")
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	store := bridgetest.NewMemStore()
	mint := func() string {
		st, err := s.mint(now)
		require.NoError(t, err)
		return st
	}
	good := mint()
	flip := func(st string, i int) string {
		b := []byte(st)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	foreign, err := other.mint(now)
	require.NoError(t, err)
	tests := []struct {
		name  string
		state string
		at    time.Time
		want  error
	}{
		{"fresh", good, now.Add(time.Minute), nil},
		{"replayed", good, now.Add(2 * time.Minute), errStateReplayed},
		{"payload altered", flip(mint(), 2), now, errStateInvalid},
		{"signature altered", func() string { st := mint(); return flip(st, len(st)-3) }(), now, errStateInvalid},
		{"another deployment's", foreign, now, errStateInvalid},
		{"garbage", "not-a-state", now, errStateInvalid},
		{"empty", "", now, errStateInvalid},
		{"expired", mint(), now.Add(stateTTL), errStateExpired},
		{"just in time", mint(), now.Add(stateTTL - time.Second), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.check(context.Background(), store, tt.state, tt.at)
			if tt.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
	// The ledger is the store's: another replica (another states value
	// with the same secret) refuses a state this one accepted.
	st := mint()
	require.NoError(t, s.check(context.Background(), store, st, now))
	assert.ErrorIs(t, newStates("client-secret").check(context.Background(), store, st, now), errStateReplayed)
}

// A new key first in slack.oauth.token_key: the next start seals every
// token again with it, after which the old key can go.
func TestTokenKeyRotation(t *testing.T) {
	store := bridgetest.NewMemStore()
	newOAuthAdapter := func(keys ...string) *Adapter {
		c := oauthConfig()
		c.OAuth.TokenKey = keys
		a, err := New(c, nil)
		require.NoError(t, err)
		a.UseStore(store)
		return a
	}
	first := newOAuthAdapter(keyOld)
	in := chat.Installation{Platform: Name, TeamID: "T1", BotUserID: "UB1", Installed: time.Now()}
	var err error
	in.SealedToken, err = first.sealer.seal("xoxb-rotating-token", in.ID())
	require.NoError(t, err)
	require.NoError(t, store.PutInstallation(t.Context(), in))

	rotated := newOAuthAdapter(keyNew, keyOld)
	require.NoError(t, rotated.startInstalls(t.Context()))
	got, err := store.GetInstallation(t.Context(), in.ID())
	require.NoError(t, err)
	assert.NotEqual(t, in.SealedToken, got.SealedToken, "sealed again")
	assert.True(t, rotated.sealer.current(got.SealedToken))

	last := newOAuthAdapter(keyNew)
	require.NoError(t, last.startInstalls(t.Context()))
	tn, err := last.tenantFor(t.Context(), "T1", "")
	require.NoError(t, err, "the old key is no longer needed")
	assert.Equal(t, "UB1", tn.self.UserID)
	tok, err := last.sealer.open(tn.inst.SealedToken, in.ID())
	require.NoError(t, err)
	assert.Equal(t, "xoxb-rotating-token", tok)
}

// Calls for a team without an installation are refused before Slack.
func TestWebAPIRefusesUnknownTeam(t *testing.T) {
	c := oauthConfig()
	c.APIURL = "http://127.0.0.1:1/api/" // nothing listens: a call that got out would fail otherwise
	a, err := New(c, nil)
	require.NoError(t, err)
	a.UseStore(bridgetest.NewMemStore())
	_, err = a.Post(t.Context(), key("TNONE", "C1", ""), chat.Message{Body: "hi"})
	require.ErrorIs(t, err, ErrNotInstalled)
}

// Which installation serves a team: its own, else its org's org-wide one,
// once the org is known (from an event or a click); never another org's.
func TestTenantResolution(t *testing.T) {
	store := bridgetest.NewMemStore()
	a, err := New(oauthConfig(), nil)
	require.NoError(t, err)
	a.UseStore(store)
	put := func(in chat.Installation) {
		in.Platform, in.Installed = Name, time.Now()
		in.SealedToken, err = a.sealer.seal("xoxb-"+in.ID(), in.ID())
		require.NoError(t, err)
		require.NoError(t, store.PutInstallation(t.Context(), in))
	}
	put(chat.Installation{EnterpriseID: "E1", OrgWide: true, BotUserID: "UORG"})
	put(chat.Installation{EnterpriseID: "E1", TeamID: "T1OWN", BotUserID: "UOWN"})
	put(chat.Installation{TeamID: "TSOLO", BotUserID: "USOLO"})
	require.NoError(t, a.startInstalls(t.Context()))

	bot := func(team, enterprise string) string {
		tn, err := a.tenantFor(t.Context(), team, enterprise)
		if err != nil {
			require.ErrorIs(t, err, ErrNotInstalled)
			return ""
		}
		return tn.self.UserID
	}
	assert.Equal(t, "USOLO", bot("TSOLO", ""))
	assert.Equal(t, "UOWN", bot("T1OWN", "E1"), "a workspace's own install comes first")
	assert.Equal(t, "", bot("T1OTHER", ""), "the org is not known yet")
	assert.Equal(t, "UORG", bot("T1OTHER", "E1"), "an event or a click names the org")
	assert.Equal(t, "UORG", bot("T1OTHER", ""), "and it is remembered")
	assert.Equal(t, "", bot("T2", "E2"), "another org's workspace is not served")
	assert.Equal(t, "", bot("TNONE", ""))
}

// The install page sets the state cookie for the redirect path only
// (HttpOnly, Secure for an https redirect URL, SameSite=Lax) and a state
// older than 10 minutes gets the "expired" page and stores nothing.
func TestInstallPagesExpiredState(t *testing.T) {
	store := bridgetest.NewMemStore()
	a, err := New(oauthConfig(), nil)
	require.NoError(t, err)
	a.UseStore(store)
	start := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return start }
	h := a.httpHandler(t.Context(), nil)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/slack/install", nil))
	require.Equal(t, http.StatusFound, rec.Code)
	loc, err := url.Parse(rec.Header().Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, "https://slack.com/oauth/v2/authorize", loc.Scheme+"://"+loc.Host+loc.Path)
	state := loc.Query().Get("state")
	cookies := rec.Result().Cookies()
	require.Len(t, cookies, 1)
	c := cookies[0]
	assert.Equal(t, state, c.Value)
	assert.Equal(t, "/slack/oauth_redirect", c.Path)
	assert.True(t, c.HttpOnly)
	assert.True(t, c.Secure)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)

	a.now = func() time.Time { return start.Add(stateTTL + time.Second) }
	req := httptest.NewRequest(http.MethodGet, "/slack/oauth_redirect?code=c1&state="+url.QueryEscape(state), nil)
	req.AddCookie(c)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), "expired")
	list, err := store.ListInstallations(t.Context())
	require.NoError(t, err)
	assert.Empty(t, list)
}
