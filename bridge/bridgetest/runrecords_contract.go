package bridgetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
)

// RunRunRecordContract checks a store's run records, stopped approvals and
// denials with a reason
// against the chat.Store contract: PutRunRecord and GetRunRecord round-trip,
// MoveRun is a compare-and-set (one winner among concurrent moves, a loser
// sees the winner's record), SweepRunRecords removes only old ended runs,
// DecideApproval accepts the stopped state exactly once, and
// DecideApprovalWith keeps a denial's reason (a later decision neither wins
// nor changes it), and an approval decided with a grant stores the grant in
// its conversation only, listable and revocable. newStore is
// called once per check and must return an empty store.
func RunRunRecordContract(t *testing.T, newStore func(t *testing.T) chat.Store) {
	t.Helper()
	checks := []struct {
		name string
		run  func(t *testing.T, s chat.Store)
	}{
		{"RoundTrip", contractRunRoundTrip},
		{"MoveIsCompareAndSet", contractRunMove},
		{"ConcurrentMovesOneWinner", contractRunMoveRace},
		{"Sweep", contractRunSweep},
		{"InvalidInput", contractRunInvalid},
		{"ApprovalStopped", contractApprovalStopped},
		{"ApprovalDeniedWithReason", contractApprovalReason},
		{"Grants", contractGrants},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) { c.run(t, newStore(t)) })
	}
}

var contractKey = chat.ConversationKey{Platform: "chat", Workspace: "T1", Channel: "C1", Thread: "1.0"}

func contractRun(id string, state chat.RunState, created time.Time) chat.RunRecord {
	return chat.RunRecord{ID: id, Key: contractKey, Requester: "U1", Query: "why?", State: state, Created: created}
}

func contractRunRoundTrip(t *testing.T, s chat.Store) {
	ctx := context.Background()
	_, err := s.GetRunRecord(ctx, "nope")
	require.ErrorIs(t, err, chat.ErrNotFound)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := contractRun("r1", chat.RunRunning, now)
	r.Live = chat.MessageRef{Key: contractKey, ID: "m1", Posted: now}
	require.NoError(t, s.PutRunRecord(ctx, r))
	got, err := s.GetRunRecord(ctx, "r1")
	require.NoError(t, err)
	assert.Equal(t, r.Key, got.Key)
	assert.Equal(t, "why?", got.Query)
	assert.Equal(t, "m1", got.Live.ID)
	assert.True(t, got.Created.Equal(now))
	assert.Equal(t, chat.RunRunning, got.State)
}

func contractRunMove(t *testing.T, s chat.Store) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, s.PutRunRecord(ctx, contractRun("r1", chat.RunRunning, now)))
	_, _, err := s.MoveRun(ctx, "nope", []chat.RunState{chat.RunRunning}, chat.RunMove{To: chat.RunStopped})
	require.ErrorIs(t, err, chat.ErrNotFound)

	// A move that does not change the state records fields (the live message).
	r, ok, err := s.MoveRun(ctx, "r1", []chat.RunState{chat.RunRunning},
		chat.RunMove{To: chat.RunRunning, Live: chat.MessageRef{Key: contractKey, ID: "m1"}})
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "m1", r.Live.ID)

	r, ok, err = s.MoveRun(ctx, "r1", []chat.RunState{chat.RunRunning, chat.RunWaiting},
		chat.RunMove{To: chat.RunStopped, By: "U2", ByName: "Ana", At: now.Add(time.Second)})
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, chat.RunStopped, r.State)
	assert.Equal(t, "m1", r.Live.ID, "empty fields of a move keep the record's")

	// Out of a state the run is not in: nothing changes, the record says why.
	r, ok, err = s.MoveRun(ctx, "r1", []chat.RunState{chat.RunRunning}, chat.RunMove{To: chat.RunFinished, By: "U9"})
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, chat.RunStopped, r.State)
	assert.Equal(t, "Ana", r.DecidedByName)
	assert.True(t, r.DecidedAt.Equal(now.Add(time.Second)))
	got, err := s.GetRunRecord(ctx, "r1")
	require.NoError(t, err)
	assert.Equal(t, "U2", got.DecidedBy)
}

func contractRunMoveRace(t *testing.T, s chat.Store) {
	ctx := context.Background()
	require.NoError(t, s.PutRunRecord(ctx, contractRun("r1", chat.RunFailed, time.Now())))
	const n = 16
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins []string
	)
	for i := range n {
		wg.Go(func() {
			by := string(rune('a' + i))
			r, ok, err := s.MoveRun(ctx, "r1", []chat.RunState{chat.RunFailed}, chat.RunMove{To: chat.RunRetried, By: by})
			assert.NoError(t, err)
			assert.Equal(t, chat.RunRetried, r.State)
			if ok {
				mu.Lock()
				wins = append(wins, by)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, wins, 1, "exactly one concurrent move wins")
	got, err := s.GetRunRecord(ctx, "r1")
	require.NoError(t, err)
	assert.Equal(t, wins[0], got.DecidedBy)
}

func contractRunSweep(t *testing.T, s chat.Store) {
	ctx := context.Background()
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cut := old.Add(time.Hour)
	recs := []chat.RunRecord{
		contractRun("old-finished", chat.RunFinished, old),
		contractRun("old-failed", chat.RunFailed, old),
		contractRun("old-running", chat.RunRunning, old),
		contractRun("old-waiting", chat.RunWaiting, old),
		contractRun("new-finished", chat.RunFinished, cut.Add(time.Minute)),
	}
	for _, r := range recs {
		require.NoError(t, s.PutRunRecord(ctx, r))
	}
	n, err := s.SweepRunRecords(ctx, cut, 1)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the limit holds")
	n, err = s.SweepRunRecords(ctx, cut, 100)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	for _, id := range []string{"old-finished", "old-failed"} {
		_, err := s.GetRunRecord(ctx, id)
		assert.ErrorIs(t, err, chat.ErrNotFound, id)
	}
	for _, id := range []string{"old-running", "old-waiting", "new-finished"} {
		_, err := s.GetRunRecord(ctx, id)
		assert.NoError(t, err, id)
	}
}

func contractRunInvalid(t *testing.T, s chat.Store) {
	ctx := context.Background()
	assert.Error(t, s.PutRunRecord(ctx, chat.RunRecord{State: chat.RunRunning}), "empty id")
	assert.Error(t, s.PutRunRecord(ctx, chat.RunRecord{ID: "x", State: "bogus"}), "invalid state")
	require.NoError(t, s.PutRunRecord(ctx, contractRun("r1", chat.RunRunning, time.Now())))
	_, _, err := s.MoveRun(ctx, "r1", []chat.RunState{chat.RunRunning}, chat.RunMove{To: "bogus"})
	assert.Error(t, err)
	assert.False(t, errors.Is(err, chat.ErrNotFound))
}

func contractApprovalStopped(t *testing.T, s chat.Store) {
	ctx := context.Background()
	now := time.Now()
	a := chat.Approval{ID: "a1", Key: contractKey, Requester: "U1", State: chat.ApprovalPending, Created: now, Expires: now.Add(time.Hour)}
	require.NoError(t, s.PutApproval(ctx, a))
	got, ok, err := s.DecideApproval(ctx, "a1", chat.ApprovalStopped, "U1", "Ana", now)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, chat.ApprovalStopped, got.State)
	assert.True(t, got.Decided())
	got, ok, err = s.DecideApproval(ctx, "a1", chat.ApprovalApproved, "U2", "Bo", now)
	require.NoError(t, err)
	assert.False(t, ok, "a stopped request is decided")
	assert.Equal(t, chat.ApprovalStopped, got.State)
	expired, err := s.ListExpiredApprovals(ctx, now.Add(2*time.Hour), 10)
	require.NoError(t, err)
	assert.Empty(t, expired, "a stopped request never expires")
}

func contractApprovalReason(t *testing.T, s chat.Store) {
	ctx := context.Background()
	now := time.Now()
	a := chat.Approval{ID: "a1", Key: contractKey, Requester: "U1", State: chat.ApprovalPending, Created: now, Expires: now.Add(time.Hour)}
	require.NoError(t, s.PutApproval(ctx, a))
	got, ok, err := s.DecideApprovalWith(ctx, "a1", chat.ApprovalDecision{State: chat.ApprovalDenied, By: "U1", ByName: "Ana", At: now, Reason: "wrong project"})
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "wrong project", got.Reason)
	got, ok, err = s.DecideApprovalWith(ctx, "a1", chat.ApprovalDecision{State: chat.ApprovalDenied, By: "U2", Reason: "other"})
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, "wrong project", got.Reason)
	assert.Equal(t, "U1", got.DecidedBy)
	stored, err := s.GetApproval(ctx, "a1")
	require.NoError(t, err)
	assert.Equal(t, "wrong project", stored.Reason)
	_, _, err = s.DecideApprovalWith(ctx, "a1", chat.ApprovalDecision{State: chat.ApprovalPending})
	assert.Error(t, err, "pending is not a decision")
}

func contractGrants(t *testing.T, s chat.Store) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	other := chat.ConversationKey{Platform: "chat", Workspace: "T1", Channel: "C1", Thread: "2.0"}
	put := func(id string, key chat.ConversationKey, tool string) {
		require.NoError(t, s.PutApproval(ctx, chat.Approval{ID: id, Key: key, Tool: tool, Requester: "U1",
			State: chat.ApprovalPending, Created: now, Expires: now.Add(time.Hour)}))
	}
	put("a1", contractKey, "jira.create_issue")
	put("a2", contractKey, "git.push")
	put("a3", other, "jira.create_issue")

	_, err := s.GetGrant(ctx, contractKey, "jira.create_issue")
	require.ErrorIs(t, err, chat.ErrNotFound)
	got, ok, err := s.DecideApprovalWith(ctx, "a1", chat.ApprovalDecision{State: chat.ApprovalApproved, By: "U1", ByName: "Ana", At: now, Grant: true})
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, got.Granted)
	g, err := s.GetGrant(ctx, contractKey, "jira.create_issue")
	require.NoError(t, err)
	assert.Equal(t, chat.Grant{Key: contractKey, Tool: "jira.create_issue", By: "U1", ByName: "Ana", Approval: "a1", Created: now}, g)
	_, err = s.GetGrant(ctx, other, "jira.create_issue")
	assert.ErrorIs(t, err, chat.ErrNotFound, "a grant never crosses conversations")

	// A losing grant press stores nothing; a denial never grants.
	_, ok, err = s.DecideApprovalWith(ctx, "a1", chat.ApprovalDecision{State: chat.ApprovalApproved, By: "U2", Grant: true, At: now})
	require.NoError(t, err)
	assert.False(t, ok)
	g, err = s.GetGrant(ctx, contractKey, "jira.create_issue")
	require.NoError(t, err)
	assert.Equal(t, "U1", g.By)
	_, ok, err = s.DecideApprovalWith(ctx, "a2", chat.ApprovalDecision{State: chat.ApprovalDenied, By: "U1", Grant: true, At: now})
	require.NoError(t, err)
	require.True(t, ok)
	_, err = s.GetGrant(ctx, contractKey, "git.push")
	assert.ErrorIs(t, err, chat.ErrNotFound)

	_, _, err = s.DecideApprovalWith(ctx, "a3", chat.ApprovalDecision{State: chat.ApprovalApproved, By: "U1", Grant: true, At: now})
	require.NoError(t, err)
	list, err := s.ListGrants(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, contractKey, list[0].Key, "by conversation")
	assert.Equal(t, other, list[1].Key)

	require.NoError(t, s.DeleteGrant(ctx, contractKey, "jira.create_issue"))
	assert.ErrorIs(t, s.DeleteGrant(ctx, contractKey, "jira.create_issue"), chat.ErrNotFound)
	_, err = s.GetGrant(ctx, contractKey, "jira.create_issue")
	assert.ErrorIs(t, err, chat.ErrNotFound)
	_, err = s.GetGrant(ctx, other, "jira.create_issue")
	assert.NoError(t, err, "revoking one conversation's grant leaves the other's")
}
