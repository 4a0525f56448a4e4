package bolt

import (
	"context"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConversations(t *testing.T) {
	ctx := context.Background()
	trigger := conversation(2)
	trigger.Mode, trigger.SessionToken, trigger.SessionID = chat.ModeTrigger, "", "sid-42"
	odd := conversation(3)
	odd.Key = chat.ConversationKey{Platform: "discord", Workspace: "dm", Channel: "a/b%c"} // escaped parts, no thread
	updated := conversation(1)
	updated.Turns, updated.LastActive = 99, t0.Add(time.Hour)

	tests := []struct {
		name    string
		puts    []chat.Conversation
		deletes []chat.ConversationKey
		get     chat.ConversationKey
		want    chat.Conversation
		wantErr error
		putErr  string
	}{
		{name: "unknown key", get: convKey(1), wantErr: chat.ErrNotFound},
		{name: "round trip stream", puts: []chat.Conversation{conversation(1)}, get: convKey(1), want: conversation(1)},
		{name: "round trip trigger", puts: []chat.Conversation{trigger}, get: trigger.Key, want: trigger},
		{name: "escaped key parts", puts: []chat.Conversation{odd}, get: odd.Key, want: odd},
		{name: "replace", puts: []chat.Conversation{conversation(1), updated}, get: convKey(1), want: updated},
		{name: "other key", puts: []chat.Conversation{conversation(1)}, get: convKey(2), wantErr: chat.ErrNotFound},
		{
			name: "thread differs", puts: []chat.Conversation{conversation(1)},
			get:     chat.ConversationKey{Platform: convKey(1).Platform, Workspace: convKey(1).Workspace, Channel: convKey(1).Channel},
			wantErr: chat.ErrNotFound,
		},
		{
			name: "deleted", puts: []chat.Conversation{conversation(1)}, deletes: []chat.ConversationKey{convKey(1)},
			get: convKey(1), wantErr: chat.ErrNotFound,
		},
		{
			name: "delete unknown is fine", puts: []chat.Conversation{conversation(1)}, deletes: []chat.ConversationKey{convKey(5)},
			get: convKey(1), want: conversation(1),
		},
		{
			name:   "invalid key",
			puts:   []chat.Conversation{{Key: chat.ConversationKey{Platform: "slack"}}},
			putErr: "invalid key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t)
			for _, c := range tt.puts {
				err := s.PutConversation(ctx, c)
				if tt.putErr != "" {
					require.ErrorContains(t, err, tt.putErr)
					return
				}
				require.NoError(t, err)
			}
			for _, k := range tt.deletes {
				require.NoError(t, s.DeleteConversation(ctx, k))
			}
			got, err := s.GetConversation(ctx, tt.get)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Contains(t, err.Error(), tt.get.String())
				assert.Equal(t, chat.Conversation{}, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestConversations_SurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/bridge.db"
	s, err := Open(path, Options{})
	require.NoError(t, err)
	for i := range 50 {
		require.NoError(t, s.PutConversation(ctx, conversation(i)))
	}
	require.NoError(t, s.Close())

	s, err = Open(path, Options{})
	require.NoError(t, err)
	defer s.Close()
	for i := range 50 {
		got, err := s.GetConversation(ctx, convKey(i))
		require.NoError(t, err)
		assert.Equal(t, conversation(i), got)
	}
}
