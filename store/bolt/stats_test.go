package bolt

import (
	"context"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStats(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/bridge.db"
	s, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, s.PutConversation(ctx, conversation(i)))
	}
	require.NoError(t, s.PutApproval(ctx, approval(1, t0.Add(10*time.Minute))))
	require.NoError(t, s.PutApproval(ctx, approval(2, t0.Add(5*time.Minute))))
	_, _, err = s.DecideApproval(ctx, approval(3, t0).ID, chat.ApprovalApproved, "U", "", t0)
	require.ErrorIs(t, err, chat.ErrNotFound)
	require.NoError(t, s.PutApproval(ctx, approval(3, t0)))
	_, ok, err := s.DecideApproval(ctx, approval(3, t0).ID, chat.ApprovalApproved, "U", "", t0)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.PutRun(ctx, run(7, t0.Add(time.Minute))))
	require.NoError(t, s.PutRun(ctx, run(8, t0)))
	require.NoError(t, s.PutRun(ctx, run(9, t0.Add(2*time.Minute))))
	now := time.Now()
	_, err = s.SeenOrMark(ctx, []string{"live"}, time.Hour, now)
	require.NoError(t, err)
	_, err = s.SeenOrMark(ctx, []string{"old"}, time.Minute, now.Add(-time.Hour))
	require.NoError(t, err)

	want := func(t *testing.T, st chat.StoreStats) {
		assert.Equal(t, "bbolt", st.Backend)
		assert.Equal(t, "file", st.LocationKind)
		assert.Equal(t, path, st.Location)
		assert.Positive(t, st.SizeBytes)
		assert.Equal(t, 3, st.Conversations)
		assert.Equal(t, 3, st.Approvals)
		assert.Equal(t, 2, st.PendingApprovals)
		assert.True(t, st.NextApprovalExpiry.Equal(t0.Add(5*time.Minute)), st.NextApprovalExpiry)
		assert.Equal(t, 3, st.Runs)
		require.NotNil(t, st.OldestRun)
		assert.Equal(t, run(8, t0), *st.OldestRun)
		assert.Equal(t, 2, st.DedupeEntries)
		assert.Equal(t, 1, st.DedupeExpired)
		assert.Equal(t, map[string]int{"conversations": 1, "approvals": 1, "runs": 1, "dedupe": 1, "run_records": 1, "grants": 1, "feedback": 1, "installations": 1}, st.Schema)
	}
	st, err := s.Stats(t.Context())
	require.NoError(t, err)
	want(t, st)
	require.NoError(t, s.Close())

	// The stats command opens the file read-only.
	ro, err := OpenReadOnly(path, Options{})
	require.NoError(t, err)
	defer ro.Close()
	st, err = ro.Stats(t.Context())
	require.NoError(t, err)
	want(t, st)
}

func TestStats_Empty(t *testing.T) {
	s := openTemp(t)
	st, err := s.Stats(t.Context())
	require.NoError(t, err)
	assert.Zero(t, st.Conversations+st.Approvals+st.PendingApprovals+st.Runs+st.DedupeEntries)
	assert.Nil(t, st.OldestRun)
	assert.True(t, st.NextApprovalExpiry.IsZero())
}
