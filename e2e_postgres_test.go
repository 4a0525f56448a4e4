package main

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/store"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

// TestEndToEndConsolePostgres boots the daemon on the PostgreSQL store: a
// message, an approval typed on the console, the answer, /readyz and
// /debug/store, and the records in the database afterwards. A second daemon
// on the same database refuses to start.
func TestEndToEndConsolePostgres(t *testing.T) {
	const key = "pk-e2e-secret"
	srv := startFakePromptev(t, key, "ops-agent")
	dsn := postgrestest.DSN(t)
	t.Setenv("PB_E2E_KEY", key)
	t.Setenv("PB_E2E_DSN", dsn)
	cfgPath := writeFile(t, "config.yaml", fmt.Sprintf(`
promptev:
  project_key: ${PB_E2E_KEY}
  base_url: %s
routes:
  default: {agent: ops-agent}
store:
  backend: postgres
  postgres: {dsn: "${PB_E2E_DSN}"}
console:
  enabled: true
http:
  listen: 127.0.0.1:0
log:
  format: json
`, srv.URL))

	in, w := newPipe()
	p := startProgram(t, in, "run", "--config", cfgPath)
	base := "http://" + (<-p.sidePort).String()
	_, err := w.WriteString("is prod down?\n")
	require.NoError(t, err)
	p.stdout.waitFor(t, "Waiting for approval")
	_, err = w.WriteString("y\n")
	require.NoError(t, err)
	p.stdout.waitFor(t, "Ticket **OPS-7** created.")
	p.stderr.waitFor(t, `"outcome":"done"`)

	code, body := httpGet(t, base+"/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "store: ok\n")
	code, body = httpGet(t, base+"/debug/store")
	assert.Equal(t, http.StatusOK, code)
	assert.Regexp(t, `conversations:\s+1`, body)
	assert.NotContains(t, body, "PB_E2E", "no DSN")

	p.cancel()
	require.NoError(t, w.Close())
	assert.Equal(t, exitOK, p.wait(t))
	assert.NotContains(t, p.stderr.String(), key)

	c := store.DefaultConfig()
	c.Backend, c.Postgres.DSN = "postgres", dsn
	st, err := store.Open(t.Context(), c, store.OpenOptions{ReadOnly: true})
	require.NoError(t, err)
	defer st.Close()
	stats, err := st.Stats(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, stats.Conversations)
	assert.Equal(t, 1, stats.Approvals)
	assert.Equal(t, 0, stats.Runs)
}
