package bolt

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
