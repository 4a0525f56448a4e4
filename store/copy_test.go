package store_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/store"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

// openBackend opens an empty store of the named backend.
func openBackend(t *testing.T, backend string) store.Store {
	t.Helper()
	c := store.DefaultConfig()
	c.Backend = backend
	c.Path = filepath.Join(t.TempDir(), "bridge.db")
	if backend == "postgres" {
		c.Postgres.DSN = postgrestest.DSN(t)
	}
	s, err := store.Open(t.Context(), c, store.OpenOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// fill writes n conversations, n approvals (every other one decided), and
// n/2 in-flight runs, run records and grants.
func fill(t *testing.T, s store.Store, n int) {
	t.Helper()
	at := time.Date(2026, 12, 1, 9, 0, 0, 123456789, time.UTC)
	for i := range n {
		key := chat.ConversationKey{Platform: "p", Workspace: "W", Channel: "C", Thread: fmt.Sprint(i)}
		require.NoError(t, s.PutConversation(t.Context(), chat.Conversation{
			Key: key, AgentID: "agent", Mode: chat.ModeStream, SessionToken: fmt.Sprint("tok-", i),
			Visitor: "p:U1", Created: at, LastActive: at.Add(time.Minute), Turns: i,
		}))
		a := chat.Approval{ID: fmt.Sprint("ap-", i), Key: key, Requester: "U1", Tool: "jira", State: chat.ApprovalPending,
			Card: chat.MessageRef{Key: key, ID: "m1", Posted: at}, Created: at, Expires: at.Add(time.Hour)}
		if i%2 == 1 {
			a.State, a.DecidedBy, a.DecidedAt = chat.ApprovalApproved, "U2", at.Add(time.Second)
		}
		require.NoError(t, s.PutApproval(t.Context(), a))
		if i%2 == 0 {
			require.NoError(t, s.PutRunRecord(t.Context(), chat.RunRecord{ID: fmt.Sprint("run-", i), Key: key, Requester: "U1",
				Query: "why?", State: chat.RunFailed, Notice: "lost", Created: at}))
			require.NoError(t, s.PutGrant(t.Context(), chat.Grant{Key: key, Tool: "jira", By: "U2", ByName: "Dos", Approval: a.ID, Created: at}))
			require.NoError(t, s.PutRun(t.Context(), chat.InFlightRun{Key: key, Placeholder: chat.MessageRef{Key: key, ID: "p1"}, InboundID: "m0", Started: at}))
			in := chat.Installation{Platform: "slack", TeamID: fmt.Sprint("T", i), BotUserID: "UB", Scopes: []string{"chat:write"},
				SealedToken: fmt.Sprint("sealed-", i), Installed: at}
			require.NoError(t, s.PutInstallation(t.Context(), in))
			if i == 0 {
				_, _, err := s.MarkInstallationBroken(t.Context(), in.ID(), in.SealedToken, "invalid_auth", at)
				require.NoError(t, err)
			}
		}
	}
}

func TestCopy(t *testing.T) {
	for _, tc := range []struct{ from, to string }{{"bbolt", "postgres"}, {"postgres", "bbolt"}, {"bbolt", "bbolt"}} {
		t.Run(tc.from+"→"+tc.to, func(t *testing.T) {
			from, to := openBackend(t, tc.from), openBackend(t, tc.to)
			fill(t, from, 6)
			n, err := store.Copy(t.Context(), from, to, false)
			require.NoError(t, err)
			assert.Equal(t, store.Copied{Conversations: 6, Approvals: 6, Runs: 3, RunRecords: 3, Grants: 3, Installations: 3}, n)
			ins, err := to.ListInstallations(t.Context())
			require.NoError(t, err)
			if assert.Len(t, ins, 3) {
				assert.Equal(t, "sealed-0", ins[0].SealedToken, "copied sealed, as they were")
				assert.Equal(t, "invalid_auth", ins[0].Broken, "a broken installation stays broken")
			}

			key := chat.ConversationKey{Platform: "p", Workspace: "W", Channel: "C", Thread: "3"}
			want, err := from.GetConversation(t.Context(), key)
			require.NoError(t, err)
			got, err := to.GetConversation(t.Context(), key)
			require.NoError(t, err)
			assert.Equal(t, want.SessionToken, got.SessionToken, "the session goes on")
			assert.True(t, want.LastActive.Equal(got.LastActive))
			a, err := to.GetApproval(t.Context(), "ap-1")
			require.NoError(t, err)
			assert.Equal(t, chat.ApprovalApproved, a.State, "decisions are kept")
			pending, err := to.ListExpiredApprovals(t.Context(), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 0)
			require.NoError(t, err)
			assert.Len(t, pending, 3, "pending approvals stay pending, with their expiry")
			runs, err := to.ListRuns(t.Context())
			require.NoError(t, err)
			assert.Len(t, runs, 3)
			rec, err := to.GetRunRecord(t.Context(), "run-2")
			require.NoError(t, err)
			assert.Equal(t, chat.RunFailed, rec.State, "a failure's Retry still works after the move")
			assert.Equal(t, "why?", rec.Query)
			assert.True(t, rec.Created.Equal(time.Date(2026, 12, 1, 9, 0, 0, 123456789, time.UTC)), "times keep their nanoseconds")
			grants, err := to.ListGrants(t.Context())
			require.NoError(t, err)
			require.Len(t, grants, 3, "grants go along")
			g, err := to.GetGrant(t.Context(), chat.ConversationKey{Platform: "p", Workspace: "W", Channel: "C", Thread: "4"}, "jira")
			require.NoError(t, err)
			assert.Equal(t, "Dos", g.ByName)

			// A second copy finds the target full.
			_, err = store.Copy(t.Context(), from, to, false)
			require.ErrorContains(t, err, "the target is not empty (6 conversations, 6 approvals, 3 in-flight runs, 3 run records, 3 grants, 3 installations)")
			n, err = store.Copy(t.Context(), from, to, true)
			require.NoError(t, err, "--force replaces records of the same keys")
			assert.Equal(t, 6, n.Conversations)
		})
	}
}
