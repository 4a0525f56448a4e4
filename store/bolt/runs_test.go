package bolt

import (
	"context"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRuns(t *testing.T) {
	ctx := context.Background()
	keys := func(rs []chat.InFlightRun) []chat.ConversationKey {
		out := []chat.ConversationKey{}
		for _, r := range rs {
			out = append(out, r.Key)
		}
		return out
	}
	later := run(1, t0.Add(time.Hour))
	tests := []struct {
		name    string
		puts    []chat.InFlightRun
		deletes []chat.ConversationKey
		want    []chat.ConversationKey
		putErr  string
	}{
		{name: "empty", want: []chat.ConversationKey{}},
		{
			name: "oldest first",
			puts: []chat.InFlightRun{run(1, t0.Add(2*time.Minute)), run(2, t0), run(3, t0.Add(time.Minute))},
			want: []chat.ConversationKey{convKey(2), convKey(3), convKey(1)},
		},
		{
			name: "one per conversation: a later put replaces",
			puts: []chat.InFlightRun{run(1, t0), run(2, t0.Add(time.Minute)), later},
			want: []chat.ConversationKey{convKey(2), convKey(1)},
		},
		{
			name:    "removed on completion",
			puts:    []chat.InFlightRun{run(1, t0), run(2, t0)},
			deletes: []chat.ConversationKey{convKey(1)},
			want:    []chat.ConversationKey{convKey(2)},
		},
		{
			name:    "deleting an unknown run is fine",
			puts:    []chat.InFlightRun{run(1, t0)},
			deletes: []chat.ConversationKey{convKey(9), convKey(9)},
			want:    []chat.ConversationKey{convKey(1)},
		},
		{name: "invalid key", puts: []chat.InFlightRun{{Started: t0}}, putErr: "invalid key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t)
			for _, r := range tt.puts {
				err := s.PutRun(ctx, r)
				if tt.putErr != "" {
					require.ErrorContains(t, err, tt.putErr)
					return
				}
				require.NoError(t, err)
			}
			for _, k := range tt.deletes {
				require.NoError(t, s.DeleteRun(ctx, k))
			}
			got, err := s.ListRuns(ctx)
			require.NoError(t, err)
			assert.Equal(t, tt.want, keys(got))
		})
	}
}

func TestRuns_RoundTripAllFields(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	r := run(4, t0)
	r.Placeholder.Channel = "thread-123"
	require.NoError(t, s.PutRun(ctx, r))
	got, err := s.ListRuns(ctx)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, r, got[0])
}
