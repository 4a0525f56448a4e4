package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

// TestReplicaDatabaseOutage cuts a replica off its PostgreSQL database: its
// /readyz turns 503 naming the store, a Slack message it gets meanwhile is
// answered 503 (so Slack delivers it again) and starts nothing; once the
// database answers again /readyz is 200, and Slack's retry of the message
// is answered, once.
func TestReplicaDatabaseOutage(t *testing.T) {
	const key = "pk-e2e-outage"
	api, _ := replicaAgent(t, key)
	fake := slackfake.New(t)
	proxy, dsn := startDBProxy(t, postgrestest.DSN(t))
	t.Setenv("PB_E2E_KEY", key)
	t.Setenv("PB_E2E_DSN", dsn)
	cfg := replicaConfig(t, api.URL, fake)

	p := startProgram(t, strings.NewReader(""), "run", "--config", cfg)
	side := "http://" + (<-p.sidePort).String()
	events := "http://" + logAddr(t, p.stderr, "slack http mode listening") + "/slack/events"
	body := waitHTTP(t, side+"/readyz", http.StatusOK, "store: ok\n")
	assert.Contains(t, body, "slack: ok\n")

	proxy.Cut()
	body = waitHTTP(t, side+"/readyz", http.StatusServiceUnavailable, "store: database unreachable: ")
	assert.Contains(t, body, "slack: ok\n", "only the store is down")
	assert.NotContains(t, body, "PB_E2E", "no DSN in the answer")

	ev := fake.Mention("C1", "U1", "are you there?")
	resp, err := fake.PostEvent(events, ev, slackfake.PostOptions{})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "Slack is told to deliver the message again")
	assert.Empty(t, fake.Thread(ev.Channel, ev.TS), "nothing was started")
	p.stderr.waitFor(t, "answered 503 so Slack delivers it again")

	proxy.Restore()
	waitHTTP(t, side+"/readyz", http.StatusOK, "store: ok\n")
	p.stderr.waitFor(t, "database reachable again")

	// Slack's retries: the first is taken, the next is a duplicate.
	for retry := 1; retry <= 2; retry++ {
		resp, err = fake.PostEvent(events, ev, slackfake.PostOptions{RetryNum: retry})
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "retry %d", retry)
	}
	waitFake(t, fake, "the answer to the retried message", 60*time.Second, func() bool { return answered(fake, ev) })
	p.stderr.waitFor(t, "run finished")
	n := 0
	for _, m := range fake.Thread(ev.Channel, ev.TS) {
		if strings.Contains(m.Text+m.BlockText(), quickAnswer) {
			n++
		}
	}
	assert.Equal(t, 1, n, "answered once")

	p.cancel()
	assert.Equal(t, exitOK, p.wait(t))
}

// TestReplicaDatabaseOutageDuringRun cuts a replica off its database in
// the middle of a stream, for longer than the lease: the run stops writing
// once its lease cannot be renewed in time, and when the database answers
// again the replica finds the run nobody holds and finalises it as
// interrupted, once; the conversation takes new messages again.
func TestReplicaDatabaseOutageDuringRun(t *testing.T) {
	const key = "pk-e2e-outage-run"
	api, slow := replicaAgent(t, key)
	fake := slackfake.New(t)
	proxy, dsn := startDBProxy(t, postgrestest.DSN(t))
	t.Setenv("PB_E2E_KEY", key)
	t.Setenv("PB_E2E_DSN", dsn)
	cfg := replicaConfig(t, api.URL, fake)

	p := startProgram(t, strings.NewReader(""), "run", "--config", cfg)
	side := "http://" + (<-p.sidePort).String()
	events := "http://" + logAddr(t, p.stderr, "slack http mode listening") + "/slack/events"
	waitHTTP(t, side+"/readyz", http.StatusOK, "store: ok\n")

	ev := fake.Mention("C1", "U1", slowQuery)
	resp, err := fake.PostEvent(events, ev, slackfake.PostOptions{})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	placeholder := placeholderOf(t, fake, ev)
	waitFake(t, fake, "the slow run's steps", 60*time.Second, func() bool { return updatesOf(fake, placeholder, "Step ") >= 2 })

	proxy.Cut()
	p.stderr.waitFor(t, "conversation lease lost: its run writes nothing more")
	waitHTTP(t, side+"/readyz", http.StatusServiceUnavailable, "store: database unreachable: ")
	assert.Zero(t, updatesOf(fake, placeholder, interruptedNotice), "nobody can finalise the run while the database is away")

	proxy.Restore()
	waitFake(t, fake, "the interrupted notice once the database is back", 60*time.Second, func() bool {
		return updatesOf(fake, placeholder, interruptedNotice) >= 1
	})
	waitHTTP(t, side+"/readyz", http.StatusOK, "store: ok\n")

	next := fake.Reply("C1", ev.TS, "U1", "<@"+slackfake.BotUserID+"> and now?")
	resp, err = fake.PostEvent(events, next, slackfake.PostOptions{})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	waitFake(t, fake, "the answer in the same thread", 60*time.Second, func() bool { return answered(fake, ev) })
	assert.Equal(t, 1, updatesOf(fake, placeholder, interruptedNotice), "finalised once")
	m, ok := fake.Message(ev.Channel, placeholder)
	require.True(t, ok)
	assert.True(t, strings.HasPrefix(m.BlockText(), interruptedNotice), "the run that lost its lease wrote nothing after: %q", m.BlockText())
	assert.Equal(t, int32(1), slow.Load(), "the interrupted turn is not sent again on its own")

	p.cancel()
	assert.Equal(t, exitOK, p.wait(t))
}
