package chat

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Installation is one install of a platform's app through its OAuth flow
// (Slack's oauth.v2.access): a workspace, or a whole Enterprise Grid org
// for an org-wide install. Its bot token is held sealed (encrypted by the
// adapter, which alone has the key): a store never sees the token itself.
type Installation struct {
	// Platform is the platform's name ("slack").
	Platform string `json:"platform"`
	// EnterpriseID and EnterpriseName name the Enterprise Grid org, when
	// the workspace belongs to one.
	EnterpriseID   string `json:"enterprise_id,omitempty"`
	EnterpriseName string `json:"enterprise_name,omitempty"`
	// TeamID and TeamName name the workspace; TeamID is empty for an
	// org-wide install, which serves every workspace of EnterpriseID.
	TeamID   string `json:"team_id,omitempty"`
	TeamName string `json:"team_name,omitempty"`
	// OrgWide is true for an org-wide install of an Enterprise Grid org.
	OrgWide bool `json:"org_wide,omitempty"`
	// AppID is the platform's id of the app installed.
	AppID string `json:"app_id,omitempty"`
	// BotUserID is the bot's user id in the installation.
	BotUserID string `json:"bot_user_id,omitempty"`
	// Scopes are the bot scopes granted.
	Scopes []string `json:"scopes,omitempty"`
	// InstallerID is the user id of the person who installed the app.
	InstallerID string `json:"installer_id,omitempty"`
	// SealedToken is the bot token encrypted by the adapter (never the
	// token itself).
	SealedToken string `json:"sealed_token"`
	// Installed is when the install completed.
	Installed time.Time `json:"installed"`
	// Broken, when not empty, is why the platform refused the token (its
	// error code, "invalid_auth" for example); BrokenAt is when.
	Broken   string    `json:"broken,omitempty"`
	BrokenAt time.Time `json:"broken_at,omitzero"`
}

// InstallationID is the id of the installation of a platform's app in a
// team of an enterprise: "platform/enterprise/team", escaped like a
// ConversationKey. An org-wide install has an empty team; a workspace
// outside any Enterprise Grid org an empty enterprise.
func InstallationID(platform, enterprise, team string) string {
	return keyEscaper.Replace(platform) + "/" + keyEscaper.Replace(enterprise) + "/" + keyEscaper.Replace(team)
}

// ID is the installation's id (InstallationID of its platform, enterprise
// and team; the team is left out of an org-wide install's id).
func (in Installation) ID() string {
	team := in.TeamID
	if in.OrgWide {
		team = ""
	}
	return InstallationID(in.Platform, in.EnterpriseID, team)
}

// Validate reports why the installation cannot be stored: it needs a
// platform, a team (an enterprise for an org-wide install) and a sealed
// token.
func (in Installation) Validate() error {
	switch {
	case in.Platform == "":
		return fmt.Errorf("installation %s: no platform", in.ID())
	case in.OrgWide && in.EnterpriseID == "":
		return fmt.Errorf("installation %s: org-wide without an enterprise", in.ID())
	case !in.OrgWide && in.TeamID == "":
		return fmt.Errorf("installation %s: no team", in.ID())
	case in.SealedToken == "":
		return fmt.Errorf("installation %s: no sealed token", in.ID())
	}
	return nil
}

// LogValue logs the installation without its sealed token.
func (in Installation) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("id", in.ID()), slog.String("team", in.TeamID)}
	if in.EnterpriseID != "" {
		attrs = append(attrs, slog.String("enterprise", in.EnterpriseID), slog.Bool("org_wide", in.OrgWide))
	}
	if in.Broken != "" {
		attrs = append(attrs, slog.String("broken", in.Broken))
	}
	return slog.GroupValue(attrs...)
}

// InstallationStore keeps the installations of apps installed through an
// OAuth flow. Both store backends implement it; its contract is checked by
// bridgetest.RunStoreConformance. The rules of Store apply (a done ctx
// changes nothing, ErrNotFound names the id, records read back equal).
type InstallationStore interface {
	// PutInstallation creates or replaces the installation under in.ID(),
	// a reinstall's new token and a cleared Broken included. It fails for
	// an installation that does not Validate.
	PutInstallation(ctx context.Context, in Installation) error
	// GetInstallation returns the installation id, or an error wrapping
	// ErrNotFound.
	GetInstallation(ctx context.Context, id string) (Installation, error)
	// ListInstallations returns every installation, in id order.
	ListInstallations(ctx context.Context) ([]Installation, error)
	// DeleteInstallation removes the installation id; ErrNotFound when
	// there is none.
	DeleteInstallation(ctx context.Context, id string) error
	// MarkInstallationBroken records reason and at as why and when the
	// platform refused the token sealed as sealedToken. It is a
	// compare-and-set: only a healthy record still holding that sealed
	// token is marked (ok true), so a reinstall that replaced the token
	// meanwhile is never marked by an answer to the old one. It returns
	// the record as it now is. ErrNotFound when the id is unknown.
	MarkInstallationBroken(ctx context.Context, id, sealedToken, reason string, at time.Time) (in Installation, ok bool, err error)
}

// InstallationBackend is a Store that also keeps installations.
type InstallationBackend interface {
	Store
	InstallationStore
}

// StoreUser is implemented by adapters that keep state of their own in the
// bridge's store (the Slack adapter's OAuth installations and its install
// states). The process calls UseStore before Run.
type StoreUser interface {
	UseStore(s InstallationBackend)
}

// InstallationCounter counts what happens to installations, per platform:
// event is one of "installed", "uninstalled", "revoked", "broken",
// "unknown_team" and "install_failed".
type InstallationCounter interface {
	InstallationEvent(platform, event string)
}

// InstallationCounted is implemented by adapters that report installation
// events to an InstallationCounter set before Run.
type InstallationCounted interface {
	SetInstallationCounter(c InstallationCounter)
}

// BrokenInstallation is an installation whose token the platform refused.
type BrokenInstallation struct {
	// ID is the installation's id; Team its team (or enterprise, for an
	// org-wide install); Reason the platform's error code.
	ID     string
	Team   string
	Reason string
	Since  time.Time
}

// InstallationReporter is implemented by adapters that serve installations:
// the side port shows the broken ones in /readyz (without failing it:
// every other team goes on) and as a gauge per team.
type InstallationReporter interface {
	// ServesInstallations reports whether the adapter serves installations
	// (it was configured for OAuth installs).
	ServesInstallations() bool
	// BrokenInstallations returns the broken installations, by id. It is
	// quick and never waits on the network.
	BrokenInstallations() []BrokenInstallation
}
