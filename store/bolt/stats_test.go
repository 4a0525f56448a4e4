package bolt

import (
	"bytes"
	"context"
	"errors"
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

	want := func(t *testing.T, st Stats) {
		assert.Equal(t, path, st.Path)
		assert.Positive(t, st.FileSize)
		assert.Equal(t, 3, st.Conversations)
		assert.Equal(t, 3, st.Approvals)
		assert.Equal(t, 2, st.PendingApprovals)
		assert.True(t, st.NextApprovalExpiry.Equal(t0.Add(5*time.Minute)), st.NextApprovalExpiry)
		assert.Equal(t, 3, st.Runs)
		require.NotNil(t, st.OldestRun)
		assert.Equal(t, run(8, t0), *st.OldestRun)
		assert.Equal(t, 2, st.DedupeEntries)
		assert.Equal(t, 1, st.DedupeExpired)
		assert.Equal(t, map[string]int{"conversations": 1, "approvals": 1, "runs": 1, "dedupe": 1, "run_records": 1, "grants": 1}, st.Schema)
	}
	st, err := s.Stats()
	require.NoError(t, err)
	want(t, st)
	require.NoError(t, s.Close())

	// The stats command opens the file read-only.
	ro, err := OpenReadOnly(path, Options{})
	require.NoError(t, err)
	defer ro.Close()
	st, err = ro.Stats()
	require.NoError(t, err)
	want(t, st)
}

func TestStats_Empty(t *testing.T) {
	s := openTemp(t)
	st, err := s.Stats()
	require.NoError(t, err)
	assert.Zero(t, st.Conversations+st.Approvals+st.PendingApprovals+st.Runs+st.DedupeEntries)
	assert.Nil(t, st.OldestRun)
	assert.True(t, st.NextApprovalExpiry.IsZero())
}

func TestWriteStats(t *testing.T) {
	oldest := run(1, t0)
	tests := []struct {
		name string
		st   Stats
		want []string
	}{
		{
			name: "full",
			st: Stats{
				Path: "/var/lib/pvb/bridge.db", FileSize: 3 << 20, At: t0.Add(90 * time.Second),
				Conversations: 12, Approvals: 4, PendingApprovals: 1, NextApprovalExpiry: t0.Add(time.Hour),
				Runs: 2, OldestRun: &oldest, DedupeEntries: 40, DedupeExpired: 3,
				Schema: map[string]int{"runs": 1, "approvals": 1, "conversations": 2, "dedupe": 1},
			},
			want: []string{
				"file:            /var/lib/pvb/bridge.db (3.0 MiB)\n",
				"conversations:   12\n",
				"approvals:       4 (1 pending, next expiry 2026-11-28T13:00:00Z)\n",
				"in-flight runs:  2\n",
				"oldest run:      slack/T00000001/C00000001/1764331201.000001 started 2026-11-28T12:00:00Z (1m30s ago), placeholder 1764331400.000001\n",
				"dedupe entries:  40 (3 expired, awaiting sweep)\n",
				"schema:          approvals v1, conversations v2, dedupe v1, runs v1\n",
			},
		},
		{
			name: "empty",
			st:   Stats{Path: "x.db", FileSize: 100},
			want: []string{
				"file:            x.db (100 B)\n",
				"approvals:       0 (0 pending)\n",
				"oldest run:      none\n",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, WriteStats(&buf, tt.st))
			for _, line := range tt.want {
				assert.Contains(t, buf.String(), line)
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteStats_WriterError(t *testing.T) {
	err := WriteStats(failWriter{}, Stats{Path: "x"})
	require.ErrorContains(t, err, "disk full")
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {5 << 20, "5.0 MiB"}, {3 << 30, "3.0 GiB"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, byteSize(tt.n))
	}
}
