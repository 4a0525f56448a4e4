package slack

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/slack-go/slack"
)

// stateCookie holds an install's state in the installer's browser, so the
// redirect is finished only in the browser that started the install.
const stateCookie = "promptev_slack_oauth_state"

// serveInstall starts an install: a fresh signed state, in a cookie and in
// the redirect to Slack's authorize page.
func (a *Adapter) serveInstall(w http.ResponseWriter, r *http.Request) {
	o := a.cfg.OAuth
	state, err := a.states.mint(a.now())
	if err != nil {
		a.log.Error("slack install not started", errAttr(err))
		installPage(w, http.StatusInternalServerError, "The install could not start", "Please try again in a moment.")
		return
	}
	redirect, _ := url.Parse(o.RedirectURL)
	http.SetCookie(w, &http.Cookie{
		Name: stateCookie, Value: state, Path: o.redirectPath(), MaxAge: int(stateTTL.Seconds()),
		HttpOnly: true, Secure: redirect.Scheme == "https", SameSite: http.SameSiteLaxMode,
	})
	q := url.Values{
		"client_id":    {o.ClientID},
		"scope":        {strings.Join(o.Scopes, ",")},
		"redirect_uri": {o.RedirectURL},
		"state":        {state},
	}
	sep := "?"
	if strings.Contains(o.AuthorizeURL, "?") {
		sep = "&"
	}
	http.Redirect(w, r, o.AuthorizeURL+sep+q.Encode(), http.StatusFound)
}

// serveOAuthRedirect finishes an install: the state is checked (signed, not
// expired, not used, from this browser), the code exchanged with
// oauth.v2.access, and the installation stored with its token sealed. Every
// failure gets a page saying what went wrong, and stores nothing.
func (a *Adapter) serveOAuthRedirect(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: "", Path: a.cfg.OAuth.redirectPath(), MaxAge: -1})
	if code := q.Get("error"); code != "" {
		a.log.Info("slack install not approved", "error", code)
		a.countInstall("install_failed")
		if code == "access_denied" {
			installPage(w, http.StatusForbidden, "The install was cancelled",
				"The app was not installed: the install was declined on Slack's page. Start again from "+a.cfg.OAuth.InstallPath+" to install it.")
			return
		}
		installPage(w, http.StatusBadRequest, "The install failed", "Slack answered "+code+". Start again from "+a.cfg.OAuth.InstallPath+".")
		return
	}
	state, code := q.Get("state"), q.Get("code")
	if err := a.checkState(ctx, r, state); err != nil {
		a.log.Warn("slack install refused: bad state", errAttr(err), "remote", r.RemoteAddr)
		a.countInstall("install_failed")
		msg := "This install link cannot be used: " + err.Error() + ". Start again from " + a.cfg.OAuth.InstallPath + "."
		if !isStateError(err) {
			installPage(w, http.StatusInternalServerError, "The install failed", "The bridge could not check the install link. Please try again.")
			return
		}
		installPage(w, http.StatusBadRequest, "The install link is not valid", msg)
		return
	}
	if code == "" {
		a.countInstall("install_failed")
		installPage(w, http.StatusBadRequest, "The install failed", "Slack sent no code. Start again from "+a.cfg.OAuth.InstallPath+".")
		return
	}
	in, err := a.exchange(ctx, code)
	if err != nil {
		a.log.Error("slack install failed", errAttr(err))
		a.countInstall("install_failed")
		installPage(w, http.StatusBadGateway, "The install failed", "Slack did not complete the install ("+err.Error()+"). Start again from "+a.cfg.OAuth.InstallPath+".")
		return
	}
	where := in.TeamName
	if in.OrgWide {
		where = "the " + in.EnterpriseName + " organisation (add it to its workspaces from the org's app management page)"
	}
	installPage(w, http.StatusOK, "Installed", "The app is installed in "+where+". Mention it in a channel, or send it a direct message.")
}

// checkState accepts the state of the redirect once: it must be signed by
// this deployment, not expired, not used before, and the one of this
// browser's install.
func (a *Adapter) checkState(ctx context.Context, r *http.Request, state string) error {
	if state == "" {
		return errStateInvalid
	}
	st := a.installStore()
	if st == nil {
		return errors.New("slack: no store")
	}
	if err := a.states.check(ctx, st, state, a.now()); err != nil {
		return err
	}
	c, err := r.Cookie(stateCookie)
	if err != nil || c.Value != state {
		return errStateBrowser
	}
	return nil
}

// errStateBrowser means the redirect came to a browser that did not start the install.
var errStateBrowser = errors.New("the install was started in another browser (finish it in the browser that opened the install page)")

func isStateError(err error) bool {
	return errors.Is(err, errStateInvalid) || errors.Is(err, errStateExpired) ||
		errors.Is(err, errStateReplayed) || errors.Is(err, errStateBrowser)
}

// exchange calls oauth.v2.access with code and stores the installation it
// describes, its bot token sealed. The token never reaches a log.
func (a *Adapter) exchange(ctx context.Context, code string) (chat.Installation, error) {
	o := a.cfg.OAuth
	resp, err := slack.GetOAuthV2ResponseContext(ctx, a.httpClient(), o.ClientID, o.ClientSecret, code, o.RedirectURL,
		slack.OAuthOptionAPIURL(a.cfg.APIURL))
	if err != nil {
		return chat.Installation{}, errors.New("oauth.v2.access: " + redact(err.Error()))
	}
	if resp.TokenType != "bot" || !strings.HasPrefix(resp.AccessToken, "xoxb-") {
		return chat.Installation{}, errors.New("oauth.v2.access gave no bot token: add bot scopes to slack.oauth.scopes")
	}
	in := chat.Installation{
		Platform:       Name,
		EnterpriseID:   resp.Enterprise.ID,
		EnterpriseName: resp.Enterprise.Name,
		TeamID:         resp.Team.ID,
		TeamName:       resp.Team.Name,
		OrgWide:        resp.IsEnterpriseInstall,
		AppID:          resp.AppID,
		BotUserID:      resp.BotUserID,
		InstallerID:    resp.AuthedUser.ID,
		Installed:      a.now(),
	}
	for _, s := range strings.Split(resp.Scope, ",") {
		if s = strings.TrimSpace(s); s != "" {
			in.Scopes = append(in.Scopes, s)
		}
	}
	if in.OrgWide {
		in.TeamID, in.TeamName = "", ""
	}
	if in.SealedToken, err = a.sealer.seal(resp.AccessToken, in.ID()); err != nil {
		return chat.Installation{}, err
	}
	if err := in.Validate(); err != nil {
		return chat.Installation{}, errors.New("oauth.v2.access named no team or enterprise")
	}
	if err := a.installStore().PutInstallation(ctx, in); err != nil {
		return chat.Installation{}, errors.New("the installation could not be stored")
	}
	a.installs.mu.Lock()
	a.installs.setLocked(in)
	a.installs.mu.Unlock()
	a.log.Info("slack app installed", "installation", in, "installer", in.InstallerID, "scopes", strings.Join(in.Scopes, ","))
	a.countInstall("installed")
	return in, nil
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto; line-height: 1.5">
<h1>{{.Title}}</h1>
<p>{{.Text}}</p>
</body></html>
`))

// installPage answers with a plain page: a title and one paragraph.
func installPage(w http.ResponseWriter, status int, title, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, struct{ Title, Text string }{title, text})
}
