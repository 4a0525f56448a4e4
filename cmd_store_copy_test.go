package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/store"
	"github.com/promptev/promptev-bridge/store/postgres"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

// TestStoreCopyToPostgres moves a bbolt file's records into PostgreSQL with
// `store copy`, as an operator moving to replicas would, then migrates.
func TestStoreCopyToPostgres(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bridge.db")
	c := store.DefaultConfig()
	c.Path = file
	st, err := store.Open(t.Context(), c, store.OpenOptions{})
	require.NoError(t, err)
	key := chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: "C1", Thread: "1.2"}
	at := time.Now().UTC()
	require.NoError(t, st.PutConversation(t.Context(), chat.Conversation{Key: key, AgentID: "a", SessionToken: "tok", Created: at}))
	require.NoError(t, st.PutApproval(t.Context(), chat.Approval{ID: "ap1", Key: key, State: chat.ApprovalPending, Created: at, Expires: at.Add(time.Hour)}))
	_, _, err = st.PutFeedback(t.Context(), chat.FeedbackRecord{Answer: "run1", Key: key, User: "U1", Value: chat.FeedbackDown, At: at})
	require.NoError(t, err)
	require.NoError(t, st.Close())
	dsn := postgrestest.DSN(t)

	code, out, errOut := runProgram(t, "", "store", "copy", "--from", "bbolt:"+file, "--to", "postgres:"+dsn)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "copied 1 conversations, 1 approvals, 0 in-flight runs, 0 run records and 0 grants; the counts match\n", out)

	code, _, errOut = runProgram(t, "", "store", "copy", "--from", "bbolt:"+file, "--to", "postgres:"+dsn)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "the target is not empty (1 conversations, 1 approvals, 0 in-flight runs)")
	code, _, errOut = runProgram(t, "", "store", "copy", "--from", "bbolt:"+file, "--to", "postgres:"+dsn, "--force")
	assert.Equal(t, 0, code, errOut)

	code, out, errOut = runProgram(t, "", "store", "migrate", "--store", "postgres:"+dsn)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, fmt.Sprintf("postgres store is up to date: schema postgres v%d\n", postgres.SchemaVersion()), out)

	pc := store.DefaultConfig()
	pc.Backend, pc.Postgres.DSN = "postgres", dsn
	pg, err := store.Open(t.Context(), pc, store.OpenOptions{})
	require.NoError(t, err)
	defer pg.Close()
	fb, err := pg.ListFeedback(t.Context(), "run1")
	require.NoError(t, err)
	require.Len(t, fb, 1, "ratings are copied too")
	assert.Equal(t, chat.FeedbackDown, fb[0].Value)
}

func TestStoreCopyUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no flags", []string{"store", "copy"}, 2, "--from and --to are both required"},
		{"bad spec", []string{"store", "copy", "--from", "file.db", "--to", "bbolt:x.db"}, 1, "--from: a store is BACKEND:WHERE"},
		{"unknown backend", []string{"store", "copy", "--from", "sqlite:x", "--to", "bbolt:x.db"}, 1, `unknown backend "sqlite": use bbolt or postgres`},
		{"missing source file", []string{"store", "copy", "--from", "bbolt:" + filepath.Join(t.TempDir(), "none.db"), "--to", "bbolt:" + filepath.Join(t.TempDir(), "x.db")}, 1, "--from:"},
		{"bad dsn", []string{"store", "migrate", "--store", "postgres:postgres://u:hunter22@h:port/db"}, 1, "store.postgres.dsn"},
		{"migrate without store", []string{"store", "migrate"}, 2, "--store is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runProgram(t, "", tc.args...)
			assert.Equal(t, tc.code, code, errOut)
			assert.Contains(t, errOut, tc.want)
			assert.NotContains(t, errOut, "hunter22")
		})
	}
}
