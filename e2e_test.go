package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// e2eAgent asks for one approval and answers in Markdown.
const e2eAgent = `
name: E2E Agent
script:
  - {type: thoughts, output: "Reading {{query}}"}
  - {type: processing, output: "Searching Jira..."}
  - type: approval_required
    output: "Create a ticket?"
    tool: jira.create_issue
    arguments: {project: OPS}
on_approve:
  - {type: processing, output: "Creating ticket..."}
  - {type: done, output: "# Done\n\nTicket **OPS-7** created."}
on_deny:
  - {type: done, output: "No ticket."}
`

// startFakePromptev serves the e2e agent on loopback.
func startFakePromptev(t *testing.T, key, agentID string) *promptevtest.Server {
	t.Helper()
	agent, err := promptevtest.LoadScript(strings.NewReader(e2eAgent))
	require.NoError(t, err)
	srv := promptevtest.NewServer(key)
	t.Cleanup(srv.Close)
	srv.AddAgent(agentID, agent)
	return srv
}

// checkSidePortAfterApproval checks /readyz and /metrics of a daemon on
// platform that has run one conversation through an approved card to its
// answer.
func checkSidePortAfterApproval(t *testing.T, base, platform string) {
	t.Helper()
	code, body := httpGet(t, base+"/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, platform+": ok")
	_, body = httpGet(t, base+"/metrics")
	for _, want := range []string{
		`promptev_bridge_messages_received_total{platform="` + platform + `"}`,
		`promptev_bridge_runs_total{outcome="done",platform="` + platform + `"} 1`,
		`promptev_bridge_approvals_total{outcome="approved",platform="` + platform + `"} 1`,
		`promptev_bridge_adapter_ready{platform="` + platform + `"} 1`,
	} {
		assert.Contains(t, body, want)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestEndToEndConsole boots the daemon from a config file (fake Promptev
// API, store and side port in a temp dir, the console adapter on a pipe),
// sends a message, approves by typing y, and checks the answer, the side
// port and the store.
func TestEndToEndConsole(t *testing.T) {
	const key = "pk-e2e-secret"
	srv := startFakePromptev(t, key, "ops-agent")
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "bridge.db")
	t.Setenv("PB_E2E_KEY", key)
	cfgPath := writeFile(t, "config.yaml", fmt.Sprintf(`
promptev:
  project_key: ${PB_E2E_KEY}
  base_url: %s
routes:
  default: {agent: ops-agent}
store:
  path: %s
console:
  enabled: true
http:
  listen: 127.0.0.1:0
log:
  level: debug
  format: json
`, srv.URL, dbPath))

	in, w := newPipe()
	p := startProgram(t, in, "run", "--config", cfgPath)
	addr := <-p.sidePort
	base := "http://" + addr.String()

	code, body := httpGet(t, base+"/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)

	_, err := w.WriteString("is prod down?\n")
	require.NoError(t, err)
	p.stdout.waitFor(t, "Waiting for approval")
	assert.Contains(t, p.stdout.String(), "? Approval needed: jira.create_issue")
	_, err = w.WriteString("y\n")
	require.NoError(t, err)
	p.stdout.waitFor(t, "# Done\n\nTicket **OPS-7** created.\n")
	// The continuation run's log line follows the answer.
	p.stderr.waitFor(t, `"outcome":"done"`)

	code, body = httpGet(t, base+"/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "store: ok\nconsole: ok\n")

	code, body = httpGet(t, base+"/metrics")
	assert.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		`promptev_bridge_messages_received_total{platform="console"} 1`,
		`promptev_bridge_runs_total{outcome="approval",platform="console"} 1`,
		`promptev_bridge_runs_total{outcome="done",platform="console"} 1`,
		`promptev_bridge_approvals_total{outcome="approved",platform="console"} 1`,
		`promptev_bridge_agent_events_total{platform="console",type="approval_required"} 1`,
		`promptev_bridge_agent_events_total{platform="console",type="done"} 1`,
		`promptev_bridge_time_to_placeholder_seconds_count{platform="console"} 2`,
		`promptev_bridge_approval_wait_seconds_count{outcome="approved",platform="console"} 1`,
		// Series that had no event yet exist at zero, so dashboards show 0.
		`promptev_bridge_rate_limited_total{op="edit",platform="console"} 0`,
		`promptev_bridge_approvals_total{outcome="denied",platform="console"} 0`,
		`promptev_bridge_adapter_ready{platform="console"} 1`,
		`promptev_bridge_build_info{version=`,
		`go_goroutines`,
	} {
		assert.Contains(t, body, want)
	}

	p.cancel() // SIGINT/SIGTERM in main
	require.NoError(t, w.Close())
	assert.Equal(t, exitOK, p.wait(t))

	logs := p.stderr.String()
	assert.Contains(t, logs, `"msg":"side port listening"`)
	assert.Contains(t, logs, `"msg":"stopped"`)
	assert.NotContains(t, logs, key, "the project key never reaches the logs")
	assert.Less(t, strings.Index(logs, `"msg":"shutting down"`), strings.Index(logs, `"msg":"stopped"`))

	// The store was closed: it opens again, with the conversation in it.
	_, err = os.Stat(dbPath)
	require.NoError(t, err)
	code2, stdout, stderr := runProgram(t, "", "store", "stats", "--db", dbPath)
	require.Equal(t, exitOK, code2, stderr)
	assert.Contains(t, stdout, "conversations:")
	assert.Regexp(t, `conversations:\s+1`, stdout)
	assert.Regexp(t, `in-flight runs:\s+0`, stdout)

	// The side port is closed.
	_, err = http.Get(base + "/healthz")
	assert.Error(t, err)
}

func TestRunWithoutPlatform(t *testing.T) {
	path := writeFile(t, "config.yaml", "promptev: {project_key: pk}\nroutes: {default: {agent: a}}\n")
	code, _, stderr := runProgram(t, "", "run", "--config", path)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr, "no platform enabled")
}

func TestRunInvalidConfig(t *testing.T) {
	path := writeFile(t, "config.yaml", "promptev: {project_key: pk}\nroutes: {default: {agent: a}}\nlog: {level: chatty}\n")
	code, _, stderr := runProgram(t, "", "run", "--config", path)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr, `log.level: must be debug, info, warn or error, got "chatty" (line 3)`)
}

func TestRunStoreLocked(t *testing.T) {
	srv := startFakePromptev(t, "pk", "a")
	dir := t.TempDir()
	cfg := writeFile(t, "config.yaml", fmt.Sprintf(
		"promptev: {project_key: pk, base_url: %s}\nroutes: {default: {agent: a}}\nstore: {path: %s, lock_timeout: 100ms}\nconsole: {enabled: true}\nhttp: {listen: ''}\n",
		srv.URL, filepath.Join(dir, "b.db")))
	in, w := newPipe()
	first := startProgram(t, in, "run", "--config", cfg)
	first.stderr.waitFor(t, "bridge running")
	code, _, stderr := runProgram(t, "", "run", "--config", cfg)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr, "b.db")
	first.cancel()
	require.NoError(t, w.Close())
	assert.Equal(t, exitOK, first.wait(t))
}

// Ctrl-D on the console ends run, as it ends demo and chat.
func TestRunEndsWhenTheConsoleInputEnds(t *testing.T) {
	srv := startFakePromptev(t, "pk", "a")
	cfg := writeFile(t, "config.yaml", fmt.Sprintf(
		"promptev: {project_key: pk, base_url: %s}\nroutes: {default: {agent: a}}\nstore: {path: %s}\nconsole: {enabled: true}\nhttp: {listen: ''}\n",
		srv.URL, filepath.Join(t.TempDir(), "b.db")))
	code, _, stderr := runProgram(t, "", "run", "--config", cfg)
	assert.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "terminal input ended (Ctrl-D or /quit): shutting down")
	assert.Contains(t, stderr, "msg=stopped")
}

func TestRunStoreInMissingDirectory(t *testing.T) {
	srv := startFakePromptev(t, "pk", "a")
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	cfg := writeFile(t, "config.yaml", fmt.Sprintf(
		"promptev: {project_key: pk, base_url: %s}\nroutes: {default: {agent: a}}\nstore: {path: %s}\nconsole: {enabled: true}\nhttp: {listen: ''}\n",
		srv.URL, filepath.Join(missing, "b.db")))
	in, w := newPipe()
	t.Cleanup(func() { _ = w.Close() })
	p := startProgram(t, in, "run", "--config", cfg)
	assert.Equal(t, exitFailure, p.wait(t))
	stderr := p.stderr.String()
	assert.Contains(t, stderr, missing)
	assert.NotContains(t, stderr, "open store: store:", "one prefix, not two")
}
