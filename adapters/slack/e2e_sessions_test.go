package slack_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack"
	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

func TestE2EAgentSessionProcessingThenActive(t *testing.T) {
	r := newRig(t, stepsAgent("Done.", "Searching"), func(c *slack.Config) { c.AgentSessions = true })
	ev := r.fake.Mention("C1", "U1", "go")
	_, err := r.fake.SendEvent(ev, 0)
	require.NoError(t, err)
	r.fake.Await(t, "processing", func() bool { return len(r.fake.SessionStatuses("C1", ev.TS)) >= 1 })
	assert.Equal(t, []string{"processing"}, r.fake.SessionStatuses("C1", ev.TS), "processing while the run works")
	r.threadShows(t, "C1", ev.TS, "Done.")
	r.fake.Await(t, "back to active", func() bool { return len(r.fake.SessionStatuses("C1", ev.TS)) == 2 })
	assert.Equal(t, []string{"processing", "active"}, r.fake.SessionStatuses("C1", ev.TS))

	// A second run moves the same session again.
	reply := r.fake.Reply("C1", ev.TS, "U1", "<@"+slackfake.BotUserID+"> again")
	_, err = r.fake.SendEvent(reply, 0)
	require.NoError(t, err)
	r.fake.Await(t, "the second run's statuses", func() bool { return len(r.fake.SessionStatuses("C1", ev.TS)) == 4 })
	assert.Equal(t, []string{"processing", "active", "processing", "active"}, r.fake.SessionStatuses("C1", ev.TS))
	r.assertNoRejectedCalls(t)
}

func TestE2EAgentSessionsOffByDefault(t *testing.T) {
	r := newRig(t, promptevtest.Agent{Script: []promptevtest.Event{{Type: promptevtest.TypeDone, Output: "Done."}}}, nil)
	ev := r.fake.Mention("C1", "U1", "go")
	_, err := r.fake.SendEvent(ev, 0)
	require.NoError(t, err)
	r.threadShows(t, "C1", ev.TS, "Done.")
	assert.Empty(t, r.fake.Calls("agents.sessions.setStatus"))
}

func TestE2EAgentSessionsMissingIsRemembered(t *testing.T) {
	r := newRig(t, promptevtest.Agent{Script: []promptevtest.Event{{Type: promptevtest.TypeDone, Output: "Done."}}},
		func(c *slack.Config) { c.AgentSessions = true })
	r.fake.FailMethod("agents.sessions.setStatus", "not_allowed_token_type")
	var threads []string
	for _, text := range []string{"one", "two"} {
		ev := r.fake.Mention("C1", "U1", text)
		_, err := r.fake.SendEvent(ev, 0)
		require.NoError(t, err)
		r.threadShows(t, "C1", ev.TS, "Done.")
		r.fake.Await(t, "the run's end", func() bool { return r.fake.ThreadStatus("C1", ev.TS) == "" })
		threads = append(threads, ev.TS)
	}
	calls := r.fake.Calls("agents.sessions.setStatus")
	require.NotEmpty(t, calls)
	for _, c := range calls {
		// The first run's calls may overlap (its processing and active);
		// once refused, the lane is not asked again.
		assert.Equal(t, threads[0], c.ThreadTS, "the second run does not ask again")
	}
	assert.Contains(t, r.adapter.LaneFallbacks(), slack.LaneFallback{Workspace: slackfake.TeamID, Lane: "agent_sessions", Error: "not_allowed_token_type"})
}

func TestAgentSessionsAllowed(t *testing.T) {
	for _, tt := range []struct {
		name    string
		scopes  []string
		ok      bool
		missing []string
	}{
		{"declared as an agent", []string{"chat:write", "assistant:write", "app_mentions:read"}, true, nil},
		{"not an agent", []string{"chat:write", "app_mentions:read"}, false, []string{"assistant:write"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake := slackfake.New(t, slackfake.WithScopes(tt.scopes...))
			cfg := slack.DefaultConfig()
			cfg.Enabled, cfg.BotToken, cfg.AppToken, cfg.APIURL = true, slackfake.BotToken, slackfake.AppToken, fake.APIURL()
			a, err := slack.New(cfg, nil)
			require.NoError(t, err)
			ok, missing, err := a.AgentSessionsAllowed(context.Background())
			require.NoError(t, err)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.missing, missing)
		})
	}
}
