package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/store"
	"github.com/promptev/promptev-bridge/store/bolt"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

// TestGrantsListAndRevoke: grants list prints the grants of a store file;
// grants revoke removes one (only that conversation's) and says so; a
// second revoke of it fails.
func TestGrantsListAndRevoke(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bridge.db")
	st, err := bolt.Open(path, bolt.Options{NoSync: true})
	require.NoError(t, err)
	ctx := context.Background()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	k1 := chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: "C1", Thread: "1.0"}
	k2 := chat.ConversationKey{Platform: "discord", Workspace: "G1", Channel: "CH", Thread: "99"}
	for i, k := range []chat.ConversationKey{k1, k2} {
		id := []string{"a1", "a2"}[i]
		require.NoError(t, st.PutApproval(ctx, chat.Approval{ID: id, Key: k, Tool: "jira.create_issue",
			State: chat.ApprovalPending, Created: at, Expires: at.Add(time.Hour)}))
		_, ok, err := st.DecideApprovalWith(ctx, id, chat.ApprovalDecision{State: chat.ApprovalApproved, By: "U1", ByName: "Ana", At: at, Grant: true})
		require.NoError(t, err)
		require.True(t, ok)
	}
	require.NoError(t, st.Close())

	code, stdout, stderr := runProgram(t, "", "grants", "list", "--db", path)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "CONVERSATION")
	assert.Contains(t, stdout, "slack/T1/C1/1.0")
	assert.Contains(t, stdout, "discord/G1/CH/99")
	assert.Contains(t, stdout, "jira.create_issue")
	assert.Contains(t, stdout, "Ana (U1)")
	assert.Contains(t, stdout, "2026-03-04T05:06:07Z")

	code, stdout, stderr = runProgram(t, "", "grants", "revoke", "--db", path, "--conversation", "slack/T1/C1/1.0", "--tool", "jira.create_issue")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "revoked: jira.create_issue in slack/T1/C1/1.0")

	code, stdout, _ = runProgram(t, "", "grants", "list", "--db", path)
	require.Equal(t, exitOK, code)
	assert.NotContains(t, stdout, "slack/T1/C1/1.0")
	assert.Contains(t, stdout, "discord/G1/CH/99", "the other conversation's grant stays")

	code, _, stderr = runProgram(t, "", "grants", "revoke", "--db", path, "--conversation", "slack/T1/C1/1.0", "--tool", "jira.create_issue")
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, stderr, "no grant")
}

func TestGrantsUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"grants"}, exitUsage, "Usage: promptev-bridge grants list"},
		{[]string{"grants", "list"}, exitUsage, "give --db FILE (a bbolt store file) or --config FILE"},
		{[]string{"grants", "revoke", "--db", "x.db"}, exitUsage, "--conversation KEY and --tool TOOL are required"},
	}
	for _, tt := range tests {
		code, _, stderr := runProgram(t, "", tt.args...)
		assert.Equal(t, tt.code, code, tt.args)
		assert.Contains(t, stderr, tt.want, tt.args)
	}
}

// TestGrantsPostgresThroughConfig: with --config, grants opens the config's
// store, here PostgreSQL, lists its grants and revokes one; problems
// outside the store section (no platform, no project key) do not matter.
func TestGrantsPostgresThroughConfig(t *testing.T) {
	dsn := postgrestest.DSN(t)
	t.Setenv("PB_GRANTS_DSN", dsn)
	cfgPath := writeFile(t, "config.yaml", "store:\n  backend: postgres\n  postgres: {dsn: \"${PB_GRANTS_DSN}\"}\n")

	c := store.DefaultConfig()
	c.Backend, c.Postgres.DSN = "postgres", dsn
	st, err := store.Open(t.Context(), c, store.OpenOptions{})
	require.NoError(t, err)
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	key := chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: "C1", Thread: "1.0"}
	require.NoError(t, st.PutApproval(t.Context(), chat.Approval{ID: "a1", Key: key, Tool: "jira.create_issue",
		State: chat.ApprovalPending, Created: at, Expires: at.Add(time.Hour)}))
	_, ok, err := st.DecideApprovalWith(t.Context(), "a1", chat.ApprovalDecision{State: chat.ApprovalApproved, By: "U1", ByName: "Ana", At: at, Grant: true})
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, st.Close())

	code, stdout, stderr := runProgram(t, "", "grants", "list", "--config", cfgPath)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "slack/T1/C1/1.0")
	assert.Contains(t, stdout, "Ana (U1)")

	code, stdout, stderr = runProgram(t, "", "grants", "revoke", "--config", cfgPath, "--conversation", "slack/T1/C1/1.0", "--tool", "jira.create_issue")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "revoked: jira.create_issue in slack/T1/C1/1.0")
	code, stdout, _ = runProgram(t, "", "grants", "list", "--config", cfgPath)
	require.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "no grants")

	code, _, stderr = runProgram(t, "", "grants", "list", "--config", cfgPath, "--db", "x.db")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "not both")
}
