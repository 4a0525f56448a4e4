package slackfake

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Credentials of the fake app for the OAuth v2 install flow.
const (
	ClientID     = "1111111111.2222222222"
	ClientSecret = "fake-client-secret"
)

// codeTTL is how long an authorization code can be exchanged (Slack: 10 minutes).
const codeTTL = 10 * time.Minute

// Workspace is a workspace the fake's app can be installed in, alone or as
// part of an Enterprise Grid org (EnterpriseID set).
type Workspace struct {
	TeamID, TeamName             string
	EnterpriseID, EnterpriseName string
}

// Installed is an installation made through the fake's OAuth flow: a
// workspace, or a whole org (OrgWide), with its own bot token and bot user.
type Installed struct {
	Workspace
	OrgWide   bool
	BotToken  string
	BotUserID string
	Installer string
	// Revoked, when not empty, is the error code every call with the token
	// answers ("account_inactive" after an uninstall, "invalid_auth",
	// "token_revoked").
	Revoked string
}

// Consent is how the installer answers Slack's authorize page: install in
// workspace Team (org-wide in its org with OrgWide) as User, or Deny.
type Consent struct {
	Team    string
	OrgWide bool
	User    string
	Deny    bool
}

type authCode struct {
	consent     Consent
	redirectURI string
	scope       string
	expires     time.Time
}

// oauthState is the fake's OAuth state: workspaces, the installer's next
// answer, codes not yet exchanged and installations by bot token.
type oauthState struct {
	workspaces map[string]Workspace
	consent    Consent
	codes      map[string]authCode
	installs   map[string]*Installed // by bot token
}

// AddWorkspace declares a workspace the app can be installed in.
func (s *Server) AddWorkspace(ws Workspace) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.workspaces[ws.TeamID] = ws
}

// SetConsent sets how the next visits to the authorize page are answered.
func (s *Server) SetConsent(c Consent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.consent = c
}

// AuthorizeURL is the fake's authorize page, for slack.oauth.authorize_url.
func (s *Server) AuthorizeURL() string { return s.srv.URL + "/oauth/v2/authorize" }

// authorize serves GET /oauth/v2/authorize?client_id&scope&redirect_uri&state
// as Slack's page does once the installer has chosen: a redirect to
// redirect_uri with code and state, or with error=access_denied and state.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case q.Get("client_id") != ClientID:
		http.Error(w, "invalid_client_id", http.StatusBadRequest)
		return
	case q.Get("scope") == "" && q.Get("user_scope") == "":
		http.Error(w, "invalid_scope: no scope requested", http.StatusBadRequest)
		return
	case err != nil || redirect.Host == "":
		http.Error(w, "bad_redirect_uri", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	c := s.oauth.consent
	ws, known := s.oauth.workspaces[c.Team]
	back := redirect.Query()
	back.Set("state", q.Get("state"))
	switch {
	case c.Deny:
		back.Set("error", "access_denied")
	case !known || (c.OrgWide && ws.EnterpriseID == ""):
		s.mu.Unlock()
		http.Error(w, "slackfake: the consent names no workspace (AddWorkspace, SetConsent)", http.StatusBadRequest)
		return
	default:
		code := s.nextIDLocked("code-")
		s.oauth.codes[code] = authCode{consent: c, redirectURI: q.Get("redirect_uri"), scope: q.Get("scope"), expires: time.Now().Add(codeTTL)}
		back.Set("code", code)
	}
	s.notifyLocked()
	s.mu.Unlock()
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// oauthAccess serves oauth.v2.access: the code of an approved consent is
// exchanged once, within 10 minutes, for a new bot token, answered in
// Slack's documented shape (team null and is_enterprise_install true for
// an org-wide install).
func (s *Server) oauthAccess(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	f := r.PostForm
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = f.Get("client_id"), f.Get("client_secret")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notifyLocked()
	c := Call{Method: "oauth.v2.access", At: time.Now()}
	code, ok := s.oauth.codes[f.Get("code")]
	errCode := ""
	switch {
	case id != ClientID:
		errCode = "invalid_client_id"
	case secret != ClientSecret:
		errCode = "bad_client_secret"
	case !ok || time.Now().After(code.expires):
		errCode = "invalid_code"
	case f.Get("redirect_uri") != code.redirectURI:
		errCode = "bad_redirect_uri"
	}
	if s.authErr["oauth.v2.access"] != "" {
		errCode = s.authErr["oauth.v2.access"]
	}
	delete(s.oauth.codes, f.Get("code")) // single use, even when refused
	if errCode != "" {
		c.Error = errCode
		s.calls = append(s.calls, c)
		writeJSON(w, map[string]any{"ok": false, "error": errCode})
		return
	}
	ws := s.oauth.workspaces[code.consent.Team]
	in := &Installed{Workspace: ws, OrgWide: code.consent.OrgWide, Installer: code.consent.User}
	owner := ws.TeamID
	if in.OrgWide {
		owner = ws.EnterpriseID
	}
	s.seq++
	in.BotToken = fmt.Sprintf("xoxb-%s-%06d-fake", strings.ToLower(owner), s.seq)
	in.BotUserID = "UB" + owner
	s.oauth.installs[in.BotToken] = in
	c.Team = owner
	s.calls = append(s.calls, c)

	var team, enterprise any
	if !in.OrgWide {
		team = map[string]any{"id": ws.TeamID, "name": ws.TeamName}
	}
	if ws.EnterpriseID != "" {
		enterprise = map[string]any{"id": ws.EnterpriseID, "name": ws.EnterpriseName}
	}
	writeJSON(w, map[string]any{
		"ok": true, "access_token": in.BotToken, "token_type": "bot", "scope": code.scope,
		"bot_user_id": in.BotUserID, "app_id": AppID, "team": team, "enterprise": enterprise,
		"is_enterprise_install": in.OrgWide,
		"authed_user":           map[string]any{"id": code.consent.User},
	})
}

// Installations returns the installations made so far, current or
// revoked, in no particular order.
func (s *Server) Installations() []Installed {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Installed, 0, len(s.oauth.installs))
	for _, in := range s.oauth.installs {
		out = append(out, *in)
	}
	return out
}

// installationOfLocked returns the live installation serving team: its own,
// or its org's org-wide one. s.mu is held.
func (s *Server) installationOfLocked(team string) *Installed {
	var org *Installed
	for _, in := range s.oauth.installs {
		if in.Revoked != "" {
			continue
		}
		if !in.OrgWide && in.TeamID == team {
			return in
		}
		if ws, ok := s.oauth.workspaces[team]; ok && in.OrgWide && in.EnterpriseID == ws.EnterpriseID && ws.EnterpriseID != "" {
			org = in
		}
	}
	return org
}

// Revoke makes every call with the token of team's installation (or of the
// org-wide installation when team is an enterprise id) answer code from
// now on: "invalid_auth", "account_inactive" or "token_revoked".
func (s *Server) Revoke(team, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range s.oauth.installs {
		if (!in.OrgWide && in.TeamID == team) || (in.OrgWide && in.EnterpriseID == team) {
			in.Revoked = code
		}
	}
}

// tokenTeamLocked checks a token: the team (or enterprise) it belongs to,
// or the error code Slack answers for it. s.mu is held.
func (s *Server) tokenTeamLocked(tok string) (team, code string) {
	if tok == BotToken {
		return TeamID, ""
	}
	in, ok := s.oauth.installs[tok]
	switch {
	case !ok:
		return "", "invalid_auth"
	case in.Revoked != "":
		return "", in.Revoked
	case in.OrgWide:
		return in.EnterpriseID, ""
	}
	return in.TeamID, ""
}

// MentionIn builds an app_mention in a channel of workspace team, addressed
// to the bot of the installation serving it (with its enterprise, and
// is_enterprise_install for an org-wide install). Deliver it with PostEvent.
func (s *Server) MentionIn(team, channel, user, text string) Event {
	s.mu.Lock()
	bot := BotUserID
	ev := Event{Team: team}
	if ws, ok := s.oauth.workspaces[team]; ok {
		ev.Enterprise = ws.EnterpriseID
	}
	if in := s.installationOfLocked(team); in != nil {
		bot, ev.OrgWide = in.BotUserID, in.OrgWide
	}
	ev.Type, ev.EventID, ev.Channel, ev.User, ev.TS = "app_mention", s.nextIDLocked("Ev"), channel, user, s.nextTSLocked()
	s.mu.Unlock()
	ev.Text = "<@" + bot + "> " + text
	ev.BotUser = bot
	return ev
}

// AppUninstalled removes the app from team (an enterprise id for an
// org-wide install): its token answers account_inactive from now on, and
// the returned app_uninstalled event is what Slack sends.
func (s *Server) AppUninstalled(team string) Event {
	ev := s.lifecycleEvent(team, "app_uninstalled")
	s.Revoke(team, "account_inactive")
	return ev
}

// TokensRevoked revokes the bot token of team's installation: its calls
// answer token_revoked from now on, and the returned tokens_revoked event
// (naming the bot user) is what Slack sends.
func (s *Server) TokensRevoked(team string) Event {
	ev := s.lifecycleEvent(team, "tokens_revoked")
	s.Revoke(team, "token_revoked")
	return ev
}

func (s *Server) lifecycleEvent(team, typ string) Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := Event{Type: typ, EventID: s.nextIDLocked("Ev"), TS: s.nextTSLocked(), Team: team}
	for _, in := range s.oauth.installs {
		if in.Revoked == "" && !in.OrgWide && in.TeamID == team {
			ev.Enterprise, ev.BotUser = in.EnterpriseID, in.BotUserID
		}
		if in.Revoked == "" && in.OrgWide && in.EnterpriseID == team {
			// Slack names the org in enterprise_id; team_id is one of its workspaces.
			ev.Enterprise, ev.OrgWide, ev.BotUser = in.EnterpriseID, true, in.BotUserID
			ev.Team = in.TeamID
			for id, ws := range s.oauth.workspaces {
				if ws.EnterpriseID == in.EnterpriseID {
					ev.Team = id
					break
				}
			}
		}
	}
	return ev
}

// tokenCodeLocked is the error code Slack answers for tok ("" for a good
// token). s.mu is held.
func (s *Server) tokenCodeLocked(tok string) string {
	_, code := s.tokenTeamLocked(tok)
	return code
}
