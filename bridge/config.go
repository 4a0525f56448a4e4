package bridge

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// Config is the bridge's part of the daemon configuration: the routes,
// approvals, render and runs sections of the YAML file (config.example.yaml).
type Config struct {
	Routes    RoutesConfig    `yaml:"routes"`
	Approvals ApprovalsConfig `yaml:"approvals"`
	Render    RenderConfig    `yaml:"render"`
	Runs      RunsConfig      `yaml:"runs"`
	Feedback  FeedbackConfig  `yaml:"feedback"`
}

// RoutesConfig picks the agent of each conversation. Channels are tried in
// order and the first match wins; Default applies when none matches.
type RoutesConfig struct {
	Default  RouteTarget `yaml:"default"`
	Channels []Route     `yaml:"channels"`
}

// RouteTarget is what a route sends its conversations to, and who may use it.
type RouteTarget struct {
	// Agent is the Promptev agent id. A channel route without one uses the default agent.
	Agent string `yaml:"agent"`
	// Mode is stream (default) or trigger.
	Mode chat.Mode `yaml:"mode"`
	// Variables are passed to the agent in trigger mode.
	Variables map[string]any `yaml:"variables"`
	// AllowUsers, when not empty, lists the only users whose messages are
	// served: a platform user id ("U123") or a qualified one ("platform:U123").
	// Everyone else is ignored quietly.
	AllowUsers []string `yaml:"allow_users"`
	// AllowChannels, when not empty, lists the only channel ids served.
	AllowChannels []string `yaml:"allow_channels"`
	// Approvals, when set, overrides the global approval policy for this route.
	Approvals *RouteApprovals `yaml:"approvals"`
}

// Route matches conversations by platform, workspace and channel; an empty
// field matches anything.
type Route struct {
	Platform    string `yaml:"platform"`
	Workspace   string `yaml:"workspace"`
	Channel     string `yaml:"channel"`
	RouteTarget `yaml:",inline"`
}

// RouteApprovals is a per-route override of who may decide approvals.
type RouteApprovals struct {
	Policy    ApprovalPolicy `yaml:"policy"`
	Approvers []string       `yaml:"approvers"`
}

// ApprovalPolicy says who may decide an approval request.
type ApprovalPolicy string

// Approval policies.
const (
	// PolicyRequester lets only the person whose message led to the request decide.
	PolicyRequester ApprovalPolicy = "requester"
	// PolicyApprovers lets only the listed "platform:userid" people decide.
	PolicyApprovers ApprovalPolicy = "approvers"
	// PolicyAnyone lets anyone on the conversation's platform decide.
	PolicyAnyone ApprovalPolicy = "anyone"
)

// ApprovalsConfig configures approval cards.
type ApprovalsConfig struct {
	Policy ApprovalPolicy `yaml:"policy"`
	// Approvers are "platform:userid" entries, for example "chat:U123" on a
	// platform named chat.
	Approvers []string `yaml:"approvers"`
	// Timeout is how long a card stays pending before it expires.
	Timeout time.Duration `yaml:"timeout"`
	// ApproveQuery and DenyQuery are sent to the agent to answer a request.
	ApproveQuery string `yaml:"approve_query"`
	DenyQuery    string `yaml:"deny_query"`
	// DenyWithReasonQuery is the text/template of the query sent to the
	// agent when a request is denied with a reason; {{.Reason}} is the
	// reason (cut to 500 characters, mentions neutralised).
	DenyWithReasonQuery string `yaml:"deny_with_reason_query"`
	// AllowConversationGrants adds "Approve all <tool> here" to cards: once
	// pressed, later requests for that tool in that conversation are
	// approved without a card. Off by default.
	AllowConversationGrants bool `yaml:"allow_conversation_grants"`
}

// Thought display modes.
const (
	ThoughtsOff    = "off"
	ThoughtsLatest = "latest"
	ThoughtsAll    = "all"
)

// RenderConfig configures how runs are shown.
type RenderConfig struct {
	// ShowThoughts is off, latest (the latest thought as a muted line) or all.
	ShowThoughts string `yaml:"show_thoughts"`
	// Steps is how many recent tool steps the live status shows.
	Steps int `yaml:"steps"`
	// FinalDeadline is how long a final answer may wait for edit budget before
	// it is posted as a new reply instead.
	FinalDeadline time.Duration `yaml:"final_deadline"`
}

// RunsConfig configures agent runs.
type RunsConfig struct {
	// QueueSize is how many messages may wait behind a running one in a
	// conversation; more get a "busy" reply.
	QueueSize int `yaml:"queue_size"`
	// ShutdownGrace is how long Shutdown lets running streams finish.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// DedupeTTL is how long delivery ids are remembered (at least 10m).
	DedupeTTL time.Duration `yaml:"dedupe_ttl"`
	// RunTimeout bounds one run, from its placeholder to its final state.
	RunTimeout time.Duration `yaml:"run_timeout"`
	// StopPolicy says who may press a run's Stop button: requester (the
	// default), approvers (the route's approval approvers) or anyone.
	StopPolicy ApprovalPolicy `yaml:"stop_policy"`
}

// Defaults and bounds.
const (
	defaultQueueSize = 5
	minDedupeTTL     = 10 * time.Minute
	maxSteps         = 50
)

// DefaultConfig returns the configuration with every default filled in. The
// default agent is left empty: an operator must name one.
func DefaultConfig() Config {
	return Config{
		Routes: RoutesConfig{Default: RouteTarget{Mode: chat.ModeStream}},
		Approvals: ApprovalsConfig{
			Policy:              PolicyRequester,
			Timeout:             30 * time.Minute,
			ApproveQuery:        "approve",
			DenyQuery:           "deny",
			DenyWithReasonQuery: "deny: {{.Reason}}",
		},
		Render: RenderConfig{ShowThoughts: ThoughtsLatest, Steps: 5, FinalDeadline: 2 * time.Second},
		Runs: RunsConfig{
			QueueSize:     defaultQueueSize,
			ShutdownGrace: 20 * time.Second,
			DedupeTTL:     15 * time.Minute,
			RunTimeout:    15 * time.Minute,
			StopPolicy:    PolicyRequester,
		},
	}
}

// Validate reports every problem of the configuration by its YAML path.
// platforms are the names of the registered platforms, which a channel
// route may name; with none, route platforms are not checked.
func (c Config) Validate(platforms ...string) chat.ConfigProblems {
	var ps chat.ConfigProblems
	c.Routes.validate("routes", platforms, &ps)
	c.Approvals.validate("approvals", platforms, &ps)
	if _, err := parseFeedbackQuery(c.Feedback.Query); err != nil {
		ps.Add("feedback.query", "is not a valid template (fields: .Value, .User, .Answer): %v", err)
	}
	r := c.Render
	switch r.ShowThoughts {
	case ThoughtsOff, ThoughtsLatest, ThoughtsAll:
	default:
		ps.Add("render.show_thoughts", "must be off, latest or all, not %q", r.ShowThoughts)
	}
	if r.Steps < 0 || r.Steps > maxSteps {
		ps.Add("render.steps", "must be between 0 and %d, not %d", maxSteps, r.Steps)
	}
	if r.FinalDeadline <= 0 {
		ps.Add("render.final_deadline", "must be positive, not %s", r.FinalDeadline)
	}
	u := c.Runs
	if u.QueueSize < 0 {
		ps.Add("runs.queue_size", "must not be negative, not %d", u.QueueSize)
	}
	if u.ShutdownGrace < 0 {
		ps.Add("runs.shutdown_grace", "must not be negative, not %s", u.ShutdownGrace)
	}
	if u.DedupeTTL < minDedupeTTL {
		ps.Add("runs.dedupe_ttl", "must be at least %s (platforms redeliver for minutes), not %s", minDedupeTTL, u.DedupeTTL)
	}
	if u.RunTimeout <= 0 {
		ps.Add("runs.run_timeout", "must be positive, not %s", u.RunTimeout)
	}
	switch u.StopPolicy {
	case PolicyRequester, PolicyAnyone:
	case PolicyApprovers:
		if len(c.Approvals.Approvers) == 0 {
			ps.Add("runs.stop_policy", "is approvers, so approvals.approvers must list at least one approver (or use requester or anyone)")
		}
	default:
		ps.Add("runs.stop_policy", "must be requester, approvers or anyone, not %q", u.StopPolicy)
	}
	return ps
}

func (r RoutesConfig) validate(path string, platforms []string, ps *chat.ConfigProblems) {
	d := chat.JoinPath(path, "default")
	if strings.TrimSpace(r.Default.Agent) == "" {
		ps.Add(chat.JoinPath(d, "agent"), "is required (the agent used when no channel route matches)")
	}
	r.Default.validate(d, platforms, ps)
	for i, rt := range r.Channels {
		p := fmt.Sprintf("%s.channels[%d]", path, i)
		if rt.Platform != "" && len(platforms) > 0 && !slices.Contains(platforms, rt.Platform) {
			ps.Add(chat.JoinPath(p, "platform"), "unknown platform %q (%s)", rt.Platform, orList(platforms))
		}
		rt.validate(p, platforms, ps)
	}
}

// orList renders names as "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func (t RouteTarget) validate(path string, platforms []string, ps *chat.ConfigProblems) {
	switch t.Mode {
	case "", chat.ModeStream, chat.ModeTrigger:
	default:
		ps.Add(chat.JoinPath(path, "mode"), "must be stream or trigger, not %q", t.Mode)
	}
	for i, u := range t.AllowUsers {
		if strings.TrimSpace(u) == "" {
			ps.Add(fmt.Sprintf("%s.allow_users[%d]", path, i), "must not be empty")
		}
	}
	for i, ch := range t.AllowChannels {
		if strings.TrimSpace(ch) == "" {
			ps.Add(fmt.Sprintf("%s.allow_channels[%d]", path, i), "must not be empty")
		}
	}
	if t.Approvals != nil {
		validatePolicy(chat.JoinPath(path, "approvals"), t.Approvals.Policy, t.Approvals.Approvers, platforms, ps)
	}
}

func (a ApprovalsConfig) validate(path string, platforms []string, ps *chat.ConfigProblems) {
	validatePolicy(path, a.Policy, a.Approvers, platforms, ps)
	if a.Timeout <= 0 {
		ps.Add(chat.JoinPath(path, "timeout"), "must be positive, not %s", a.Timeout)
	}
	if strings.TrimSpace(a.ApproveQuery) == "" {
		ps.Add(chat.JoinPath(path, "approve_query"), "must not be empty")
	}
	if strings.TrimSpace(a.DenyQuery) == "" {
		ps.Add(chat.JoinPath(path, "deny_query"), "must not be empty")
	}
	if _, err := denyReasonTemplate(a.DenyWithReasonQuery); err != nil {
		ps.Add(chat.JoinPath(path, "deny_with_reason_query"), "%v", err)
	}
}

// denyReasonData is what approvals.deny_with_reason_query is executed with.
type denyReasonData struct {
	// Reason is the denier's reason.
	Reason string
}

// denyReasonTemplate parses approvals.deny_with_reason_query and checks it
// by running it on a sample reason: it must mention {{.Reason}} and give a
// non-empty query.
func denyReasonTemplate(text string) (*template.Template, error) {
	if strings.TrimSpace(text) == "" {
		return nil, errors.New(`must not be empty (for example "deny: {{.Reason}}")`)
	}
	tpl, err := template.New("deny_with_reason_query").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("is not a valid template (fix its {{ }} parts): %w", err)
	}
	const sample = "sample reason"
	var out strings.Builder
	if err := tpl.Execute(&out, denyReasonData{Reason: sample}); err != nil {
		return nil, fmt.Errorf("cannot be run (only {{.Reason}} is known): %w", err)
	}
	if !strings.Contains(out.String(), sample) {
		return nil, errors.New(`must contain {{.Reason}}, or the agent never hears the reason`)
	}
	return tpl, nil
}

func validatePolicy(path string, policy ApprovalPolicy, approvers []string, platforms []string, ps *chat.ConfigProblems) {
	switch policy {
	case PolicyRequester, PolicyAnyone:
	case PolicyApprovers:
		if len(approvers) == 0 {
			ps.Add(chat.JoinPath(path, "approvers"), "must list at least one approver when policy is approvers")
		}
	default:
		ps.Add(chat.JoinPath(path, "policy"), "must be requester, approvers or anyone, not %q", policy)
	}
	example := "chat"
	if len(platforms) > 0 {
		example = platforms[0]
	}
	for i, a := range approvers {
		platform, id, ok := strings.Cut(a, ":")
		if !ok || platform == "" || id == "" {
			ps.Add(fmt.Sprintf("%s.approvers[%d]", path, i), "must be platform:userid (e.g. %s:U123), not %q", example, a)
		}
	}
}

// route is the resolved route of one conversation.
type route struct {
	agent         string
	mode          chat.Mode
	variables     map[string]any
	allowUsers    []string
	allowChannels []string
	policy        ApprovalPolicy
	approvers     []string
}

// routeFor resolves the first matching channel route, filling empty fields
// from the default route and the global approval policy.
func (c *Config) routeFor(key chat.ConversationKey) route {
	t := c.Routes.Default
	for _, rt := range c.Routes.Channels {
		if matches(rt.Platform, key.Platform) && matches(rt.Workspace, key.Workspace) && matches(rt.Channel, key.Channel) {
			d := c.Routes.Default
			t = rt.RouteTarget
			if t.Agent == "" {
				t.Agent = d.Agent
			}
			if t.Mode == "" {
				t.Mode = d.Mode
			}
			if t.Variables == nil {
				t.Variables = d.Variables
			}
			break
		}
	}
	r := route{
		agent:         t.Agent,
		mode:          t.Mode,
		variables:     t.Variables,
		allowUsers:    t.AllowUsers,
		allowChannels: t.AllowChannels,
		policy:        c.Approvals.Policy,
		approvers:     c.Approvals.Approvers,
	}
	if r.mode == "" {
		r.mode = chat.ModeStream
	}
	if t.Approvals != nil {
		r.policy, r.approvers = t.Approvals.Policy, t.Approvals.Approvers
	}
	return r
}

func matches(pattern, value string) bool { return pattern == "" || pattern == value }

// allows reports whether the route's allow-lists admit the user in the channel.
func (r route) allows(key chat.ConversationKey, user chat.User) bool {
	if len(r.allowChannels) > 0 && !slices.Contains(r.allowChannels, key.Channel) {
		return false
	}
	if len(r.allowUsers) > 0 &&
		!slices.Contains(r.allowUsers, user.ID) && !slices.Contains(r.allowUsers, key.Platform+":"+user.ID) {
		return false
	}
	return true
}

// mayStop reports whether user on platform may stop (or, with
// PolicyRequester, retry) a run of this route, under policy.
func (r route) mayStop(policy ApprovalPolicy, rec chat.RunRecord, platform string, user chat.User) bool {
	if platform != rec.Key.Platform || user.ID == "" {
		return false
	}
	switch policy {
	case PolicyAnyone:
		return true
	case PolicyApprovers:
		return slices.Contains(r.approvers, platform+":"+user.ID)
	default:
		return user.ID == rec.Requester
	}
}

// mayDecide reports whether user on platform may decide an approval of this route.
func (r route) mayDecide(a chat.Approval, platform string, user chat.User) bool {
	if platform != a.Key.Platform || user.ID == "" {
		return false
	}
	switch r.policy {
	case PolicyAnyone:
		return true
	case PolicyApprovers:
		return slices.Contains(r.approvers, platform+":"+user.ID)
	default:
		return user.ID == a.Requester
	}
}
