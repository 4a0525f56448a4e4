package bridgetest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

func TestMemStoreConversations(t *testing.T) {
	ctx := context.Background()
	s := bridgetest.NewMemStore()
	_, err := s.GetConversation(ctx, testKey)
	require.ErrorIs(t, err, chat.ErrNotFound)

	c := chat.Conversation{Key: testKey, AgentID: "a1", Mode: chat.ModeStream, SessionToken: "tok", Visitor: "slack:T1:U1", Turns: 1}
	require.NoError(t, s.PutConversation(ctx, c))
	got, err := s.GetConversation(ctx, testKey)
	require.NoError(t, err)
	assert.Equal(t, c, got)

	c.Turns = 2
	require.NoError(t, s.PutConversation(ctx, c))
	got, err = s.GetConversation(ctx, testKey)
	require.NoError(t, err)
	assert.Equal(t, 2, got.Turns)

	require.Error(t, s.PutConversation(ctx, chat.Conversation{}), "invalid key")
	require.NoError(t, s.DeleteConversation(ctx, testKey))
	require.NoError(t, s.DeleteConversation(ctx, testKey), "deleting a missing one is fine")
	_, err = s.GetConversation(ctx, testKey)
	require.ErrorIs(t, err, chat.ErrNotFound)
}

func TestMemStoreApprovals(t *testing.T) {
	ctx := context.Background()
	s := bridgetest.NewMemStore()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	_, err := s.GetApproval(ctx, "x")
	require.ErrorIs(t, err, chat.ErrNotFound)
	_, _, err = s.DecideApproval(ctx, "x", chat.ApprovalApproved, "U1", "Ana", now)
	require.ErrorIs(t, err, chat.ErrNotFound)

	for i, exp := range []time.Duration{-time.Minute, -2 * time.Minute, 0, time.Minute} {
		require.NoError(t, s.PutApproval(ctx, chat.Approval{
			ID: fmt.Sprintf("a%d", i), Key: testKey, State: chat.ApprovalPending, Expires: now.Add(exp),
		}))
	}
	expired, err := s.ListExpiredApprovals(ctx, now, 10)
	require.NoError(t, err)
	var ids []string
	for _, a := range expired {
		ids = append(ids, a.ID)
	}
	assert.Equal(t, []string{"a1", "a0", "a2"}, ids, "pending, not after now, soonest first")
	expired, err = s.ListExpiredApprovals(ctx, now, 1)
	require.NoError(t, err)
	assert.Len(t, expired, 1)

	a, ok, err := s.DecideApproval(ctx, "a0", chat.ApprovalApproved, "U1", "Ana", now)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, chat.ApprovalApproved, a.State)
	assert.Equal(t, "Ana", a.DecidedByName)
	assert.Equal(t, now, a.DecidedAt)

	a, ok, err = s.DecideApproval(ctx, "a0", chat.ApprovalDenied, "U2", "Bo", now)
	require.NoError(t, err)
	assert.False(t, ok, "second decision loses")
	assert.Equal(t, chat.ApprovalApproved, a.State, "and sees the first")
	assert.Equal(t, "U1", a.DecidedBy)

	_, _, err = s.DecideApproval(ctx, "a1", chat.ApprovalPending, "U1", "Ana", now)
	require.Error(t, err, "pending is not a decision")

	expired, err = s.ListExpiredApprovals(ctx, now, 10)
	require.NoError(t, err)
	assert.Len(t, expired, 2, "decided approvals are not listed")
}

func TestMemStoreDecideExactlyOnceConcurrently(t *testing.T) {
	ctx := context.Background()
	s := bridgetest.NewMemStore()
	require.NoError(t, s.PutApproval(ctx, chat.Approval{ID: "a", State: chat.ApprovalPending}))
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 20 {
		wg.Go(func() {
			_, ok, err := s.DecideApproval(ctx, "a", chat.ApprovalApproved, fmt.Sprint(i), "", time.Now())
			assert.NoError(t, err)
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, wins)
}

func TestMemStoreRuns(t *testing.T) {
	ctx := context.Background()
	s := bridgetest.NewMemStore()
	now := time.Now()
	k2 := testKey
	k2.Thread = "2.0"
	require.NoError(t, s.PutRun(ctx, chat.InFlightRun{Key: k2, Started: now.Add(time.Second)}))
	require.NoError(t, s.PutRun(ctx, chat.InFlightRun{Key: testKey, Started: now}))
	runs, err := s.ListRuns(ctx)
	require.NoError(t, err)
	require.Len(t, runs, 2)
	assert.Equal(t, testKey, runs[0].Key, "oldest first")
	require.NoError(t, s.DeleteRun(ctx, testKey))
	require.NoError(t, s.DeleteRun(ctx, testKey))
	runs, err = s.ListRuns(ctx)
	require.NoError(t, err)
	assert.Len(t, runs, 1)
}

func TestMemStoreDedupe(t *testing.T) {
	ctx := context.Background()
	s := bridgetest.NewMemStore()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	seen, err := s.SeenOrMark(ctx, []string{"ev1"}, 10*time.Minute, now)
	require.NoError(t, err)
	assert.False(t, seen)
	seen, err = s.SeenOrMark(ctx, []string{"ev1"}, 10*time.Minute, now.Add(time.Minute))
	require.NoError(t, err)
	assert.True(t, seen)
	seen, err = s.SeenOrMark(ctx, []string{"ev1"}, 10*time.Minute, now.Add(10*time.Minute))
	require.NoError(t, err)
	assert.False(t, seen, "expired entries are marked again")

	for i := range 5 {
		_, err := s.SeenOrMark(ctx, []string{fmt.Sprint("k", i)}, time.Minute, now)
		require.NoError(t, err)
	}
	n, err := s.SweepDedupe(ctx, now.Add(2*time.Minute), 3)
	require.NoError(t, err)
	assert.Equal(t, 3, n, "up to limit")
	n, err = s.SweepDedupe(ctx, now.Add(2*time.Minute), 10)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "ev1 (until +20m) is kept")

	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh := 0
	for range 20 {
		wg.Go(func() {
			seen, err := s.SeenOrMark(ctx, []string{"race"}, time.Minute, now)
			assert.NoError(t, err)
			if !seen {
				mu.Lock()
				fresh++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, fresh, "exactly one concurrent caller marks")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.SeenOrMark(cctx, []string{"x"}, time.Minute, now)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestMemStoreSetApprovalCard(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	card := chat.MessageRef{Key: testKey, ID: "card-1", Posted: now}
	pending := chat.Approval{ID: "a", Key: testKey, Tool: "git.push", State: chat.ApprovalPending, Expires: now.Add(time.Hour)}
	decided := pending
	decided.State, decided.DecidedBy, decided.DecidedByName, decided.DecidedAt = chat.ApprovalDenied, "U2", "Bo", now
	withCard := func(a chat.Approval) chat.Approval { a.Card = card; return a }
	tests := []struct {
		name    string
		put     *chat.Approval
		id      string
		want    chat.Approval
		wantErr error
	}{
		{name: "pending: card recorded", put: &pending, id: "a", want: withCard(pending)},
		{name: "decided: decision kept", put: &decided, id: "a", want: withCard(decided)},
		{name: "unknown id", put: &pending, id: "b", wantErr: chat.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := bridgetest.NewMemStore()
			require.NoError(t, s.PutApproval(ctx, *tt.put))
			got, err := s.SetApprovalCard(ctx, tt.id, card)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			stored, err := s.GetApproval(ctx, tt.id)
			require.NoError(t, err)
			assert.Equal(t, tt.want, stored)
		})
	}
}

// SetApprovalCard racing DecideApproval: exactly one of the two sees the other.
func TestMemStoreSetApprovalCardRacesDecide(t *testing.T) {
	ctx := context.Background()
	for i := range 50 {
		s := bridgetest.NewMemStore()
		require.NoError(t, s.PutApproval(ctx, chat.Approval{ID: "a", State: chat.ApprovalPending}))
		var (
			wg      sync.WaitGroup
			set     chat.Approval
			decided chat.Approval
		)
		wg.Go(func() {
			var err error
			set, err = s.SetApprovalCard(ctx, "a", chat.MessageRef{ID: "card"})
			assert.NoError(t, err)
		})
		wg.Go(func() {
			var err error
			decided, _, err = s.DecideApproval(ctx, "a", chat.ApprovalApproved, "U1", "", time.Now())
			assert.NoError(t, err)
		})
		wg.Wait()
		require.NotEqual(t, decided.Card.ID != "", set.Decided(), "round %d", i)
		got, err := s.GetApproval(ctx, "a")
		require.NoError(t, err)
		assert.Equal(t, chat.ApprovalApproved, got.State)
		assert.Equal(t, "card", got.Card.ID)
	}
}

// The keys of one message are checked and marked together: Slack's
// app_mention/message twin (other event id, same channel+ts) is seen, and its
// event id is marked so its own retry is seen as well.
func TestMemStoreDedupeKeysOfOneMessage(t *testing.T) {
	ctx := context.Background()
	s := bridgetest.NewMemStore()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	calls := []struct {
		keys     []string
		wantSeen bool
		wantErr  string
	}{
		{keys: []string{"ev1", "C1:1.2"}},
		{keys: []string{"ev2", "C1:1.2"}, wantSeen: true},
		{keys: []string{"ev2"}, wantSeen: true},
		{keys: []string{"ev3", "C1:1.3"}},
		{keys: nil, wantErr: "no keys"},
		{keys: []string{"ev4", ""}, wantErr: "empty key"},
		{keys: []string{"ev4"}},
	}
	for i, c := range calls {
		seen, err := s.SeenOrMark(ctx, c.keys, time.Minute, now)
		if c.wantErr != "" {
			require.ErrorContains(t, err, c.wantErr, "call %d", i)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, c.wantSeen, seen, "call %d", i)
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh := 0
	for g := range 20 {
		wg.Go(func() {
			seen, err := s.SeenOrMark(ctx, []string{fmt.Sprint("twin-ev", g), "C1:9.9"}, time.Minute, now)
			assert.NoError(t, err)
			if !seen {
				mu.Lock()
				fresh++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, fresh, "of concurrent calls sharing a key, exactly one marks")
}
