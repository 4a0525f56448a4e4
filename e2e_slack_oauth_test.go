package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// TestEndToEndSlackOAuth boots the daemon from a config with slack.oauth:
// two workspaces install the app through the install page and are answered
// with their own tokens; a token Slack refuses shows in /readyz (still
// ready) and /metrics; the installs command lists and removes the
// installations of the stopped bridge's store, never printing a token.
func TestEndToEndSlackOAuth(t *testing.T) {
	const key = "pk-e2e-oauth-secret"
	api := promptevtest.NewServer(key)
	t.Cleanup(api.Close)
	api.AddAgent("ops-agent", promptevtest.Agent{})
	fake := slackfake.New(t)
	fake.AddWorkspace(slackfake.Workspace{TeamID: "TALPHA", TeamName: "Alpha"})
	fake.AddWorkspace(slackfake.Workspace{TeamID: "TBETA", TeamName: "Beta"})
	db := filepath.Join(t.TempDir(), "bridge.db")
	t.Setenv("PB_E2E_KEY", key)
	t.Setenv("PB_SLACK_CLIENT_SECRET", slackfake.ClientSecret)
	t.Setenv("PB_SLACK_SIGNING", slackfake.SigningSecret)
	t.Setenv("PB_SLACK_TOKEN_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	cfgPath := writeFile(t, "config.yaml", fmt.Sprintf(`
promptev: {project_key: '${PB_E2E_KEY}', base_url: '%s'}
routes: {default: {agent: ops-agent}}
store: {path: '%s'}
slack:
  enabled: true
  mode: http
  listen: 127.0.0.1:0
  signing_secret: ${PB_SLACK_SIGNING}
  api_url: %s
  oauth:
    client_id: '%s'
    client_secret: ${PB_SLACK_CLIENT_SECRET}
    redirect_url: https://bridge.example/slack/oauth_redirect
    token_key: ${PB_SLACK_TOKEN_KEY}
    authorize_url: %s
http: {listen: '127.0.0.1:0'}
log: {level: debug}
`, api.URL, db, fake.APIURL(), slackfake.ClientID, fake.AuthorizeURL()))

	p := startProgram(t, strings.NewReader(""), "run", "--config", cfgPath)
	side := "http://" + (<-p.sidePort).String()
	var slackAddr string
	listening := regexp.MustCompile(`slack http mode listening.* addr=(127\.0\.0\.1:\d+)`)
	p.stderr.waitUntil(t, "the slack listener", func(s string) bool {
		m := listening.FindStringSubmatch(s)
		if m != nil {
			slackAddr = m[1]
		}
		return m != nil
	})

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: rewriteHost{host: "bridge.example", addr: slackAddr}}
	defer browser.CloseIdleConnections()
	for _, team := range []string{"TALPHA", "TBETA"} {
		fake.SetConsent(slackfake.Consent{Team: team, User: "UADMIN"})
		resp, err := browser.Get("https://bridge.example/slack/install")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	}

	events := "http://" + slackAddr + "/slack/events"
	ask := func(team, channel, text string) slackfake.Event {
		ev := fake.MentionIn(team, channel, "U1", text)
		resp, err := fake.PostEvent(events, ev, slackfake.PostOptions{})
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusOK, resp.StatusCode)
		return ev
	}
	answered := func(channel, ts, text string) {
		fake.Await(t, text, func() bool {
			for _, m := range fake.Thread(channel, ts) {
				if strings.Contains(m.BlockText(), text) {
					return true
				}
			}
			return false
		})
	}
	a := ask("TALPHA", "CA", "alpha here")
	b := ask("TBETA", "CB", "beta here")
	answered("CA", a.TS, "You said: alpha here")
	answered("CB", b.TS, "You said: beta here")

	fake.Revoke("TALPHA", "account_inactive")
	ask("TALPHA", "CA", "still there?")
	p.stderr.waitFor(t, "slack installation broken")
	ready := get(t, side+"/readyz")
	assert.Equal(t, http.StatusOK, ready.status, "one broken workspace does not make the bridge unready")
	assert.Contains(t, ready.body, "slack: ok (1 installation(s) broken, reinstall needed: TALPHA account_inactive")
	metrics := get(t, side+"/metrics").body
	assert.Contains(t, metrics, `promptev_bridge_installation_broken{error="account_inactive",platform="slack",team="TALPHA"} 1`)
	assert.Contains(t, metrics, `promptev_bridge_installation_events_total{event="installed",platform="slack"} 2`)
	assert.Contains(t, metrics, `promptev_bridge_installation_events_total{event="broken",platform="slack"} 1`)
	stats := get(t, side+"/debug/store").body
	assert.Contains(t, stats, "installations:")
	assert.Contains(t, stats, "2 (1 broken)")

	b2 := ask("TBETA", "CB", "and now?")
	answered("CB", b2.TS, "You said: and now?")

	p.cancel()
	require.Equal(t, exitOK, p.wait(t))

	code, stdout, stderr := runProgram(t, "", "installs", "list", "--config", cfgPath)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "slack//TALPHA")
	assert.Contains(t, stdout, "Alpha (TALPHA)")
	assert.Contains(t, stdout, "broken: account_inactive")
	assert.Contains(t, stdout, "slack//TBETA")
	assert.Contains(t, stdout, "UADMIN")
	for _, in := range fake.Installations() {
		assert.NotContains(t, stdout, in.BotToken)
		assert.NotContains(t, p.stderr.String(), in.BotToken, "no token in the logs")
	}

	code, stdout, stderr = runProgram(t, "", "installs", "remove", "--db", db, "--id", "slack//TALPHA")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "removed: slack//TALPHA")
	code, stdout, _ = runProgram(t, "", "installs", "list", "--db", db)
	require.Equal(t, exitOK, code)
	assert.NotContains(t, stdout, "TALPHA")
	assert.Contains(t, stdout, "slack//TBETA")
	code, _, stderr = runProgram(t, "", "installs", "remove", "--db", db, "--id", "slack//TALPHA")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr, "no installation slack//TALPHA")
}

// The installs command's usage and its refusals.
func TestInstallsUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"installs"}, exitUsage, "Usage: promptev-bridge installs list"},
		{[]string{"installs", "list"}, exitUsage, "give --db FILE (a bbolt store file) or --config FILE"},
		{[]string{"installs", "remove", "--db", "x.db"}, exitUsage, "--id ID is required"},
	}
	for _, tt := range tests {
		code, stdout, stderr := runProgram(t, "", tt.args...)
		assert.Equal(t, tt.code, code, tt.args)
		assert.Contains(t, stdout+stderr, tt.want, tt.args)
	}
	empty := filepath.Join(t.TempDir(), "empty.db")
	code, _, _ := runProgram(t, "", "installs", "remove", "--db", empty, "--id", "slack//T1")
	assert.Equal(t, exitFailure, code)
	code, stdout, stderr := runProgram(t, "", "installs", "list", "--db", empty)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "no installations")
}

// rewriteHost sends the requests for host to addr over plain HTTP: the
// bridge's public HTTPS host, in a test.
type rewriteHost struct{ host, addr string }

func (r rewriteHost) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == r.host {
		req = req.Clone(req.Context())
		req.URL.Scheme, req.URL.Host = "http", r.addr
	}
	return http.DefaultTransport.RoundTrip(req)
}

type fetched struct {
	status int
	body   string
}

func get(t *testing.T, u string) fetched {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return fetched{resp.StatusCode, string(b)}
}
