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

func TestApprovals_PutGet(t *testing.T) {
	ctx := context.Background()
	decided := approval(2, t0)
	decided.State, decided.DecidedBy, decided.DecidedByName, decided.DecidedAt = chat.ApprovalDenied, "U9", "Ana", t0

	tests := []struct {
		name    string
		put     []chat.Approval
		get     string
		want    chat.Approval
		wantErr error
		putErr  string
	}{
		{name: "unknown id", get: "apr_x", wantErr: chat.ErrNotFound},
		{name: "pending round trip", put: []chat.Approval{approval(1, t0)}, get: "apr_00000001", want: approval(1, t0)},
		{name: "decided round trip", put: []chat.Approval{decided}, get: decided.ID, want: decided},
		{name: "empty id", put: []chat.Approval{{State: chat.ApprovalPending}}, putErr: "empty id"},
		{name: "no state", put: []chat.Approval{{ID: "a"}}, putErr: "invalid state"},
		{name: "bad state", put: []chat.Approval{{ID: "a", State: "maybe"}}, putErr: "invalid state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t)
			for _, a := range tt.put {
				err := s.PutApproval(ctx, a)
				if tt.putErr != "" {
					require.ErrorContains(t, err, tt.putErr)
					return
				}
				require.NoError(t, err)
			}
			got, err := s.GetApproval(ctx, tt.get)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Contains(t, err.Error(), tt.get)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestApprovals_Decide(t *testing.T) {
	ctx := context.Background()
	at := t0.Add(time.Minute)
	tests := []struct {
		name      string
		state     chat.ApprovalState
		prior     []chat.ApprovalState // earlier decisions on the same id
		id        string
		wantOK    bool
		wantState chat.ApprovalState
		wantBy    string
		wantErr   error
		errMsg    string
	}{
		{name: "approve", state: chat.ApprovalApproved, wantOK: true, wantState: chat.ApprovalApproved, wantBy: "U2"},
		{name: "deny", state: chat.ApprovalDenied, wantOK: true, wantState: chat.ApprovalDenied, wantBy: "U2"},
		{name: "expire", state: chat.ApprovalExpired, wantOK: true, wantState: chat.ApprovalExpired, wantBy: "U2"},
		{
			name: "second decision loses", state: chat.ApprovalDenied, prior: []chat.ApprovalState{chat.ApprovalApproved},
			wantOK: false, wantState: chat.ApprovalApproved, wantBy: "U1",
		},
		{
			name: "same decision twice", state: chat.ApprovalApproved, prior: []chat.ApprovalState{chat.ApprovalApproved},
			wantOK: false, wantState: chat.ApprovalApproved, wantBy: "U1",
		},
		{
			name: "expired cannot be approved", state: chat.ApprovalApproved, prior: []chat.ApprovalState{chat.ApprovalExpired},
			wantOK: false, wantState: chat.ApprovalExpired, wantBy: "U1",
		},
		{name: "unknown id", state: chat.ApprovalApproved, id: "nope", wantErr: chat.ErrNotFound},
		{name: "pending is not a decision", state: chat.ApprovalPending, errMsg: "invalid decision"},
		{name: "garbage state", state: "yes", errMsg: "invalid decision"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t)
			a := approval(1, t0.Add(30*time.Minute))
			require.NoError(t, s.PutApproval(ctx, a))
			for _, st := range tt.prior {
				_, ok, err := s.DecideApproval(ctx, a.ID, st, "U1", "Uno", t0)
				require.NoError(t, err)
				require.True(t, ok)
			}
			id := a.ID
			if tt.id != "" {
				id = tt.id
			}
			got, ok, err := s.DecideApproval(ctx, id, tt.state, "U2", "Dos", at)
			switch {
			case tt.wantErr != nil:
				require.ErrorIs(t, err, tt.wantErr)
				return
			case tt.errMsg != "":
				require.ErrorContains(t, err, tt.errMsg)
				stored, err := s.GetApproval(ctx, a.ID)
				require.NoError(t, err)
				assert.Equal(t, chat.ApprovalPending, stored.State, "a rejected call changes nothing")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.wantState, got.State)
			assert.Equal(t, tt.wantBy, got.DecidedBy)
			if tt.wantOK {
				assert.Equal(t, "Dos", got.DecidedByName)
				assert.True(t, got.DecidedAt.Equal(at))
			}
			// The returned record is what is stored, and the rest is untouched.
			stored, err := s.GetApproval(ctx, a.ID)
			require.NoError(t, err)
			assert.Equal(t, got, stored)
			assert.Equal(t, a.Card, stored.Card)
			assert.Equal(t, a.ArgumentsDigest, stored.ArgumentsDigest)
			// A decided approval is never listed as expired.
			expired, err := s.ListExpiredApprovals(ctx, t0.Add(time.Hour), 10)
			require.NoError(t, err)
			assert.Empty(t, expired)
		})
	}
}

func TestApprovals_ListExpired(t *testing.T) {
	ctx := context.Background()
	ids := func(as []chat.Approval) []string {
		out := []string{}
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	// Approvals 0..4 expire at t0+0..4 min; 2 is decided.
	setup := func(t *testing.T) *Store {
		s := openTemp(t)
		for i := 4; i >= 0; i-- {
			require.NoError(t, s.PutApproval(ctx, approval(i, t0.Add(time.Duration(i)*time.Minute))))
		}
		_, ok, err := s.DecideApproval(ctx, approval(2, t0).ID, chat.ApprovalApproved, "U1", "", t0)
		require.NoError(t, err)
		require.True(t, ok)
		return s
	}
	tests := []struct {
		name  string
		now   time.Time
		limit int
		want  []string
	}{
		{name: "none due", now: t0.Add(-time.Second), limit: 10, want: []string{}},
		{name: "expires equal to now is due", now: t0, limit: 10, want: []string{"apr_00000000"}},
		{name: "soonest first, decided skipped", now: t0.Add(3 * time.Minute), limit: 10, want: []string{"apr_00000000", "apr_00000001", "apr_00000003"}},
		{name: "limit", now: t0.Add(time.Hour), limit: 2, want: []string{"apr_00000000", "apr_00000001"}},
		{name: "zero limit uses default", now: t0.Add(time.Hour), limit: 0, want: []string{"apr_00000000", "apr_00000001", "apr_00000003", "apr_00000004"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := setup(t)
			got, err := s.ListExpiredApprovals(ctx, tt.now, tt.limit)
			require.NoError(t, err)
			assert.Equal(t, tt.want, ids(got))
			for _, a := range got {
				assert.Equal(t, chat.ApprovalPending, a.State)
			}
		})
	}
}

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
	st, err := s.Stats()
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

func TestApprovals_SetCard(t *testing.T) {
	ctx := context.Background()
	card := chat.MessageRef{Key: convKey(1), ID: "1764331200.000100", Posted: t0.Add(time.Second)}
	decided := approval(1, t0.Add(time.Hour))
	decided.State, decided.DecidedBy, decided.DecidedByName, decided.DecidedAt = chat.ApprovalApproved, "U2", "Ana", t0.Add(time.Minute)
	withCard := func(a chat.Approval) chat.Approval { a.Card = card; return a }

	tests := []struct {
		name    string
		put     []chat.Approval
		id      string
		want    chat.Approval
		wantErr error
	}{
		{name: "pending: card recorded, record kept", put: []chat.Approval{approval(1, t0.Add(time.Hour))},
			id: "apr_00000001", want: withCard(approval(1, t0.Add(time.Hour)))},
		{name: "decided: decision not overwritten", put: []chat.Approval{decided},
			id: decided.ID, want: withCard(decided)},
		{name: "unknown id", put: []chat.Approval{approval(1, t0)}, id: "apr_x", wantErr: chat.ErrNotFound},
		{name: "empty store", id: "apr_00000001", wantErr: chat.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t)
			for _, a := range tt.put {
				require.NoError(t, s.PutApproval(ctx, a))
			}
			got, err := s.SetApprovalCard(ctx, tt.id, card)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Contains(t, err.Error(), tt.id)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got, "the record as it now is")
			assert.Equal(t, tt.want.Decided(), got.Decided())
			stored, err := s.GetApproval(ctx, tt.id)
			require.NoError(t, err)
			assert.Equal(t, tt.want, stored)
			raw := rawRecord(t, s, bucketApprovals, tt.id)
			assert.True(t, strings.HasPrefix(string(raw), `{"v":1,`), "schema-versioned record: %s", raw)
		})
	}
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
