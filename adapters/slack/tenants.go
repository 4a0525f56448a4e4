package slack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/slack-go/slack"
)

// ErrNotInstalled is the error of every Web API call for a team that has no
// installation (never installed, uninstalled, or its token revoked): the
// call is refused without reaching Slack.
var ErrNotInstalled = errors.New("slack: the app is not installed in this workspace")

// ErrInstallationBroken is the error of every Web API call for a team whose
// token Slack refused (invalid_auth, account_inactive...): the call is
// refused without reaching Slack until the workspace installs the app again.
var ErrInstallationBroken = errors.New("slack: the workspace's installation is broken (its token was refused)")

// brokenCodes are Slack's answers meaning an installation's token no longer
// works.
var brokenCodes = map[string]bool{
	"invalid_auth": true, "account_inactive": true, "token_revoked": true, "token_expired": true, "not_authed": true,
}

// reloadEvery bounds how often a lookup that misses rereads the store's
// installations (another replica may have installed a team meanwhile).
const reloadEvery = time.Second

// tenant is one installation the adapter serves: its Web API client and the
// bot's identity there.
type tenant struct {
	inst chat.Installation
	api  webAPI
	self *identity
}

// installs is the adapter's view of the store's installations: an index by
// team and by enterprise, and the clients built so far (one per
// installation, built on first use).
type installs struct {
	mu         sync.Mutex
	byID       map[string]chat.Installation
	team       map[string]string // workspace team id -> installation id
	org        map[string]string // enterprise id -> installation id of its org-wide install
	teamOrg    map[string]string // team id -> enterprise id, learned from events
	clients    map[string]*tenant
	unknown    map[string]bool // teams logged once as not installed
	lastReload time.Time
}

func newInstalls() *installs {
	return &installs{byID: map[string]chat.Installation{}, team: map[string]string{}, org: map[string]string{},
		teamOrg: map[string]string{}, clients: map[string]*tenant{}, unknown: map[string]bool{}}
}

// setLocked indexes in (replacing the record of its id); a client built
// for another token is dropped. s.mu is held.
func (s *installs) setLocked(in chat.Installation) {
	id := in.ID()
	if t, ok := s.clients[id]; ok && t.inst.SealedToken != in.SealedToken {
		delete(s.clients, id)
	}
	if t, ok := s.clients[id]; ok {
		t.inst = in
	}
	s.byID[id] = in
	if in.OrgWide {
		s.org[in.EnterpriseID] = id
	} else {
		s.team[in.TeamID] = id
		delete(s.unknown, in.TeamID)
	}
}

// dropLocked forgets the installation id. s.mu is held.
func (s *installs) dropLocked(id string) {
	in, ok := s.byID[id]
	if !ok {
		return
	}
	delete(s.byID, id)
	delete(s.clients, id)
	if in.OrgWide {
		delete(s.org, in.EnterpriseID)
	} else {
		delete(s.team, in.TeamID)
	}
}

// resolveLocked returns the installation id serving team (of enterprise,
// when known): the workspace's own install first, then its org's org-wide
// install. An enterprise learned here (from an event or a click) is
// remembered for calls that know only the team. s.mu is held.
func (s *installs) resolveLocked(team, enterprise string) (string, bool) {
	if id, ok := s.team[team]; ok {
		return id, true
	}
	if enterprise == "" {
		enterprise = s.teamOrg[team]
	}
	if enterprise != "" {
		id, ok := s.org[enterprise]
		if ok && team != "" {
			s.teamOrg[team] = enterprise
		}
		return id, ok
	}
	return "", false
}

// oauth reports whether the adapter serves installations (slack.oauth).
func (a *Adapter) oauth() bool { return a.cfg.OAuth != nil }

// UseStore implements chat.StoreUser: the store keeps the installations
// and the used install states. Only an adapter configured with slack.oauth
// uses it.
func (a *Adapter) UseStore(s chat.InstallationBackend) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.store = s
}

func (a *Adapter) installStore() chat.InstallationBackend {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.store
}

// SetInstallationCounter implements chat.InstallationCounted.
func (a *Adapter) SetInstallationCounter(c chat.InstallationCounter) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.counter = c
}

// countInstall reports an installation event to the counter, if any.
func (a *Adapter) countInstall(event string) {
	a.mu.Lock()
	c := a.counter
	a.mu.Unlock()
	if c != nil {
		c.InstallationEvent(Name, event)
	}
}

// ServesInstallations implements chat.InstallationReporter: true with
// slack.oauth.
func (a *Adapter) ServesInstallations() bool { return a.oauth() }

// BrokenInstallations implements chat.InstallationReporter: the
// installations whose token Slack refused, by id.
func (a *Adapter) BrokenInstallations() []chat.BrokenInstallation {
	if !a.oauth() {
		return nil
	}
	a.installs.mu.Lock()
	defer a.installs.mu.Unlock()
	var out []chat.BrokenInstallation
	for id, in := range a.installs.byID {
		if in.Broken != "" {
			out = append(out, chat.BrokenInstallation{ID: id, Team: firstNonEmpty(in.TeamID, in.EnterpriseID),
				Reason: in.Broken, Since: in.BrokenAt})
		}
	}
	slices.SortFunc(out, func(x, y chat.BrokenInstallation) int {
		switch {
		case x.ID < y.ID:
			return -1
		case x.ID > y.ID:
			return 1
		}
		return 0
	})
	return out
}

// loadInstalls rereads every installation from the store into the index.
func (a *Adapter) loadInstalls(ctx context.Context) error {
	st := a.installStore()
	if st == nil {
		return errors.New("slack: slack.oauth needs the bridge's store (UseStore was not called)")
	}
	list, err := st.ListInstallations(ctx)
	if err != nil {
		return fmt.Errorf("slack: load installations: %w", err)
	}
	s := a.installs
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastReload = a.now()
	seen := map[string]bool{}
	for _, in := range list {
		if in.Platform != Name {
			continue
		}
		seen[in.ID()] = true
		s.setLocked(in)
	}
	for id := range s.byID {
		if !seen[id] {
			s.dropLocked(id)
		}
	}
	return nil
}

// tenantFor returns the installation serving team (of enterprise, when
// known), with its client: a snapshot, safe to read without a lock. A miss rereads the store (at most every
// reloadEvery) before it answers ErrNotInstalled.
func (a *Adapter) tenantFor(ctx context.Context, team, enterprise string) (*tenant, error) {
	for attempt := 0; ; attempt++ {
		s := a.installs
		s.mu.Lock()
		id, ok := s.resolveLocked(team, enterprise)
		if ok {
			t, err := a.clientLocked(id)
			var snapshot *tenant
			if err == nil {
				cp := *t // the caller reads it without the lock
				snapshot = &cp
			}
			s.mu.Unlock()
			return snapshot, err
		}
		stale := a.now().Sub(s.lastReload) >= reloadEvery
		s.mu.Unlock()
		if attempt > 0 || !stale {
			return nil, fmt.Errorf("%w (team %s)", ErrNotInstalled, team)
		}
		if err := a.loadInstalls(ctx); err != nil {
			return nil, err
		}
	}
}

// clientLocked returns the tenant of installation id, building its client
// on first use. a.installs.mu is held.
func (a *Adapter) clientLocked(id string) (*tenant, error) {
	s := a.installs
	if t, ok := s.clients[id]; ok {
		return t, nil
	}
	in := s.byID[id]
	token, err := a.sealer.open(in.SealedToken, id)
	if err != nil {
		return nil, fmt.Errorf("slack: installation %s: %w", id, err)
	}
	client := slack.New(token, slack.OptionAPIURL(a.cfg.APIURL), slack.OptionHTTPClient(a.httpClient()))
	t := &tenant{inst: in, self: &identity{TeamID: in.TeamID, UserID: in.BotUserID, mentionRE: newMentionMatcher(in.BotUserID)}}
	t.api = &tenantAPI{c: client, a: a, id: id}
	s.clients[id] = t
	return t, nil
}

// webAPI returns the Web API client for team: the single workspace's with
// slack.bot_token; with slack.oauth, the client of the team's installation,
// or one that refuses every call (ErrNotInstalled, ErrInstallationBroken)
// without reaching Slack.
func (a *Adapter) webAPI(ctx context.Context, team string) webAPI {
	if !a.oauth() {
		return a.api
	}
	t, err := a.tenantFor(ctx, team, "")
	if err != nil {
		return refusedAPI{err: err}
	}
	if t.inst.Broken != "" {
		return refusedAPI{err: fmt.Errorf("%w (team %s: %s)", ErrInstallationBroken, team, t.inst.Broken)}
	}
	return t.api
}

// slackCode returns Slack's error code of err ("" when it has none).
func slackCode(err error) string {
	if se, ok := errors.AsType[slack.SlackErrorResponse](err); ok {
		return se.Err
	}
	if err != nil && brokenCodes[err.Error()] {
		return err.Error()
	}
	return ""
}

// observe marks the installation id broken when err says Slack refused its
// token; other teams are not affected.
func (a *Adapter) observe(id string, err error) {
	code := slackCode(err)
	if !brokenCodes[code] {
		return
	}
	st := a.installStore()
	s := a.installs
	s.mu.Lock()
	in, ok := s.byID[id]
	s.mu.Unlock()
	if !ok || st == nil || in.Broken != "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, marked, err := st.MarkInstallationBroken(ctx, id, in.SealedToken, code, a.now())
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case errors.Is(err, chat.ErrNotFound):
		// Uninstalled meanwhile (by another replica).
		s.dropLocked(id)
		return
	case err != nil:
		a.log.Error("slack installation refused but not marked broken", "installation", in, "code", code, errAttr(err))
		in.Broken, in.BrokenAt = code, a.now()
		s.setLocked(in)
		return
	}
	s.setLocked(got)
	if marked {
		a.log.Error("slack installation broken: Slack refused its token; its workspace gets no answers until it installs the app again",
			"installation", got, "code", code)
		a.countInstall("broken")
	}
}

// refusedAPI refuses every call with err, without reaching Slack.
type refusedAPI struct{ err error }

var _ webAPI = refusedAPI{}

func (r refusedAPI) AuthTestContext(context.Context) (*slack.AuthTestResponse, error) {
	return nil, r.err
}

func (r refusedAPI) PostMessageContext(context.Context, string, ...slack.MsgOption) (string, string, error) {
	return "", "", r.err
}

func (r refusedAPI) UpdateMessageContext(context.Context, string, string, ...slack.MsgOption) (string, string, string, error) {
	return "", "", "", r.err
}

func (r refusedAPI) PostEphemeralContext(context.Context, string, string, ...slack.MsgOption) (string, error) {
	return "", r.err
}

func (r refusedAPI) DeleteMessageContext(context.Context, string, string) (string, string, error) {
	return "", "", r.err
}

func (r refusedAPI) SetAssistantThreadsStatusContext(context.Context, slack.AssistantThreadsSetStatusParameters) error {
	return r.err
}

func (r refusedAPI) OpenViewContext(context.Context, string, slack.ModalViewRequest) (*slack.ViewResponse, error) {
	return nil, r.err
}

func (r refusedAPI) StartStreamContext(context.Context, string, ...slack.MsgOption) (string, string, error) {
	return "", "", r.err
}

func (r refusedAPI) AppendStreamContext(context.Context, string, string, ...slack.MsgOption) (string, string, error) {
	return "", "", r.err
}

func (r refusedAPI) StopStreamContext(context.Context, string, string, ...slack.MsgOption) (string, string, error) {
	return "", "", r.err
}

func (r refusedAPI) SetAgentSessionStatusContext(context.Context, slack.AgentSessionSetStatusParameters) (*slack.AgentSessionSetStatusResponse, error) {
	return nil, r.err
}

// tenantAPI is an installation's client: every answer is observed, so a
// refused token marks the installation broken.
type tenantAPI struct {
	c  *slack.Client
	a  *Adapter
	id string
}

var _ webAPI = (*tenantAPI)(nil)

func (t *tenantAPI) AuthTestContext(ctx context.Context) (*slack.AuthTestResponse, error) {
	r, err := t.c.AuthTestContext(ctx)
	t.a.observe(t.id, err)
	return r, err
}

func (t *tenantAPI) PostMessageContext(ctx context.Context, channelID string, options ...slack.MsgOption) (string, string, error) {
	c, ts, err := t.c.PostMessageContext(ctx, channelID, options...)
	t.a.observe(t.id, err)
	return c, ts, err
}

func (t *tenantAPI) UpdateMessageContext(ctx context.Context, channelID, timestamp string, options ...slack.MsgOption) (string, string, string, error) {
	c, ts, text, err := t.c.UpdateMessageContext(ctx, channelID, timestamp, options...)
	t.a.observe(t.id, err)
	return c, ts, text, err
}

func (t *tenantAPI) PostEphemeralContext(ctx context.Context, channelID, userID string, options ...slack.MsgOption) (string, error) {
	ts, err := t.c.PostEphemeralContext(ctx, channelID, userID, options...)
	t.a.observe(t.id, err)
	return ts, err
}

func (t *tenantAPI) DeleteMessageContext(ctx context.Context, channel, messageTimestamp string) (string, string, error) {
	c, ts, err := t.c.DeleteMessageContext(ctx, channel, messageTimestamp)
	t.a.observe(t.id, err)
	return c, ts, err
}

func (t *tenantAPI) SetAssistantThreadsStatusContext(ctx context.Context, params slack.AssistantThreadsSetStatusParameters) error {
	err := t.c.SetAssistantThreadsStatusContext(ctx, params)
	t.a.observe(t.id, err)
	return err
}

func (t *tenantAPI) OpenViewContext(ctx context.Context, triggerID string, view slack.ModalViewRequest) (*slack.ViewResponse, error) {
	r, err := t.c.OpenViewContext(ctx, triggerID, view)
	t.a.observe(t.id, err)
	return r, err
}

func (t *tenantAPI) StartStreamContext(ctx context.Context, channelID string, options ...slack.MsgOption) (string, string, error) {
	c, ts, err := t.c.StartStreamContext(ctx, channelID, options...)
	t.a.observe(t.id, err)
	return c, ts, err
}

func (t *tenantAPI) AppendStreamContext(ctx context.Context, channelID, timestamp string, options ...slack.MsgOption) (string, string, error) {
	c, ts, err := t.c.AppendStreamContext(ctx, channelID, timestamp, options...)
	t.a.observe(t.id, err)
	return c, ts, err
}

func (t *tenantAPI) StopStreamContext(ctx context.Context, channelID, timestamp string, options ...slack.MsgOption) (string, string, error) {
	c, ts, err := t.c.StopStreamContext(ctx, channelID, timestamp, options...)
	t.a.observe(t.id, err)
	return c, ts, err
}

func (t *tenantAPI) SetAgentSessionStatusContext(ctx context.Context, params slack.AgentSessionSetStatusParameters) (*slack.AgentSessionSetStatusResponse, error) {
	r, err := t.c.SetAgentSessionStatusContext(ctx, params)
	t.a.observe(t.id, err)
	return r, err
}
