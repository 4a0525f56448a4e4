package bolt

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/promptev/promptev-bridge/chat"
)

// A stop or retry decided before a restart is still decided after it.
func TestRunRecordSurvivesReopen(t *testing.T) {
	path := t.TempDir() + "/state.db"
	s, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.PutRunRecord(ctx, chat.RunRecord{ID: "r1", State: chat.RunFailed, Query: "q", Created: time.Now()}))
	_, ok, err := s.MoveRun(ctx, "r1", []chat.RunState{chat.RunFailed}, chat.RunMove{To: chat.RunRetried, By: "U1"})
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.Close())

	s, err = Open(path, Options{NoSync: true})
	require.NoError(t, err)
	defer s.Close()
	r, ok, err := s.MoveRun(ctx, "r1", []chat.RunState{chat.RunFailed}, chat.RunMove{To: chat.RunRetried, By: "U2"})
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, "U1", r.DecidedBy)
}

// A grant survives a restart.
func TestGrantSurvivesReopen(t *testing.T) {
	path := t.TempDir() + "/state.db"
	s, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	ctx := context.Background()
	key := chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: "C1", Thread: "1.0"}
	now := time.Now()
	require.NoError(t, s.PutApproval(ctx, chat.Approval{ID: "a1", Key: key, Tool: "jira.create_issue",
		State: chat.ApprovalPending, Created: now, Expires: now.Add(time.Hour)}))
	_, ok, err := s.DecideApprovalWith(ctx, "a1", chat.ApprovalDecision{State: chat.ApprovalApproved, By: "U1", At: now, Grant: true})
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.Close())

	s, err = Open(path, Options{NoSync: true})
	require.NoError(t, err)
	defer s.Close()
	g, err := s.GetGrant(ctx, key, "jira.create_issue")
	require.NoError(t, err)
	require.Equal(t, "U1", g.By)
}

// A file written before run records and grants existed opens read-only
// (no grants, no run records) and, read-write, gains both buckets.
func TestFileWithoutLaterBuckets(t *testing.T) {
	path := t.TempDir() + "/old.db"
	s, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		for _, name := range []bucketName{bucketRunRecords, bucketGrants} {
			if err := tx.DeleteBucket([]byte(name)); err != nil {
				return err
			}
		}
		raw := bucketMeta.in(tx).Get([]byte(metaSchemaKey))
		var m map[string]int
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		delete(m, kindRunRecords)
		delete(m, kindGrants)
		return writeSchema(tx, m)
	}))
	require.NoError(t, db.Close())

	ctx := context.Background()
	ro, err := OpenReadOnly(path, Options{})
	require.NoError(t, err)
	grants, err := ro.ListGrants(ctx)
	require.NoError(t, err)
	assert.Empty(t, grants)
	_, err = ro.GetRunRecord(ctx, "r1")
	assert.ErrorIs(t, err, chat.ErrNotFound)
	_, err = ro.GetGrant(ctx, chat.ConversationKey{Platform: "slack", Channel: "C1"}, "x")
	assert.ErrorIs(t, err, chat.ErrNotFound)
	_, err = ro.Stats(ctx)
	require.NoError(t, err)
	require.NoError(t, ro.Close())

	rw, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	defer rw.Close()
	require.NoError(t, rw.PutRunRecord(ctx, chat.RunRecord{ID: "r1", State: chat.RunRunning, Created: time.Now()}))
	st, err := rw.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Schema[kindGrants])
	assert.Equal(t, 1, st.Schema[kindRunRecords])
}
