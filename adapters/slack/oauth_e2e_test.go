package slack_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack"
	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// The public host of the bridge in these tests: the browser's transport
// sends its requests to the adapter's listener.
const (
	publicHost  = "bridge.example"
	redirectURL = "https://" + publicHost + "/slack/oauth_redirect"
	installURL  = "https://" + publicHost + "/slack/install"
	// testTokenKey is 32 bytes in base64.
	testTokenKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
)

// The fake Slack's workspaces: two on their own, two of a Grid org.
var (
	wsAlpha = slackfake.Workspace{TeamID: "TALPHA", TeamName: "Alpha"}
	wsBeta  = slackfake.Workspace{TeamID: "TBETA", TeamName: "Beta"}
	wsGrid1 = slackfake.Workspace{TeamID: "TGRID1", TeamName: "Grid One", EnterpriseID: "EGRID", EnterpriseName: "Grid Corp"}
	wsGrid2 = slackfake.Workspace{TeamID: "TGRID2", TeamName: "Grid Two", EnterpriseID: "EGRID", EnterpriseName: "Grid Corp"}
)

// counter counts installation events.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) InstallationEvent(platform, event string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[platform+" "+event]++
}

func (c *counter) get(event string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n["slack "+event]
}

// oauthRig is the whole bridge serving installed workspaces: the Slack
// adapter with slack.oauth, pointed at slackfake, a store, a fake Promptev
// with one agent per route, and a browser for the install pages.
type oauthRig struct {
	fake      *slackfake.Server
	api       *promptevtest.Server
	adapter   *slack.Adapter
	store     chat.InstallationBackend
	counter   *counter
	eventsURL string
	browser   *http.Client
	logs      *syncBuffer
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type oauthRigOptions struct {
	// store defaults to a MemStore.
	store chat.InstallationBackend
	// agents by id; routes send teams to them (the default route goes to
	// the first of defaultAgent).
	agents       map[string]promptevtest.Agent
	defaultAgent string
	routes       []bridge.Route
	wrap         func(bridge.Agent) bridge.Agent
}

func newOAuthRig(t *testing.T, o oauthRigOptions) *oauthRig {
	t.Helper()
	fake := slackfake.New(t)
	for _, ws := range []slackfake.Workspace{wsAlpha, wsBeta, wsGrid1, wsGrid2} {
		fake.AddWorkspace(ws)
	}
	api := promptevtest.NewServer(projectKey)
	t.Cleanup(api.Close)
	if len(o.agents) == 0 {
		o.agents = map[string]promptevtest.Agent{agentID: {}}
		o.defaultAgent = agentID
	}
	for id, ag := range o.agents {
		api.AddAgent(id, ag)
	}
	if o.store == nil {
		o.store = bridgetest.NewMemStore()
	}

	scfg := slack.DefaultConfig()
	scfg.Enabled = true
	scfg.Mode = slack.ModeHTTP
	scfg.SigningSecret = slackfake.SigningSecret
	scfg.APIURL = fake.APIURL()
	scfg.Listen = "127.0.0.1:0"
	scfg.OAuth = &slack.OAuthConfig{
		ClientID: slackfake.ClientID, ClientSecret: slackfake.ClientSecret,
		RedirectURL: redirectURL, TokenKey: slack.TokenKeys{testTokenKey}, AuthorizeURL: fake.AuthorizeURL(),
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
	adapter, err := slack.New(scfg, log)
	require.NoError(t, err)
	adapter.UseStore(o.store)
	cnt := &counter{}
	adapter.SetInstallationCounter(cnt)

	client, err := promptev.New(projectKey, promptev.WithBaseURL(api.URL))
	require.NoError(t, err)
	bcfg := bridge.DefaultConfig()
	bcfg.Routes.Default.Agent = o.defaultAgent
	bcfg.Routes.Channels = o.routes
	var ag bridge.Agent = bridge.ClientAgent(client)
	if o.wrap != nil {
		ag = o.wrap(ag)
	}
	b, err := bridge.New(bridge.Options{
		Config: bcfg, Agent: ag, Store: o.store, Platforms: []chat.Platform{adapter}, Logger: log,
	})
	require.NoError(t, err)

	bridgetest.Serve(t, b, adapter)
	select {
	case <-adapter.Listening():
	case <-time.After(10 * time.Second):
		t.Fatal("http listener did not start")
	}
	addr := adapter.HTTPAddr().String()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: publicHostTransport{addr: addr}}
	t.Cleanup(browser.CloseIdleConnections)
	return &oauthRig{fake: fake, api: api, adapter: adapter, store: o.store, counter: cnt,
		eventsURL: "http://" + addr + scfg.EventsPath, browser: browser, logs: logs}
}

// publicHostTransport sends the requests for the bridge's public host to
// the adapter's listener (plain HTTP on loopback), and the others as they are.
type publicHostTransport struct{ addr string }

func (p publicHostTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == publicHost {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host = "http", p.addr
	}
	return http.DefaultTransport.RoundTrip(r)
}

// page is an install page as the browser ends on it.
type page struct {
	status int
	body   string
}

// visit GETs u in the browser, following redirects, and returns the page.
func (r *oauthRig) visit(t *testing.T, u string) page {
	t.Helper()
	resp, err := r.browser.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return page{status: resp.StatusCode, body: string(b)}
}

// install installs the app through the flow as user in team (org-wide in
// its org with orgWide) and checks the success page.
func (r *oauthRig) install(t *testing.T, team string, orgWide bool) {
	t.Helper()
	r.fake.SetConsent(slackfake.Consent{Team: team, OrgWide: orgWide, User: "UADMIN"})
	p := r.visit(t, installURL)
	require.Equal(t, http.StatusOK, p.status, p.body)
	require.Contains(t, p.body, "Installed")
}

// mention posts a mention of the bot of team's installation and returns it.
func (r *oauthRig) mention(t *testing.T, team, channel, text string) slackfake.Event {
	t.Helper()
	ev := r.fake.MentionIn(team, channel, "U1", text)
	resp, err := r.fake.PostEvent(r.eventsURL, ev, slackfake.PostOptions{})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, resp.Body.Close())
	return ev
}

// post delivers a lifecycle event and checks its acknowledgement.
func (r *oauthRig) post(t *testing.T, ev slackfake.Event) {
	t.Helper()
	resp, err := r.fake.PostEvent(r.eventsURL, ev, slackfake.PostOptions{})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, resp.Body.Close())
}

func (r *oauthRig) threadShows(t *testing.T, channel, thread, text string) slackfake.Message {
	t.Helper()
	return (&rig{fake: r.fake}).threadShows(t, channel, thread, text)
}

func (r *oauthRig) installations(t *testing.T) []chat.Installation {
	t.Helper()
	list, err := r.store.ListInstallations(t.Context())
	require.NoError(t, err)
	return list
}

// Two workspaces install the app through the flow; each mention is answered
// by the agent its route names, with the workspace's own token.
func TestE2EOAuthTwoWorkspaces(t *testing.T) {
	r := newOAuthRig(t, oauthRigOptions{
		agents: map[string]promptevtest.Agent{
			"alpha-agent": {Script: []promptevtest.Event{{Type: promptevtest.TypeDone, Output: "Alpha answers: {{query}}"}}},
			"beta-agent":  {Script: []promptevtest.Event{{Type: promptevtest.TypeDone, Output: "Beta answers: {{query}}"}}},
		},
		defaultAgent: "alpha-agent",
		routes: []bridge.Route{
			{Platform: "slack", Workspace: wsBeta.TeamID, RouteTarget: bridge.RouteTarget{Agent: "beta-agent"}},
		},
	})
	r.install(t, wsAlpha.TeamID, false)
	r.install(t, wsBeta.TeamID, false)

	ins := r.installations(t)
	require.Len(t, ins, 2)
	for _, in := range ins {
		assert.Equal(t, "UADMIN", in.InstallerID)
		assert.NotEmpty(t, in.BotUserID)
		assert.Contains(t, in.Scopes, "chat:write")
		assert.Empty(t, in.Broken)
	}
	tokens := map[string]string{}
	for _, in := range r.fake.Installations() {
		tokens[in.TeamID] = in.BotToken
		for _, stored := range ins {
			assert.NotContains(t, stored.SealedToken, in.BotToken, "the store holds the token sealed")
		}
	}
	require.Len(t, tokens, 2)
	assert.NotEqual(t, tokens[wsAlpha.TeamID], tokens[wsBeta.TeamID])

	a := r.mention(t, wsAlpha.TeamID, "CALPHA", "hello from alpha")
	b := r.mention(t, wsBeta.TeamID, "CBETA", "hello from beta")
	r.threadShows(t, "CALPHA", a.TS, "Alpha answers: hello from alpha")
	r.threadShows(t, "CBETA", b.TS, "Beta answers: hello from beta")

	for _, c := range r.fake.Calls("chat.postMessage", "chat.update") {
		assert.Empty(t, c.Error, "%s in %s", c.Method, c.Channel)
		switch c.Channel {
		case "CALPHA":
			assert.Equal(t, wsAlpha.TeamID, c.Team, "alpha's calls use alpha's token")
		case "CBETA":
			assert.Equal(t, wsBeta.TeamID, c.Team, "beta's calls use beta's token")
		}
	}
	assert.Equal(t, 2, r.counter.get("installed"))
	assert.Len(t, r.fake.Calls("oauth.v2.access"), 2)
	for _, tok := range tokens {
		assert.NotContains(t, r.logs.String(), tok, "no token in the logs")
	}
}

// A Grid org installed org-wide: every workspace of the org is answered
// with the enterprise installation's token.
func TestE2EOAuthGridOrgWide(t *testing.T) {
	r := newOAuthRig(t, oauthRigOptions{})
	r.install(t, wsGrid1.TeamID, true)
	ins := r.installations(t)
	require.Len(t, ins, 1)
	assert.True(t, ins[0].OrgWide)
	assert.Equal(t, "EGRID", ins[0].EnterpriseID)
	assert.Empty(t, ins[0].TeamID)
	assert.Equal(t, chat.InstallationID("slack", "EGRID", ""), ins[0].ID())

	one := r.mention(t, wsGrid1.TeamID, "CG1", "from grid one")
	two := r.mention(t, wsGrid2.TeamID, "CG2", "from grid two")
	r.threadShows(t, "CG1", one.TS, "You said: from grid one")
	r.threadShows(t, "CG2", two.TS, "You said: from grid two")
	for _, c := range r.fake.Calls("chat.postMessage", "chat.update") {
		assert.Equal(t, "EGRID", c.Team, "%s in %s uses the org's token", c.Method, c.Channel)
		assert.Empty(t, c.Error)
	}

	// A workspace of another org, not installed, is not answered.
	r.mention(t, wsAlpha.TeamID, "CALPHA", "anyone?")
	r.mention(t, wsAlpha.TeamID, "CALPHA", "anyone at all?")
	assert.Eventually(t, func() bool { return r.counter.get("unknown_team") == 1 }, 10*time.Second, 10*time.Millisecond,
		"a workspace without an installation is counted (and logged) once")
	assert.Empty(t, r.fake.Messages("CALPHA"))
	assert.Equal(t, 1, strings.Count(r.logs.String(), "slack event from a workspace without an installation"))

	// The org removes the app: the org's installation goes, and its
	// workspaces are no longer answered.
	r.post(t, r.fake.AppUninstalled("EGRID"))
	assert.Eventually(t, func() bool { return r.counter.get("uninstalled") == 1 }, 10*time.Second, 10*time.Millisecond)
	assert.Empty(t, r.installations(t))
	before := len(r.fake.Calls())
	r.mention(t, wsGrid2.TeamID, "CG2", "hello?")
	assert.Eventually(t, func() bool { return r.counter.get("unknown_team") == 2 }, 10*time.Second, 10*time.Millisecond)
	assert.Len(t, r.fake.Calls(), before, "no call for the org any more")
}

// The app is uninstalled while a run streams: the installation is deleted
// and the run ends with no further call to Slack.
func TestE2EOAuthUninstallMidRun(t *testing.T) {
	release := make(chan struct{})
	r := newOAuthRig(t, oauthRigOptions{
		agents: map[string]promptevtest.Agent{agentID: {Script: []promptevtest.Event{
			{Type: promptevtest.TypeProcessing, Output: "Reading the wiki..."},
			{Type: promptevtest.TypeDone, Output: "Here is the answer."},
		}}},
		defaultAgent: agentID,
		wrap: func(a bridge.Agent) bridge.Agent {
			return gatedAgent{Agent: a, wait: func(ctx context.Context) {
				select {
				case <-release:
				case <-ctx.Done():
				}
			}}
		},
	})
	releaseAll := sync.OnceFunc(func() { close(release) })
	defer releaseAll()
	r.install(t, wsAlpha.TeamID, false)
	r.install(t, wsBeta.TeamID, false)
	ev := r.mention(t, wsAlpha.TeamID, "CALPHA", "long question")
	r.fake.Await(t, "the live status", func() bool {
		for _, c := range r.fake.Calls("chat.update") {
			if c.Channel == "CALPHA" && strings.Contains(string(c.Blocks), "Reading the wiki") {
				return true
			}
		}
		return false
	})
	before := len(r.fake.Calls())

	r.post(t, r.fake.AppUninstalled(wsAlpha.TeamID))
	runs, err := r.store.ListRuns(t.Context())
	require.NoError(t, err)
	require.Len(t, runs, 1)
	assert.Eventually(t, func() bool {
		rec, err := r.store.GetRunRecord(t.Context(), runs[0].RunID)
		return err == nil && rec.State == chat.RunStopped
	}, 10*time.Second, 10*time.Millisecond, "the run was stopped")
	assert.Eventually(t, func() bool { return strings.Contains(r.logs.String(), "outcome=stopped") },
		10*time.Second, 10*time.Millisecond, "the run ended")
	for _, c := range r.fake.Calls()[before:] {
		t.Errorf("a call after the uninstall: %s in %s (team %q, error %q)", c.Method, c.Channel, c.Team, c.Error)
	}
	ins := r.installations(t)
	require.Len(t, ins, 1, "alpha's installation is gone, beta's stays")
	assert.Equal(t, wsBeta.TeamID, ins[0].TeamID)
	assert.Equal(t, 1, r.counter.get("uninstalled"))
	placeholder := r.fake.Thread("CALPHA", ev.TS)
	require.Len(t, placeholder, 1)
	assert.NotContains(t, placeholder[0].BlockText(), "Here is the answer")

	// Beta goes on.
	releaseAll()
	b := r.mention(t, wsBeta.TeamID, "CBETA", "still there?")
	r.threadShows(t, "CBETA", b.TS, "Here is the answer.")
}

// tokens_revoked for the bot ends the installation like an uninstall.
func TestE2EOAuthTokensRevoked(t *testing.T) {
	r := newOAuthRig(t, oauthRigOptions{})
	r.install(t, wsAlpha.TeamID, false)
	r.post(t, r.fake.TokensRevoked(wsAlpha.TeamID))
	assert.Eventually(t, func() bool { return r.counter.get("revoked") == 1 }, 10*time.Second, 10*time.Millisecond)
	assert.Empty(t, r.installations(t))
	before := len(r.fake.Calls())
	r.mention(t, wsAlpha.TeamID, "CALPHA", "hello?")
	assert.Eventually(t, func() bool { return r.counter.get("unknown_team") == 1 }, 10*time.Second, 10*time.Millisecond)
	assert.Len(t, r.fake.Calls(), before, "no call for a revoked workspace")
}

// A token Slack refuses marks its installation broken (stored, counted,
// reported) and the other workspace goes on.
func TestE2EOAuthRevokedTokenMarksBroken(t *testing.T) {
	for _, code := range []string{"invalid_auth", "account_inactive"} {
		t.Run(code, func(t *testing.T) {
			r := newOAuthRig(t, oauthRigOptions{})
			r.install(t, wsAlpha.TeamID, false)
			r.install(t, wsBeta.TeamID, false)
			r.fake.Revoke(wsAlpha.TeamID, code)

			r.mention(t, wsAlpha.TeamID, "CALPHA", "are you there?")
			assert.Eventually(t, func() bool { return r.counter.get("broken") == 1 }, 10*time.Second, 10*time.Millisecond)
			broken := r.adapter.BrokenInstallations()
			require.Len(t, broken, 1)
			assert.Equal(t, wsAlpha.TeamID, broken[0].Team)
			assert.Equal(t, code, broken[0].Reason)
			in, err := r.store.GetInstallation(t.Context(), chat.InstallationID("slack", "", wsAlpha.TeamID))
			require.NoError(t, err)
			assert.Equal(t, code, in.Broken)
			assert.Contains(t, r.logs.String(), "slack installation broken")

			// Beta is answered; alpha's next mention reaches Slack no more.
			b := r.mention(t, wsBeta.TeamID, "CBETA", "and you?")
			r.threadShows(t, "CBETA", b.TS, "You said: and you?")
			refused := 0
			for _, c := range r.fake.Calls() {
				if c.Error == code {
					refused++
				}
			}
			r.mention(t, wsAlpha.TeamID, "CALPHA", "again?")
			b2 := r.mention(t, wsBeta.TeamID, "CBETA", "once more")
			r.threadShows(t, "CBETA", b2.TS, "You said: once more")
			after := 0
			for _, c := range r.fake.Calls() {
				if c.Error == code {
					after++
				}
			}
			assert.Equal(t, refused, after, "a broken installation's calls are refused before Slack")
			assert.Equal(t, 1, r.counter.get("broken"))

			// Installing again mends it.
			r.install(t, wsAlpha.TeamID, false)
			assert.Empty(t, r.adapter.BrokenInstallations())
			a := r.mention(t, wsAlpha.TeamID, "CALPHA", "back?")
			r.threadShows(t, "CALPHA", a.TS, "You said: back?")
		})
	}
}

// Installs that fail: each gets a clear page and stores nothing.
func TestE2EOAuthRefusedInstalls(t *testing.T) {
	r := newOAuthRig(t, oauthRigOptions{})
	noRedirect := *r.browser
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	// startInstall follows the install page to Slack's authorize page and
	// returns the URL Slack sends the browser back to.
	startInstall := func(t *testing.T) *url.URL {
		t.Helper()
		r.fake.SetConsent(slackfake.Consent{Team: wsAlpha.TeamID, User: "UADMIN"})
		resp, err := noRedirect.Get(installURL)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusFound, resp.StatusCode)
		authorize := resp.Header.Get("Location")
		require.True(t, strings.HasPrefix(authorize, r.fake.AuthorizeURL()+"?"), authorize)
		q := must(url.Parse(authorize)).Query()
		assert.Equal(t, slackfake.ClientID, q.Get("client_id"))
		assert.Equal(t, redirectURL, q.Get("redirect_uri"))
		assert.Contains(t, strings.Split(q.Get("scope"), ","), "chat:write")
		resp, err = noRedirect.Get(authorize)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusFound, resp.StatusCode)
		return must(url.Parse(resp.Header.Get("Location")))
	}
	withState := func(u *url.URL, state string) string {
		q := u.Query()
		q.Set("state", state)
		v := *u
		v.RawQuery = q.Encode()
		return v.String()
	}

	t.Run("TamperedState", func(t *testing.T) {
		back := startInstall(t)
		state := back.Query().Get("state")
		tampered := state[:3] + string("AB"[strings.IndexByte("AB", state[3])+1&1]) + state[4:]
		if tampered == state {
			tampered = "A" + state[1:]
		}
		p := r.visit(t, withState(back, tampered))
		assert.Equal(t, http.StatusBadRequest, p.status)
		assert.Contains(t, p.body, "altered")
	})
	t.Run("ReplayedState", func(t *testing.T) {
		back := startInstall(t)
		p := r.visit(t, back.String())
		require.Equal(t, http.StatusOK, p.status, p.body)
		require.NoError(t, r.store.DeleteInstallation(t.Context(), chat.InstallationID("slack", "", wsAlpha.TeamID)))
		exchanges := len(r.fake.Calls("oauth.v2.access"))
		p = r.visit(t, back.String())
		assert.Equal(t, http.StatusBadRequest, p.status)
		assert.Contains(t, p.body, "already used")
		assert.Len(t, r.fake.Calls("oauth.v2.access"), exchanges, "a replayed state never reaches oauth.v2.access")
	})
	t.Run("OtherBrowser", func(t *testing.T) {
		back := startInstall(t)
		other := &http.Client{Transport: r.browser.Transport, Timeout: 10 * time.Second}
		resp, err := other.Get(back.String())
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.Contains(t, string(body), "another browser")
	})
	t.Run("Denied", func(t *testing.T) {
		r.fake.SetConsent(slackfake.Consent{Team: wsAlpha.TeamID, Deny: true})
		p := r.visit(t, installURL)
		assert.Equal(t, http.StatusForbidden, p.status)
		assert.Contains(t, p.body, "cancelled")
	})
	t.Run("OAuthError", func(t *testing.T) {
		r.fake.FailAuth("oauth.v2.access", "invalid_code")
		defer r.fake.FailAuth("oauth.v2.access", "")
		r.fake.SetConsent(slackfake.Consent{Team: wsAlpha.TeamID, User: "UADMIN"})
		p := r.visit(t, installURL)
		assert.Equal(t, http.StatusBadGateway, p.status)
		assert.Contains(t, p.body, "invalid_code")
	})
	t.Run("NoState", func(t *testing.T) {
		p := r.visit(t, redirectURL+"?code=whatever")
		assert.Equal(t, http.StatusBadRequest, p.status)
	})
	assert.Empty(t, r.installations(t), "nothing stored by a refused install")
	assert.Equal(t, 1, r.counter.get("installed"), "only the replay test's first visit installed")
	assert.Equal(t, 6, r.counter.get("install_failed"))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
