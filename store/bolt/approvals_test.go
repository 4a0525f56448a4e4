package bolt

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

func TestApprovals_RePutMovesIndex(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	a := approval(1, t0)
	require.NoError(t, s.PutApproval(ctx, a))

	// Extending the expiry moves the index entry: no stale entry at t0.
	a.Expires = t0.Add(time.Hour)
	require.NoError(t, s.PutApproval(ctx, a))
	got, err := s.ListExpiredApprovals(ctx, t0.Add(time.Minute), 10)
	require.NoError(t, err)
	assert.Empty(t, got)
	got, err = s.ListExpiredApprovals(ctx, t0.Add(time.Hour), 10)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.True(t, got[0].Expires.Equal(a.Expires))

	// Putting it back as decided removes it from the index altogether.
	a.State = chat.ApprovalDenied
	require.NoError(t, s.PutApproval(ctx, a))
	got, err = s.ListExpiredApprovals(ctx, t0.Add(2*time.Hour), 10)
	require.NoError(t, err)
	assert.Empty(t, got)
	st, err := s.Stats(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 0, st.PendingApprovals)
	assert.Equal(t, 1, st.Approvals)
}

func TestApprovals_ListExpiredReadsOnlyDueEntries(t *testing.T) {
	// With many pending approvals far in the future, listing the few due
	// ones is served from the index alone: a broken far-future record is
	// never decoded.
	ctx := context.Background()
	s := openTemp(t)
	for i := range 200 {
		require.NoError(t, s.PutApproval(ctx, approval(i, t0.Add(time.Duration(i+1)*time.Hour))))
	}
	require.NoError(t, s.PutApproval(ctx, approval(1000, t0)))
	putRaw(t, s, bucketApprovals, map[string]string{approval(150, t0).ID: "broken"})
	got, err := s.ListExpiredApprovals(ctx, t0.Add(time.Minute), 10)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, fmt.Sprintf("apr_%08d", 1000), got[0].ID)
}

// SetApprovalCard writes the record in the current schema, like PutApproval.
func TestApprovals_SetCardKeepsSchemaVersion(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	a := approval(1, t0.Add(time.Hour))
	require.NoError(t, s.PutApproval(ctx, a))
	_, err := s.SetApprovalCard(ctx, a.ID, chat.MessageRef{Key: a.Key, ID: "card"})
	require.NoError(t, err)
	raw := rawRecord(t, s, bucketApprovals, a.ID)
	assert.True(t, strings.HasPrefix(string(raw), `{"v":1,`), "schema-versioned record: %s", raw)
}

func TestApprovals_SetCardKeepsExpiryIndex(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	a := approval(1, t0.Add(time.Minute))
	require.NoError(t, s.PutApproval(ctx, a))
	_, err := s.SetApprovalCard(ctx, a.ID, chat.MessageRef{Key: a.Key, ID: "card"})
	require.NoError(t, err)
	assert.Equal(t, 1, countBucket(t, s, bucketApprovalsExp))
	due, err := s.ListExpiredApprovals(ctx, t0.Add(time.Hour), 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	assert.Equal(t, "card", due[0].Card.ID, "the expiry sweep sees the card to edit")

	// Once decided, the card is still recorded and the index entry is gone.
	_, ok, err := s.DecideApproval(ctx, a.ID, chat.ApprovalExpired, "", "", t0.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, ok)
	got, err := s.SetApprovalCard(ctx, a.ID, chat.MessageRef{Key: a.Key, ID: "card2"})
	require.NoError(t, err)
	assert.Equal(t, chat.ApprovalExpired, got.State)
	assert.Zero(t, countBucket(t, s, bucketApprovalsExp), "a decided approval is not put back in the index")
}

// rawRecord returns a copy of the raw record key of bucket name.
func rawRecord(t testing.TB, s *Store, name bucketName, key string) []byte {
	t.Helper()
	var raw []byte
	require.NoError(t, s.view(func(tx *bbolt.Tx) error {
		raw = append([]byte(nil), name.in(tx).Get([]byte(key))...)
		return nil
	}))
	require.NotNil(t, raw, "record %s/%s", name, key)
	return raw
}
