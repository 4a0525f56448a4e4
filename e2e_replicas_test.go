package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack"
	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

// echoAgent shows a step and answers with the query.
const echoAgent = `
name: Echo
script:
  - {type: processing, output: "Looking into {{query}}"}
  - {type: done, output: "Answer: {{query}}"}
`

// startReplicaPromptev serves the echo agent as "echo" and the approval
// agent of the other e2e tests as "ops-agent".
func startReplicaPromptev(t *testing.T, key string) *promptevtest.Server {
	t.Helper()
	srv := startFakePromptev(t, key, "ops-agent")
	echo, err := promptevtest.LoadScript(strings.NewReader(echoAgent))
	require.NoError(t, err)
	srv.AddAgent("echo", echo)
	return srv
}

// streamQueries returns the query of every stream call the fake Promptev
// received.
func streamQueries(srv *promptevtest.Server) []string {
	var out []string
	for _, r := range srv.Requests() {
		if !strings.HasSuffix(r.Path, "/stream") {
			continue
		}
		var body struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(r.Body, &body); err == nil {
			out = append(out, body.Query)
		}
	}
	return out
}

// startReplicas starts n daemons on one PostgreSQL schema; slackSection is
// the slack: section of replica i.
func startReplicas(t *testing.T, n int, api *promptevtest.Server, agent string, slackSection func(i int) string) []*inProcess {
	t.Helper()
	dsn := postgrestest.DSN(t)
	t.Setenv("PB_E2E_DSN", dsn)
	t.Setenv("PB_SLACK_BOT", slackfake.BotToken)
	t.Setenv("PB_SLACK_APP", slackfake.AppToken)
	ps := make([]*inProcess, n)
	for i := range n {
		cfg := writeFile(t, fmt.Sprintf("replica-%d.yaml", i), fmt.Sprintf(`
promptev: {project_key: '${PB_E2E_KEY}', base_url: '%s'}
routes: {default: {agent: %s}}
store:
  backend: postgres
  postgres: {dsn: "${PB_E2E_DSN}", lease_ttl: 3s, replica_id: replica-%d, max_conns: 6}
%s
http: {listen: '127.0.0.1:0'}
log: {level: debug}
`, api.URL, agent, i, slackSection(i)))
		ps[i] = startProgram(t, strings.NewReader(""), "run", "--config", cfg)
		<-ps[i].sidePort
	}
	t.Cleanup(func() {
		for _, p := range ps {
			p.cancel()
			p.wait(t)
		}
	})
	return ps
}

// answers returns the texts of key's thread holding "Answer: ", in order.
func answers(fake *slackfake.Server, channel, ts string) []string {
	var out []string
	for _, m := range fake.Thread(channel, ts) {
		if txt := m.BlockText(); strings.Contains(txt, "Answer: ") {
			out = append(out, txt)
		}
	}
	return out
}

// TestEndToEndReplicasSlackSocket runs three replicas, each with its own
// Socket Mode connection to one Slack app. Every mention and follow-up is
// sent three times (retries land on other connections, hence other
// replicas) plus the mention's message twin: each gets exactly one stream
// call and one answer, follow-ups in order in their thread's session. An
// approval card posted by the replica that ran the turn is clicked on
// another replica's connection.
func TestEndToEndReplicasSlackSocket(t *testing.T) {
	const key = "pk-e2e-replicas"
	t.Setenv("PB_E2E_KEY", key)
	api := startReplicaPromptev(t, key)
	fake := slackfake.New(t)
	startReplicas(t, 3, api, "echo", func(int) string {
		return fmt.Sprintf(`slack:
  enabled: true
  mode: socket
  socket_connections: 1
  bot_token: ${PB_SLACK_BOT}
  app_token: ${PB_SLACK_APP}
  api_url: %s`, fake.APIURL())
	})
	fake.Await(t, "three socket connections", func() bool { return fake.OpenConnections() == 3 })

	const threads = 4
	mentions := make([]slackfake.Event, threads)
	for i := range threads {
		ev := fake.Mention("C1", "U1", fmt.Sprintf("question %d", i))
		mentions[i] = ev
		for attempt := range 3 {
			_, err := fake.SendEvent(ev, attempt)
			require.NoError(t, err)
		}
		_, err := fake.SendEvent(fake.Twin(ev), 0)
		require.NoError(t, err)
		reply := fake.Reply("C1", ev.TS, "U1", fmt.Sprintf("follow-up %d", i))
		for attempt := range 3 {
			_, err := fake.SendEvent(reply, attempt)
			require.NoError(t, err)
		}
	}
	for i, ev := range mentions {
		want := []string{fmt.Sprintf("Answer: question %d", i), fmt.Sprintf("Answer: follow-up %d", i)}
		fake.Await(t, fmt.Sprintf("thread %d's two answers", i), func() bool {
			got := answers(fake, "C1", ev.TS)
			return len(got) >= 2
		})
		assert.Equal(t, want, answers(fake, "C1", ev.TS), "each answer once, in order")
	}
	queries := streamQueries(api)
	assert.Len(t, queries, 2*threads, "one stream call per message: %q", queries)
	assert.Equal(t, threads, api.SessionCount(), "one session per thread")
}

// TestEndToEndReplicasSlackHTTP runs three replicas in Slack's HTTP mode:
// Slack posts each event to any of them and its retries to others.
func TestEndToEndReplicasSlackHTTP(t *testing.T) {
	const key = "pk-e2e-replicas-http"
	t.Setenv("PB_E2E_KEY", key)
	t.Setenv("PB_SLACK_SIGNING", slackfake.SigningSecret)
	api := startReplicaPromptev(t, key)
	fake := slackfake.New(t)
	addrs := make([]string, 3)
	for i := range addrs {
		addrs[i] = freeAddr(t)
	}
	startReplicas(t, 3, api, "ops-agent", func(i int) string {
		return fmt.Sprintf(`slack:
  enabled: true
  mode: http
  bot_token: ${PB_SLACK_BOT}
  signing_secret: ${PB_SLACK_SIGNING}
  listen: %s
  api_url: %s`, addrs[i], fake.APIURL())
	})
	events := func(i int) string { return "http://" + addrs[i] + "/slack/events" }
	interactions := func(i int) string { return "http://" + addrs[i] + "/slack/interactions" }
	for i := range addrs {
		awaitHTTP(t, events(i))
	}

	ev := fake.Mention("C1", "U1", "is prod down?")
	first := rand.IntN(3)
	var wg sync.WaitGroup
	for retry := range 3 {
		wg.Go(func() {
			resp, err := fake.PostEvent(events((first+retry)%3), ev, slackfake.PostOptions{RetryNum: retry})
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
		})
	}
	wg.Wait()

	var card slackfake.Message
	fake.Await(t, "approval card", func() bool {
		for _, m := range fake.Thread("C1", ev.TS) {
			if m.ButtonValue(slack.ActionApprove) != "" {
				card = m
				return true
			}
		}
		return false
	})
	// The click reaches every replica but one decides it.
	for i := range addrs {
		resp, err := fake.PostClick(interactions((first+1+i)%3), slackfake.ClickOn(card, "U1", slack.ActionApprove), slackfake.PostOptions{})
		require.NoError(t, err)
		resp.Body.Close()
	}
	fake.Await(t, "answer", func() bool {
		for _, m := range fake.Thread("C1", ev.TS) {
			if strings.Contains(m.BlockText(), "OPS-7") {
				return true
			}
		}
		return false
	})
	queries := streamQueries(api)
	assert.Equal(t, []string{"is prod down?", "approve"}, queries, "one turn and one continuation")
	assert.Equal(t, 1, api.SessionCount())
	n := 0
	for _, m := range fake.Thread("C1", ev.TS) {
		if strings.Contains(m.BlockText(), "OPS-7") {
			n++
		}
	}
	assert.Equal(t, 1, n, "one answer")
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// awaitHTTP waits until url answers at all.
func awaitHTTP(t *testing.T, url string) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := http.Post(url, "application/json", bytes.NewReader(nil))
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return true
	}, 30*time.Second, 20*time.Millisecond, "%s never answered", url)
}
