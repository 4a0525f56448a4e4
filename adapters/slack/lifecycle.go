package slack

import (
	"context"
	"errors"
	"slices"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/slack-go/slack/slackevents"
)

// startInstalls loads the installations at the start of Run and seals again
// every token sealed with an older key of slack.oauth.token_key, so that
// the older key can be dropped once every replica ran with the new one.
func (a *Adapter) startInstalls(ctx context.Context) error {
	if err := a.loadInstalls(ctx); err != nil {
		return err
	}
	st := a.installStore()
	a.installs.mu.Lock()
	list := make([]chat.Installation, 0, len(a.installs.byID))
	for _, in := range a.installs.byID {
		list = append(list, in)
	}
	a.installs.mu.Unlock()
	resealed := 0
	for _, in := range list {
		if a.sealer.current(in.SealedToken) {
			continue
		}
		token, err := a.sealer.open(in.SealedToken, in.ID())
		if err != nil {
			a.log.Error("slack installation token does not open: install the app again in its workspace, or restore its key in slack.oauth.token_key",
				"installation", in, errAttr(err))
			continue
		}
		if in.SealedToken, err = a.sealer.seal(token, in.ID()); err != nil {
			return err
		}
		if err := st.PutInstallation(ctx, in); err != nil {
			return err
		}
		resealed++
	}
	if resealed > 0 {
		if err := a.loadInstalls(ctx); err != nil {
			return err
		}
	}
	a.log.Info("slack oauth: serving installed workspaces", "installations", len(list), "resealed", resealed,
		"install_path", a.cfg.OAuth.InstallPath, "redirect_path", a.cfg.OAuth.redirectPath())
	return nil
}

// eventTenant returns the bot identity of the installation an event was
// delivered for. app_uninstalled and tokens_revoked end the installation
// (ok false). An event of a team with no installation is logged once per
// team and dropped (ok false): no reply can be sent there.
func (a *Adapter) eventTenant(ctx context.Context, h chat.Handler, ev slackevents.EventsAPIEvent) (*identity, bool) {
	cb, isCallback := ev.Data.(*slackevents.EventsAPICallbackEvent)
	if !isCallback {
		return nil, false
	}
	team, enterprise := firstNonEmpty(ev.TeamID, cb.TeamID), firstNonEmpty(ev.EnterpriseID, cb.EnterpriseID)
	orgWide := false
	for _, au := range cb.Authorizations {
		if au.IsEnterpriseInstall {
			orgWide = true
			enterprise = firstNonEmpty(enterprise, au.EnterpriseID)
		}
	}
	switch in := ev.InnerEvent.Data.(type) {
	case *slackevents.AppUninstalledEvent:
		a.endInstallation(ctx, h, team, enterprise, orgWide, "uninstalled")
		return nil, false
	case *slackevents.TokensRevokedEvent:
		a.tokensRevoked(ctx, h, team, enterprise, orgWide, in.Tokens.Bot)
		return nil, false
	}
	t, err := a.tenantFor(ctx, team, enterprise)
	if err != nil {
		if !errors.Is(err, ErrNotInstalled) {
			a.log.Error("slack event dropped: its installation cannot be used", "team", team, "enterprise", enterprise, errAttr(err))
			return nil, false
		}
		a.installs.mu.Lock()
		first := !a.installs.unknown[team]
		a.installs.unknown[team] = true
		a.installs.mu.Unlock()
		if first {
			a.log.Warn("slack event from a workspace without an installation: acknowledged, not answered (logged once per workspace)",
				"team", team, "enterprise", enterprise, "event_id", cb.EventID)
			a.countInstall("unknown_team")
		}
		return nil, false
	}
	self := *t.self
	self.TeamID = team
	return &self, true
}

// installationIDOf is the id of the installation an event of team (in
// enterprise; org-wide when the event says so) was delivered for.
func (a *Adapter) installationIDOf(team, enterprise string, orgWide bool) (string, bool) {
	if orgWide && enterprise != "" {
		return chat.InstallationID(Name, enterprise, ""), true
	}
	a.installs.mu.Lock()
	defer a.installs.mu.Unlock()
	if id, ok := a.installs.team[team]; ok {
		return id, true
	}
	if team == "" {
		return "", false
	}
	return chat.InstallationID(Name, enterprise, team), true
}

// tokensRevoked ends the installation when its bot token is among the
// revoked ones (user tokens are not kept: their revocation changes
// nothing).
func (a *Adapter) tokensRevoked(ctx context.Context, h chat.Handler, team, enterprise string, orgWide bool, bots []string) {
	id, ok := a.installationIDOf(team, enterprise, orgWide)
	if !ok {
		return
	}
	a.installs.mu.Lock()
	in, known := a.installs.byID[id]
	a.installs.mu.Unlock()
	if !known {
		if err := a.loadInstalls(ctx); err == nil {
			a.installs.mu.Lock()
			in, known = a.installs.byID[id]
			a.installs.mu.Unlock()
		}
	}
	if known && len(bots) > 0 && !slices.Contains(bots, in.BotUserID) {
		a.log.Info("slack tokens revoked: not the bot's, installation kept", "installation", in)
		return
	}
	a.endInstallation(ctx, h, team, enterprise, orgWide, "revoked")
}

// endInstallation deletes the installation of an uninstalled app (or a
// revoked bot token) and stops the runs of its workspaces: their calls are
// refused from now on (ErrNotInstalled), so nothing more reaches Slack.
func (a *Adapter) endInstallation(ctx context.Context, h chat.Handler, team, enterprise string, orgWide bool, event string) {
	id, ok := a.installationIDOf(team, enterprise, orgWide)
	if !ok {
		return
	}
	st := a.installStore()
	err := st.DeleteInstallation(ctx, id)
	if err != nil && !errors.Is(err, chat.ErrNotFound) {
		a.log.Error("slack installation not deleted", "installation", id, "event", event, errAttr(err))
	}
	// The workspaces it served: the team, or every team seen under the org.
	a.installs.mu.Lock()
	in, had := a.installs.byID[id]
	a.installs.dropLocked(id)
	teams := map[string]bool{team: true}
	if orgWide || in.OrgWide {
		for t, e := range a.installs.teamOrg {
			if e == enterprise {
				teams[t] = true
			}
		}
	}
	a.installs.mu.Unlock()
	if err == nil || had {
		a.log.Info("slack installation ended: its workspace's runs stop and nothing more is sent there",
			"installation", id, "event", event, "team", team, "enterprise", enterprise)
		a.countInstall(event)
	}
	a.stopRuns(ctx, h, teams)
}

// stopRuns stops the runs under way in teams as a press on their Stop
// button by their requester would.
func (a *Adapter) stopRuns(ctx context.Context, h chat.Handler, teams map[string]bool) {
	st := a.installStore()
	runs, err := st.ListRuns(ctx)
	if err != nil {
		a.log.Error("slack runs of an ended installation not stopped", errAttr(err))
		return
	}
	for _, r := range runs {
		if r.Key.Platform != Name || !teams[r.Key.Workspace] || r.RunID == "" {
			continue
		}
		rec, err := st.GetRunRecord(ctx, r.RunID)
		if err != nil {
			a.log.Warn("slack run of an ended installation not stopped", "conversation", r.Key.String(), errAttr(err))
			continue
		}
		res, err := h.HandleAction(ctx, chat.Action{
			Platform: Name, Kind: chat.Stop, Target: r.RunID,
			User: chat.User{ID: rec.Requester, Name: "the app's removal"}, Received: a.now(),
		})
		if err != nil || !res.Accepted {
			a.log.Warn("slack run of an ended installation not stopped", "conversation", r.Key.String(), "notice", res.Notice, errAttr(err))
			continue
		}
		a.log.Info("slack run stopped: its workspace removed the app", "conversation", r.Key.String(), "run", r.RunID)
	}
}
