package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	slackadapter "github.com/promptev/promptev-bridge/adapters/slack"
	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/store"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

// replicaProcess is one `promptev-bridge run` child process.
type replicaProcess struct {
	id     string
	cmd    *exec.Cmd
	stderr *output
	// side and events are the base URL of its side port and its Slack
	// Events API URL.
	side, events string
	exited       chan struct{}
}

// startReplica starts `promptev-bridge run --config cfg` as a child
// process (the test binary running main(), as the signal tests do) with
// replica id id, and waits for its ports.
func startReplica(t *testing.T, id, cfg string, env ...string) *replicaProcess {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	r := &replicaProcess{id: id, stderr: newOutput(), exited: make(chan struct{})}
	r.cmd = exec.Command(exe, "run", "--config", cfg)
	r.cmd.Env = append(os.Environ(), append(env, "PB_TEST_RUN_MAIN=1", "PB_REPLICA_ID="+id)...)
	pipe, err := r.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, r.cmd.Start())
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(r.stderr, bufio.NewReader(pipe))
	}()
	go func() {
		<-copied
		_ = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.exited
		if t.Failed() {
			t.Logf("replica %s's log:\n%s", id, r.stderr.String())
		}
	})
	r.side = "http://" + logAddr(t, r.stderr, "side port listening")
	r.events = "http://" + logAddr(t, r.stderr, "slack http mode listening") + slackadapter.DefaultEventsPath
	return r
}

// stop ends the replica with SIGTERM, as systemd and Kubernetes do, and
// waits for it to exit.
func (r *replicaProcess) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-r.exited:
	case <-time.After(60 * time.Second): // failure guard only
		t.Fatalf("replica %s did not stop", r.id)
	}
}

// post delivers ev to the replica as Slack would in HTTP mode, signed.
func (r *replicaProcess) post(t *testing.T, fake *slackfake.Server, ev slackfake.Event) {
	t.Helper()
	resp, err := fake.PostEvent(r.events, ev, slackfake.PostOptions{})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestReplicaProcessKilled runs three `promptev-bridge run` processes on
// one PostgreSQL schema, the fake Promptev API and the fake Slack in HTTP
// mode. A mention whose answer streams for a minute is sent to one of
// them; the process running it is killed with SIGKILL in the middle of the
// stream. A survivor edits the dead process's placeholder to the
// interrupted notice with its Retry button within 30 s (the lease is 3 s),
// once, without sending the turn to the agent again; a new mention to a
// survivor is answered, and the survivors stay ready.
func TestReplicaProcessKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three child processes")
	}
	const key = "pk-e2e-replicas"
	api, slow := replicaAgent(t, key)
	fake := slackfake.New(t)
	dsn := postgrestest.DSN(t)
	cfg := replicaConfig(t, api.URL, fake)
	env := []string{"PB_E2E_KEY=" + key, "PB_E2E_DSN=" + dsn}

	replicas := map[string]*replicaProcess{}
	for _, id := range []string{"replica-a", "replica-b", "replica-c"} {
		replicas[id] = startReplica(t, id, cfg, env...)
	}
	for _, r := range replicas {
		waitHTTP(t, r.side+"/readyz", http.StatusOK, "store: ok\n")
	}

	ev := fake.Mention("C1", "U1", slowQuery)
	replicas["replica-a"].post(t, fake, ev)
	placeholder := placeholderOf(t, fake, ev)
	waitFake(t, fake, "the slow run's steps", 60*time.Second, func() bool { return updatesOf(fake, placeholder, "Step ") >= 2 })

	// The replica running the conversation is the lease's holder: most
	// likely the one that got the message, but any may have taken it.
	owner := replicas[leaseHolder(t, dsn)]
	require.NotNil(t, owner, "the conversation's lease is held by one of the replicas")
	require.NoError(t, owner.cmd.Process.Kill())
	<-owner.exited
	killed := time.Now()
	delete(replicas, owner.id)
	stopWatch := watchReady(t, replicas)

	// The bound on failover is 30 s from the death; the lease is 3 s.
	waitFake(t, fake, "the interrupted notice on the dead replica's placeholder", 30*time.Second, func() bool {
		return updatesOf(fake, placeholder, interruptedNotice) >= 1
	})
	t.Logf("failover: %s from SIGKILL to the interrupted notice", time.Since(killed).Round(time.Millisecond))
	m, ok := fake.Message(ev.Channel, placeholder)
	require.True(t, ok)
	assert.True(t, strings.HasPrefix(m.BlockText(), interruptedNotice), "the placeholder's last state: %q", m.BlockText())
	assert.NotEmpty(t, m.ButtonValue("pvb_"+string(chat.Retry)), "the notice carries Retry")

	var survivor *replicaProcess
	for _, r := range replicas {
		survivor = r
	}
	next := fake.Mention("C1", "U2", "still there?")
	survivor.post(t, fake, next)
	waitFake(t, fake, "the answer to the new mention", 60*time.Second, func() bool { return answered(fake, next) })

	for id, answers := range stopWatch() {
		assert.Empty(t, answers, "%s stayed ready through the failover", id)
	}
	for _, r := range replicas {
		body := waitHTTP(t, r.side+"/readyz", http.StatusOK, "store: ok\n")
		assert.Contains(t, body, "slack: ok\n", r.id)
	}
	assert.Equal(t, 1, updatesOf(fake, placeholder, interruptedNotice), "the interrupted run is finalised once")
	assert.Equal(t, int32(1), slow.Load(), "the interrupted turn is never sent to the agent again on its own")

	for _, r := range replicas {
		r.stop(t)
		assert.NotContains(t, r.stderr.String(), "DATA RACE", r.id)
		assert.Contains(t, r.stderr.String(), `"msg":"stopped"`, r.id)
	}
}

// watchReady asks the replicas' /readyz every 200 ms until the returned
// function is called, which returns each replica's answers other than 200.
// A request that gets no answer (a loaded machine) is logged, not counted.
func watchReady(t *testing.T, replicas map[string]*replicaProcess) (stop func() map[string][]string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	bad := map[string][]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for id, r := range replicas {
		bad[id] = nil
		wg.Go(func() {
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				resp, err := client.Get(r.side + "/readyz")
				if err != nil {
					t.Logf("%s /readyz: %v", id, err)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					mu.Lock()
					bad[id] = append(bad[id], fmt.Sprintf("%d %s", resp.StatusCode, b))
					mu.Unlock()
				}
			}
		})
	}
	return func() map[string][]string {
		cancel()
		wg.Wait()
		return bad
	}
}

// leaseHolder returns the replica holding the one live conversation lease
// in the database of dsn.
func leaseHolder(t *testing.T, dsn string) string {
	t.Helper()
	c := store.DefaultConfig()
	c.Backend, c.Postgres.DSN = "postgres", dsn
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, c, store.OpenOptions{ReadOnly: true})
	require.NoError(t, err)
	defer st.Close()
	leaser, ok := st.(chat.Leaser)
	require.True(t, ok, "the postgres store hands out leases")
	leases, err := leaser.ListLeases(ctx, "conv:")
	require.NoError(t, err)
	var owner string
	for _, l := range leases {
		if l.Expires.After(time.Now()) {
			require.Empty(t, owner, "one live conversation lease: %+v", leases)
			owner = l.Owner
		}
	}
	return owner
}
