package bridge_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// fastLimits are Slack-shaped limits with short intervals, for tests in real
// time against the loopback promptevtest server.
func fastLimits() chat.Limits {
	return chat.Limits{
		MaxMessageChars: 3900,
		MinEditInterval: 5 * time.Millisecond,
		EditRate:        chat.Rate{Count: 1000, Per: time.Second, Burst: 20},
		EditScope:       chat.ScopeWorkspace,
		PostRate:        chat.Rate{Count: 1000, Per: time.Second, Burst: 20},
		PostScope:       chat.ScopeChannel,
	}
}

// liveRig is a Bridge on the real promptev client and a promptevtest server.
type liveRig struct {
	*rig
	srv *promptevtest.Server
}

func startLive(t *testing.T, agents map[string]promptevtest.Agent, opts ...rigOption) *liveRig {
	t.Helper()
	return startLiveClient(t, agents, nil, opts...)
}

// startLiveClient is startLive with options for the Promptev client.
func startLiveClient(t *testing.T, agents map[string]promptevtest.Agent, clientOpts []promptev.Option, opts ...rigOption) *liveRig {
	t.Helper()
	srv := promptevtest.NewServer("pk-test")
	t.Cleanup(srv.Close)
	for id, a := range agents {
		srv.AddAgent(id, a)
	}
	client, err := promptev.New("pk-test", append([]promptev.Option{promptev.WithBaseURL(srv.URL)}, clientOpts...)...)
	require.NoError(t, err)
	p := bridgetest.NewPlatform("slack", fastLimits(), bridgetest.WithVisitorID(workspaceVisitor))
	r := startRig(t, bridge.ClientAgent(client), append([]rigOption{withPlatform(p)}, opts...)...)
	t.Cleanup(r.stop)
	return &liveRig{rig: r, srv: srv}
}

// waitTexts waits (up to 10 s of real time) until key shows want.
func (r *liveRig) waitTexts(t *testing.T, key chat.ConversationKey, want ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := r.p.WaitFor(ctx, func() bool {
		got := r.texts(key)
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if !strings.Contains(got[i], want[i]) {
				return false
			}
		}
		return true
	})
	require.NoError(t, err, "texts now: %q", r.texts(key))
}

// startBodies returns the JSON bodies of the server's start requests.
func startBodies(t *testing.T, srv *promptevtest.Server) []map[string]any {
	var out []map[string]any
	for _, req := range srv.Requests() {
		if strings.HasSuffix(req.Path, "/start") {
			var m map[string]any
			require.NoError(t, json.Unmarshal(req.Body, &m))
			out = append(out, m)
		}
	}
	return out
}

func TestPromptevConversation(t *testing.T) {
	r := startLive(t, map[string]promptevtest.Agent{"agent-1": {
		MemoryEnabled: true,
		Script: []promptevtest.Event{
			{Type: promptevtest.TypeThoughts, Output: "thinking about {{query}}"},
			{Type: promptevtest.TypeProcessing, Output: "Searching Jira"},
			{Type: promptevtest.TypeDone, Output: "You said {{query}}; before: {{history}} @everyone"},
		},
	}})
	key := engKey("1")
	r.send(key, "U1", "first")
	r.waitTexts(t, key, "You said first; before: ")
	m := r.msg(key, "U2", "second")
	m.Mentioned = false
	require.NoError(t, r.b.HandleMessage(t.Context(), m))
	r.waitTexts(t, key, "You said first", "You said second; before: first")

	starts := startBodies(t, r.srv)
	require.Len(t, starts, 1, "one session for the conversation")
	assert.Equal(t, "slack:T1:U1", starts[0]["visitor"])
	assert.Equal(t, "slack", starts[0]["platform"])
	body := r.p.Messages(key)[1].Message.Body
	assert.NotContains(t, body, "@everyone", "mentions neutralised")
	assert.Equal(t, 2, r.metrics.count("event:processing"))
	assert.Equal(t, 2, r.metrics.count("event:thoughts"))
}

func TestPromptevApprovalRoundTrip(t *testing.T) {
	r := startLive(t, map[string]promptevtest.Agent{"agent-1": {
		Script: []promptevtest.Event{
			{Type: promptevtest.TypeProcessing, Output: "Preparing refund"},
			{Type: promptevtest.TypeApprovalRequired, Output: "Refund $40 to order 1234?", Tool: "billing.refund",
				Arguments: map[string]any{"order": 1234, "amount": 40}},
		},
		OnApprove: []promptevtest.Event{{Type: promptevtest.TypeDone, Output: "Refunded."}},
	}})
	key := engKey("1")
	r.send(key, "U1", "refund order 1234")
	r.waitTexts(t, key, "Waiting for approval", "Refund $40")
	card := r.p.Messages(key)[1]
	require.NotNil(t, card.Message.Approval)
	assert.Equal(t, "billing.refund", card.Message.Approval.Tool)
	assert.Contains(t, card.Message.Approval.Arguments, `"order":1234`)

	res, err := r.b.HandleAction(t.Context(), chat.Action{Platform: "slack", Kind: chat.Approve,
		Target: card.Message.Approval.ID, User: chat.User{ID: "U1", Name: "Ana"}})
	require.NoError(t, err)
	assert.True(t, res.Accepted)
	r.waitTexts(t, key, "Continuing: approved by Ana", "Approved by Ana", "Refunded.")
}

func TestPromptevSessionForgottenRestartsOnce(t *testing.T) {
	r := startLive(t, map[string]promptevtest.Agent{"agent-1": {}})
	key := engKey("1")
	r.send(key, "U1", "one")
	r.waitTexts(t, key, "You said: one")
	r.srv.ForgetSessions()
	r.send(key, "U1", "two")
	r.waitTexts(t, key, "You said: one", "You said: two", "started a new one")
	assert.Len(t, startBodies(t, r.srv), 2)
}

func TestPromptevStreamFaults(t *testing.T) {
	tests := []struct {
		name   string
		fault  promptevtest.Fault
		notice string
	}{
		{"EOF without done", promptevtest.Fault{Kind: promptevtest.FaultEOFWithoutDone, Times: 1}, "ended unexpectedly"},
		{"disconnect", promptevtest.Fault{Kind: promptevtest.FaultDisconnect, AfterEvents: 1, Times: 1}, "⚠️"},
		{"server error", promptevtest.Fault{Kind: promptevtest.FaultStatus, Status: 500, Call: promptevtest.CallStream, Times: 1}, "failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startLive(t, map[string]promptevtest.Agent{"agent-1": {Script: []promptevtest.Event{
				{Type: promptevtest.TypeProcessing, Output: "Working"},
				{Type: promptevtest.TypeDone, Output: "never seen"},
			}}})
			r.srv.InjectFault(tt.fault)
			key := engKey("1")
			r.send(key, "U1", "go")
			r.waitTexts(t, key, tt.notice)
			assert.NotContains(t, r.texts(key)[0], "never seen")
		})
	}
}

// TestPromptevIdleStream: the one idle watchdog is the client's read-idle
// timeout (promptev.idle_timeout); the engine turns its error into a notice.
func TestPromptevIdleStream(t *testing.T) {
	r := startLiveClient(t, map[string]promptevtest.Agent{"agent-1": {Script: []promptevtest.Event{
		{Type: promptevtest.TypeProcessing, Output: "Working"},
		{Type: promptevtest.TypeDone, Output: "never seen"},
	}}}, []promptev.Option{promptev.WithIdleTimeout(300 * time.Millisecond)})
	r.srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultStall, AfterEvents: 1, Times: 1})
	key := engKey("1")
	r.send(key, "U1", "go")
	r.waitTexts(t, key, "stopped responding")
}

func TestPromptevTriggerMode(t *testing.T) {
	r := startLive(t, map[string]promptevtest.Agent{"trig": {MemoryEnabled: true,
		Script: []promptevtest.Event{{Type: promptevtest.TypeDone, Output: "T: {{query}} after {{history}}"}}}},
		withConfig(func(c *bridge.Config) {
			c.Routes.Default.Agent = "trig"
			c.Routes.Default.Mode = chat.ModeTrigger
			c.Routes.Default.Variables = map[string]any{"company": "Acme"}
		}))
	key := engKey("1")
	r.send(key, "U1", "a")
	r.waitTexts(t, key, "T: a after")
	r.send(key, "U1", "b")
	r.waitTexts(t, key, "T: a after", "T: b after a")
	var trig []map[string]any
	for _, req := range r.srv.Requests() {
		if strings.HasSuffix(req.Path, "/trigger") {
			var m map[string]any
			require.NoError(t, json.Unmarshal(req.Body, &m))
			trig = append(trig, m)
		}
	}
	require.Len(t, trig, 2)
	assert.Equal(t, map[string]any{"company": "Acme"}, trig[0]["variables"])
	assert.Equal(t, "slack:T1:U1", trig[0]["visitor"])
	assert.NotEmpty(t, trig[1]["session_id"])
}
