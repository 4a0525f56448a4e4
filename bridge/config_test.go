package bridge

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func validConfig() Config {
	c := DefaultConfig()
	c.Routes.Default.Agent = "agent-1"
	return c
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		paths []string
	}{
		{"defaults with an agent", func(*Config) {}, nil},
		{"no default agent", func(c *Config) { c.Routes.Default.Agent = "" }, []string{"routes.default.agent"}},
		{"bad default mode", func(c *Config) { c.Routes.Default.Mode = "batch" }, []string{"routes.default.mode"}},
		{"bad channel route", func(c *Config) {
			c.Routes.Channels = []Route{
				{Platform: "slack", Channel: "C1"},
				{Platform: "irc", RouteTarget: RouteTarget{Mode: "fast", AllowUsers: []string{""}}},
			}
		}, []string{"routes.channels[1].platform", "routes.channels[1].mode", "routes.channels[1].allow_users[0]"}},
		{"route approvals override", func(c *Config) {
			c.Routes.Channels = []Route{{RouteTarget: RouteTarget{Approvals: &RouteApprovals{Policy: PolicyApprovers}}}}
		}, []string{"routes.channels[0].approvals.approvers"}},
		{"bad policy", func(c *Config) { c.Approvals.Policy = "boss" }, []string{"approvals.policy"}},
		{"bad approver", func(c *Config) {
			c.Approvals.Policy = PolicyApprovers
			c.Approvals.Approvers = []string{"slack:U1", "U2"}
		}, []string{"approvals.approvers[1]"}},
		{"approval numbers and queries", func(c *Config) {
			c.Approvals.Timeout = 0
			c.Approvals.ApproveQuery = " "
			c.Approvals.DenyQuery = ""
		}, []string{"approvals.timeout", "approvals.approve_query", "approvals.deny_query"}},
		{"render", func(c *Config) {
			c.Render.ShowThoughts = "some"
			c.Render.Steps = -1
			c.Render.FinalDeadline = 0
		}, []string{"render.show_thoughts", "render.steps", "render.final_deadline"}},
		{"runs", func(c *Config) {
			c.Runs.QueueSize = -1
			c.Runs.ShutdownGrace = -time.Second
			c.Runs.DedupeTTL = 5 * time.Minute
			c.Runs.RunTimeout = 0
		}, []string{"runs.queue_size", "runs.shutdown_grace", "runs.dedupe_ttl", "runs.run_timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.edit(&c)
			var got []string
			for _, p := range c.Validate("slack", "discord", "console") {
				got = append(got, p.Path)
				assert.NotEmpty(t, p.Message)
			}
			assert.Equal(t, tt.paths, got)
		})
	}
}

func TestRoutePlatformsAreTheRegisteredOnes(t *testing.T) {
	c := validConfig()
	c.Routes.Channels = []Route{{Platform: "irc", Channel: "C1"}, {Platform: "matrix", Channel: "C2"}}
	ps := c.Validate("irc", "web", "telegram")
	require.Len(t, ps, 1)
	assert.Equal(t, "routes.channels[1].platform", ps[0].Path)
	assert.Equal(t, `unknown platform "matrix" (irc, web or telegram)`, ps[0].Message, "the error lists the registered names")

	assert.Empty(t, c.Validate(), "without registered names, route platforms are not checked (bridge.New)")

	c.Approvals.Policy, c.Approvals.Approvers = PolicyApprovers, []string{"U2"}
	c.Routes.Channels = nil
	ps = c.Validate("web")
	require.Len(t, ps, 1)
	assert.Contains(t, ps[0].Message, "e.g. web:U123", "the example names a registered platform")
}

func TestDefaultConfigValues(t *testing.T) {
	c := DefaultConfig()
	assert.Equal(t, chat.ModeStream, c.Routes.Default.Mode)
	assert.Equal(t, PolicyRequester, c.Approvals.Policy)
	assert.Equal(t, 30*time.Minute, c.Approvals.Timeout)
	assert.Equal(t, "approve", c.Approvals.ApproveQuery)
	assert.Equal(t, "deny", c.Approvals.DenyQuery)
	assert.Equal(t, ThoughtsLatest, c.Render.ShowThoughts)
	assert.Equal(t, 5, c.Render.Steps)
	assert.Equal(t, 2*time.Second, c.Render.FinalDeadline)
	assert.Equal(t, 5, c.Runs.QueueSize)
	assert.Equal(t, 20*time.Second, c.Runs.ShutdownGrace)
	assert.GreaterOrEqual(t, c.Runs.DedupeTTL, 10*time.Minute)
}

func TestConfigYAML(t *testing.T) {
	src := `
routes:
  default: {agent: main, mode: stream}
  channels:
    - {platform: slack, workspace: T1, channel: C1, agent: other, mode: trigger, variables: {company: Acme}}
    - platform: discord
      allow_users: [discord:42]
      approvals: {policy: approvers, approvers: ["discord:7"]}
approvals:
  policy: anyone
  timeout: 10m
render:
  show_thoughts: off
  steps: 3
  final_deadline: 1500ms
runs:
  queue_size: 2
  dedupe_ttl: 20m
`
	c := DefaultConfig()
	require.NoError(t, yaml.Unmarshal([]byte(src), &c))
	require.Empty(t, c.Validate())
	assert.Equal(t, "other", c.Routes.Channels[0].Agent)
	assert.Equal(t, chat.ModeTrigger, c.Routes.Channels[0].Mode)
	assert.Equal(t, map[string]any{"company": "Acme"}, c.Routes.Channels[0].Variables)
	assert.Equal(t, []string{"discord:42"}, c.Routes.Channels[1].AllowUsers)
	assert.Equal(t, 10*time.Minute, c.Approvals.Timeout)
	assert.Equal(t, "approve", c.Approvals.ApproveQuery, "unset keys keep defaults")
	assert.Equal(t, ThoughtsOff, c.Render.ShowThoughts)
	assert.Equal(t, 1500*time.Millisecond, c.Render.FinalDeadline)
	assert.Equal(t, 2, c.Runs.QueueSize)
	assert.Equal(t, 20*time.Second, c.Runs.ShutdownGrace)
}

func TestRouteFor(t *testing.T) {
	c := validConfig()
	c.Routes.Default.Variables = map[string]any{"v": 1}
	c.Routes.Channels = []Route{
		{Platform: "slack", Workspace: "T1", Channel: "C1", RouteTarget: RouteTarget{Agent: "a1", Mode: chat.ModeTrigger}},
		{Platform: "slack", Workspace: "T1", RouteTarget: RouteTarget{Agent: "a2"}},
		{Platform: "discord", RouteTarget: RouteTarget{Approvals: &RouteApprovals{Policy: PolicyAnyone}}},
		{Platform: "slack", Channel: "C1", RouteTarget: RouteTarget{Agent: "never"}},
	}
	tests := []struct {
		name   string
		key    chat.ConversationKey
		agent  string
		mode   chat.Mode
		policy ApprovalPolicy
	}{
		{"exact channel", chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: "C1"}, "a1", chat.ModeTrigger, PolicyRequester},
		{"workspace wide", chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: "C9"}, "a2", chat.ModeStream, PolicyRequester},
		{"platform wide, inherits agent", chat.ConversationKey{Platform: "discord", Workspace: "G", Channel: "9"}, "agent-1", chat.ModeStream, PolicyAnyone},
		{"first match wins", chat.ConversationKey{Platform: "slack", Workspace: "T2", Channel: "C1"}, "never", chat.ModeStream, PolicyRequester},
		{"default", chat.ConversationKey{Platform: "console", Channel: "tty"}, "agent-1", chat.ModeStream, PolicyRequester},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.routeFor(tt.key)
			assert.Equal(t, tt.agent, r.agent)
			assert.Equal(t, tt.mode, r.mode)
			assert.Equal(t, tt.policy, r.policy)
			assert.Equal(t, map[string]any{"v": 1}, r.variables)
		})
	}
}

func TestRouteAllows(t *testing.T) {
	key := chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: "C1"}
	tests := []struct {
		name string
		r    route
		key  chat.ConversationKey
		user string
		want bool
	}{
		{"no lists", route{}, key, "U1", true},
		{"user listed bare", route{allowUsers: []string{"U1"}}, key, "U1", true},
		{"user listed qualified", route{allowUsers: []string{"slack:U1"}}, key, "U1", true},
		{"user qualified for another platform", route{allowUsers: []string{"discord:U1"}}, key, "U1", false},
		{"user not listed", route{allowUsers: []string{"U2"}}, key, "U1", false},
		{"channel listed", route{allowChannels: []string{"C1"}}, key, "U1", true},
		{"channel not listed", route{allowChannels: []string{"C2"}}, key, "U1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.r.allows(tt.key, chat.User{ID: tt.user}))
		})
	}
}

func TestMayDecide(t *testing.T) {
	a := chat.Approval{Key: chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: "C1"}, Requester: "U1"}
	tests := []struct {
		name     string
		r        route
		platform string
		user     string
		want     bool
	}{
		{"requester", route{policy: PolicyRequester}, "slack", "U1", true},
		{"not requester", route{policy: PolicyRequester}, "slack", "U2", false},
		{"requester id on another platform", route{policy: PolicyRequester}, "discord", "U1", false},
		{"listed approver", route{policy: PolicyApprovers, approvers: []string{"slack:U9"}}, "slack", "U9", true},
		{"requester is not an approver", route{policy: PolicyApprovers, approvers: []string{"slack:U9"}}, "slack", "U1", false},
		{"approver of another platform", route{policy: PolicyApprovers, approvers: []string{"discord:U9"}}, "slack", "U9", false},
		{"anyone", route{policy: PolicyAnyone}, "slack", "U5", true},
		{"anyone, but not from elsewhere", route{policy: PolicyAnyone}, "discord", "U5", false},
		{"no user id", route{policy: PolicyAnyone}, "slack", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.r.mayDecide(a, tt.platform, chat.User{ID: tt.user}))
		})
	}
}

func TestLiveView(t *testing.T) {
	var v liveView
	assert.Equal(t, chat.Message{Kind: chat.KindStatus, Status: thinkingText}, v.message(0))
	for i := 1; i <= 7; i++ {
		v.addStep("step "+strings.Repeat("x", i), 3)
	}
	m := v.message(0)
	assert.Equal(t, "step xxxxxxx", m.Status)
	require.Len(t, m.Steps, 3)
	assert.Equal(t, []chat.Step{{Text: "step xxxxx", Done: true, Seq: 5}, {Text: "step xxxxxx", Done: true, Seq: 6}, {Text: "step xxxxxxx", Seq: 7}}, m.Steps, "each step keeps its position in the run")
	m.Steps[0].Text = "mutated"
	assert.Equal(t, "step xxxxx", v.message(0).Steps[0].Text, "rendered steps are a copy")
	assert.Equal(t, chat.Message{Kind: chat.KindStatus, Status: "✓ 7 steps", Final: true}, v.summary())
	v.finishSteps()
	assert.True(t, v.message(0).Steps[2].Done)

	var one liveView
	one.addStep("only", 5)
	assert.Equal(t, "✓ 1 step", one.summary().Status)
	assert.Equal(t, "✓ Done", (&liveView{}).summary().Status)

	var none liveView
	none.addStep("hidden", 0)
	assert.Empty(t, none.message(0).Steps)
	assert.Equal(t, "hidden", none.message(0).Status)
}

func TestLiveViewThoughts(t *testing.T) {
	var latest liveView
	latest.addThought("first", ThoughtsLatest)
	latest.addThought("second", ThoughtsLatest)
	assert.Equal(t, "second", latest.message(0).Thought)

	var all liveView
	all.addThought("first", ThoughtsAll)
	all.addThought("second", ThoughtsAll)
	assert.Equal(t, "first\nsecond", all.message(0).Thought)
	for range 10 {
		all.addThought(strings.Repeat("t", 400), ThoughtsAll)
	}
	assert.LessOrEqual(t, utf8.RuneCountInString(all.message(0).Thought), maxThoughtsAllRunes)

	var off liveView
	off.addThought("hidden", ThoughtsOff)
	assert.Empty(t, off.message(0).Thought)
}

func TestLiveViewFitsLimit(t *testing.T) {
	var v liveView
	for i := range 5 {
		v.addStep(strings.Repeat("s", 150)+string(rune('a'+i)), 5)
	}
	v.addThought(strings.Repeat("t", 450), ThoughtsLatest)
	m := v.message(600)
	n := utf8.RuneCountInString(m.Status) + utf8.RuneCountInString(m.Thought) + 1
	for _, s := range m.Steps {
		n += utf8.RuneCountInString(s.Text) + 3
	}
	assert.LessOrEqual(t, n, 600)
	require.NotEmpty(t, m.Steps)
	assert.True(t, strings.HasSuffix(m.Steps[len(m.Steps)-1].Text, "e"), "the newest step stays")
	assert.Len(t, v.message(10_000).Steps, 5)
}

func TestVisitorID(t *testing.T) {
	plain := bridgetest.NewPlatform("chat", bridgetest.WorkspaceLimits())
	assert.Equal(t, "chat:42", visitorID(plain, chat.ConversationKey{Platform: "chat", Workspace: "G", Channel: "C"}, chat.User{ID: "42"}),
		"a platform without a VisitorNamer gets platform:user")
	named := visitorNamer{plain}
	assert.Equal(t, "chat/T1/U1", visitorID(named, chat.ConversationKey{Platform: "chat", Workspace: "T1", Channel: "C"}, chat.User{ID: "U1"}),
		"a VisitorNamer names its own visitors")
}

// visitorNamer is a platform with its own visitor rule.
type visitorNamer struct{ *bridgetest.Platform }

func (visitorNamer) VisitorID(key chat.ConversationKey, u chat.User) string {
	return key.Platform + "/" + key.Workspace + "/" + u.ID
}
