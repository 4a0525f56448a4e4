package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/metrics"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
	"github.com/promptev/promptev-bridge/store/bolt"
)

// TestStoreStatsOfRunningBridge boots the daemon in-process, leaves a run in
// flight (the fake agent stalls its stream), and reads the live store with
// `store stats --addr` (text and JSON) while the bridge holds the file; --db
// on the live file fails with the hint to use --addr; /metrics carries the
// store gauges.
func TestStoreStatsOfRunningBridge(t *testing.T) {
	const key = "pk-stats-secret"
	srv := startFakePromptev(t, key, "ops-agent")
	srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultStall, AfterEvents: 2})
	dbPath := filepath.Join(t.TempDir(), "bridge.db")
	t.Setenv("PB_STATS_KEY", key)
	cfgPath := writeFile(t, "config.yaml", fmt.Sprintf(`
promptev: {project_key: "${PB_STATS_KEY}", base_url: %s}
routes: {default: {agent: ops-agent}}
runs: {shutdown_grace: 100ms}
store: {path: %s}
console: {enabled: true}
http: {listen: 127.0.0.1:0}
`, srv.URL, dbPath))

	in, w := newPipe()
	p := startProgram(t, in, "run", "--config", cfgPath)
	addr := (<-p.sidePort).String()
	_, err := w.WriteString("is prod down?\n")
	require.NoError(t, err)
	p.stdout.waitFor(t, "Searching Jira...") // the second event; then the stream stalls

	code, stdout, stderr := runProgram(t, "", "store", "stats", "--addr", addr)
	require.Equal(t, exitOK, code, stderr)
	t.Logf("store stats --addr %s:\n%s", addr, stdout)
	assert.Contains(t, stdout, "file:")
	assert.Contains(t, stdout, dbPath)
	assert.Regexp(t, `conversations:\s+1\n`, stdout)
	assert.Regexp(t, `approvals:\s+0 \(0 pending\)\n`, stdout)
	assert.Regexp(t, `in-flight runs:\s+1\n`, stdout)
	assert.Regexp(t, `oldest run:\s+console/local/tty/\S* started \S+ \(\d+s ago\), placeholder \S+\n`, stdout)
	assert.Regexp(t, `dedupe entries:\s+\d+ \(0 expired, awaiting sweep\)\n`, stdout)
	assert.Empty(t, stderr)

	code, stdout, stderr = runProgram(t, "", "store", "stats", "--addr", addr, "--json")
	require.Equal(t, exitOK, code, stderr)
	var js metrics.StoreStatsJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &js), stdout)
	assert.Equal(t, dbPath, js.Path)
	assert.Equal(t, 1, js.Conversations)
	assert.Equal(t, 1, js.InFlightRuns)
	require.NotNil(t, js.OldestRun)
	assert.True(t, strings.HasPrefix(js.OldestRun.Conversation, "console/local/tty/"), js.OldestRun.Conversation)

	// The session token the fake agent handed out (stored in the
	// conversation record) never shows.
	tokens := 0
	for _, r := range srv.Requests() {
		var b struct {
			SessionToken string `json:"session_token"`
		}
		if json.Unmarshal(r.Body, &b) == nil && b.SessionToken != "" {
			tokens++
			assert.NotContains(t, stdout, b.SessionToken)
		}
	}
	assert.NotZero(t, tokens)

	// --db on the live file: locked, and the message says what to do.
	code, stdout, stderr = runProgram(t, "", "store", "stats", "--db", dbPath, "--timeout", "100ms")
	assert.Equal(t, exitFailure, code)
	assert.Empty(t, stdout)
	t.Logf("store stats --db (live file):\n%s", stderr)
	assert.Contains(t, stderr, dbPath)
	assert.Contains(t, stderr, "another promptev-bridge process holds this file")
	assert.Contains(t, stderr, "promptev-bridge store stats --addr HOST:PORT")
	assert.NotContains(t, stderr, "stop")

	status, body := httpGet(t, "http://"+addr+"/metrics")
	assert.Equal(t, http.StatusOK, status)
	for _, want := range []string{
		"promptev_bridge_store_conversations 1\n",
		"promptev_bridge_store_inflight_runs 1\n",
		"promptev_bridge_store_pending_approvals 0\n",
		"promptev_bridge_store_oldest_inflight_run_age_seconds ",
		"promptev_bridge_store_dedupe_entries ",
		"promptev_bridge_store_file_size_bytes ",
	} {
		assert.Contains(t, body, want)
	}

	p.cancel()
	require.NoError(t, w.Close())
	assert.Equal(t, exitOK, p.wait(t))
	assert.Contains(t, p.stderr.String(), "/debug/store")

	// Stopped: --addr finds nobody and points to --db, which now works and
	// shows the run finalised at shutdown.
	code, _, stderr = runProgram(t, "", "store", "stats", "--addr", addr, "--timeout", "500ms")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr, "cannot reach a bridge's side port at "+addr)
	assert.Contains(t, stderr, "use --db FILE")
	code, stdout, stderr = runProgram(t, "", "store", "stats", "--db", dbPath)
	require.Equal(t, exitOK, code, stderr)
	assert.Regexp(t, `in-flight runs:\s+0\n`, stdout)
	assert.Regexp(t, `conversations:\s+1\n`, stdout)
}

// TestStoreStatsConfigAddr reads the side port's address from --config: an
// unspecified host is asked on loopback, and problems outside the http
// section (an unset secret) do not matter.
func TestStoreStatsConfigAddr(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), bolt.Options{NoSync: true})
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.PutConversation(context.Background(), chat.Conversation{
		Key: chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: "C1"}, AgentID: "a",
		SessionToken: "never-printed", Created: time.Now(), LastActive: time.Now(),
	}))
	side := metrics.NewServer(metrics.ServerOptions{Addr: "127.0.0.1:0", StoreStats: st.Stats})
	addr, err := side.Start()
	require.NoError(t, err)
	defer func() { require.NoError(t, side.Shutdown(context.Background())) }()
	_, port, err := net.SplitHostPort(addr.String())
	require.NoError(t, err)

	cfg := writeFile(t, "config.yaml", fmt.Sprintf(
		"promptev: {project_key: pk}\nroutes: {default: {agent: a}}\n"+
			"slack: {enabled: true, bot_token: '${PB_UNSET_SLACK_TOKEN}'}\nhttp: {listen: '0.0.0.0:%s'}\n", port))
	code, stdout, stderr := runProgram(t, "", "store", "stats", "--config", cfg)
	require.Equal(t, exitOK, code, stderr)
	assert.Regexp(t, `conversations:\s+1\n`, stdout)
	assert.NotContains(t, stdout, "never-printed")
}

func TestStoreStatsErrors(t *testing.T) {
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "store: closed", http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	sideOff := writeFile(t, "config.yaml", "promptev: {project_key: pk}\nroutes: {default: {agent: a}}\nhttp: {listen: ''}\n")
	portZero := writeFile(t, "config.yaml", "promptev: {project_key: pk}\nroutes: {default: {agent: a}}\nhttp: {listen: '127.0.0.1:0'}\n")
	badHTTP := writeFile(t, "config.yaml", "http: {listen: 'nope', bogus: 1}\n")

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"db with addr", []string{"--db", "x.db", "--addr", "127.0.0.1:1"}, exitUsage, "cannot be combined"},
		{"empty db", []string{"--db", ""}, exitUsage, "--db needs a file name"},
		{"addr without port", []string{"--addr", "localhost"}, exitUsage, "want HOST:PORT"},
		{"missing file", []string{"--db", filepath.Join(t.TempDir(), "none.db")}, exitFailure, "none.db"},
		{"not a side port", []string{"--addr", host(notFound)}, exitFailure, "answered 404 for /debug/store"},
		{"store closing", []string{"--addr", host(failing)}, exitFailure, "503 Service Unavailable: store: closed"},
		{"side port off", []string{"--config", sideOff}, exitFailure, "http.listen is empty: the side port is off"},
		{"port zero", []string{"--config", portZero}, exitFailure, "pass --addr with the port logged"},
		{"bad http section", []string{"--config", badHTTP}, exitFailure, "http.bogus"},
		{"missing config", []string{"--config", filepath.Join(t.TempDir(), "none.yaml")}, exitFailure, "cannot read config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runProgram(t, "", append([]string{"store", "stats"}, tt.args...)...)
			assert.Equal(t, tt.code, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tt.want)
		})
	}
}

// TestStoreStatsDBJSON prints a stopped bridge's file as JSON.
func TestStoreStatsDBJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	st, err := bolt.Open(path, bolt.Options{NoSync: true})
	require.NoError(t, err)
	require.NoError(t, st.Close())
	code, stdout, stderr := runProgram(t, "", "store", "stats", "--db", path, "--json")
	require.Equal(t, exitOK, code, stderr)
	var js metrics.StoreStatsJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &js), stdout)
	assert.Equal(t, path, js.Path)
	assert.Zero(t, js.Conversations)
	assert.Nil(t, js.OldestRun)
}
