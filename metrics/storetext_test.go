package metrics

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
)

func TestWriteStoreStats(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	key := chat.ConversationKey{Platform: "slack", Workspace: "T00000001", Channel: "C00000001", Thread: "1764331201.000001"}
	oldest := chat.InFlightRun{Key: key, Placeholder: chat.MessageRef{Key: key, ID: "1764331400.000001"}, Started: t0}
	tests := []struct {
		name string
		st   chat.StoreStats
		want []string
	}{
		{
			name: "full",
			st: chat.StoreStats{
				Backend: "bbolt", LocationKind: "file", Location: "/var/lib/pvb/bridge.db", SizeBytes: 3 << 20, At: t0.Add(90 * time.Second),
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
			st:   chat.StoreStats{Backend: "bbolt", LocationKind: "file", Location: "x.db", SizeBytes: 100},
			want: []string{
				"file:            x.db (100 B)\n",
				"approvals:       0 (0 pending)\n",
				"oldest run:      none\n",
			},
		},
		{
			name: "a database backend",
			st:   chat.StoreStats{Backend: "other", LocationKind: "database", Location: "bridge@db1", SizeBytes: 5 << 30},
			want: []string{"database:        bridge@db1 (5.0 GiB)\n"},
		},
		{
			name: "no location kind",
			st:   chat.StoreStats{Backend: "memory"},
			want: []string{"backend:         memory (0 B)\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, WriteStoreStats(&buf, tt.st))
			for _, line := range tt.want {
				assert.Contains(t, buf.String(), line)
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteStoreStats_WriterError(t *testing.T) {
	err := WriteStoreStats(failWriter{}, chat.StoreStats{Location: "x"})
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
