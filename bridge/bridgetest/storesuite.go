package bridgetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
)

// Replicated is a store that can open more handles on the same records, as
// other processes would: for a database server, another connection pool. The
// suite spreads its concurrent callers over three handles when the store
// under test has it, so that the compare-and-sets and the dedupe marks are
// checked across replicas. Each replica is closed by whoever opened it
// (t.Cleanup in OpenReplica).
type Replicated interface {
	OpenReplica(t *testing.T) chat.Store
}

// handles returns the handles concurrent callers use: s, and two replicas
// when s is Replicated.
func handles(t *testing.T, s chat.Store) []chat.Store {
	hs := []chat.Store{s}
	if r, ok := s.(Replicated); ok {
		for range 2 {
			h := r.OpenReplica(t)
			require.NotNil(t, h, "OpenReplica")
			hs = append(hs, h)
		}
	}
	return hs
}

// StatsReporter is a store that reports what it holds (store.Store has it).
// RunStoreConformance checks its counts when the store under test has it.
type StatsReporter interface {
	Stats(ctx context.Context) (chat.StoreStats, error)
}

// RunStoreConformance runs the store contract suite: every chat.Store method's
// semantics as chat/store.go documents them, cancelled contexts, calls after
// Close (when the store is an io.Closer), Stats (when it is a StatsReporter)
// and concurrent callers (over several handles when it is Replicated). It is
// the one suite every backend runs, in the manner of litestream's replica
// client tests.
//
// newStore is called once per check and must return an empty store. When the
// store is an io.Closer the suite closes it as the check ends, and one check
// closes it earlier, so a Close registered by newStore as well must be
// harmless (Close may be called more than once). Times are passed in, never
// read from the clock, and are whole milliseconds in UTC: a backend must keep
// at least that precision, and may return another location.
func RunStoreConformance(t *testing.T, newStore func(t *testing.T) chat.Store) {
	t.Helper()
	checks := []struct {
		name string
		run  func(t *testing.T, s chat.Store)
	}{
		{"Conversations", confConversations},
		{"Approvals/PutGet", confApprovalsPutGet},
		{"Approvals/RePutReplaces", confApprovalsRePut},
		{"SetApprovalCard", confSetApprovalCard},
		{"DecideApproval/States", confDecideStates},
		{"DecideApproval/CompareAndSet", confDecideCAS},
		{"DecideApproval/ConcurrentCallers", confDecideConcurrent},
		{"DecideApproval/RacesSetApprovalCard", confDecideRacesCard},
		{"ListExpiredApprovals", confListExpired},
		{"Runs", confRuns},
		{"SeenOrMark", confSeenOrMark},
		{"SeenOrMark/ConcurrentCallers", confSeenOrMarkConcurrent},
		{"SeenOrMark/ConcurrentTwins", confSeenOrMarkTwins},
		{"SweepDedupe", confSweepDedupe},
		{"SweepDedupe/InBatches", confSweepBatches},
		{"SweepDedupe/ConcurrentWithMarks", confSweepConcurrent},
		{"CancelledContext", confCancelled},
		{"ConcurrentCallers", confConcurrentMixed},
		{"Stats", confStats},
		{"Feedback", confFeedback},
		{"Feedback/ConcurrentPresses", confFeedbackConcurrent},
		{"AfterClose", confAfterClose},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			require.NotNil(t, s, "newStore")
			if cl, ok := s.(io.Closer); ok {
				t.Cleanup(func() { assert.NoError(t, cl.Close(), "Close") })
			}
			c.run(t, s)
		})
	}
	// Run records, stopped approvals, denials with a reason and
	// conversation grants: the steering contract.
	t.Run("RunRecords", func(t *testing.T) {
		RunRunRecordContract(t, func(t *testing.T) chat.Store {
			s := newStore(t)
			require.NotNil(t, s, "newStore")
			if cl, ok := s.(io.Closer); ok {
				t.Cleanup(func() { assert.NoError(t, cl.Close(), "Close") })
			}
			return s
		})
	})
	// App installations (OAuth installs), for the stores that keep them.
	t.Run("Installations", func(t *testing.T) {
		probe := newStore(t)
		if cl, ok := probe.(io.Closer); ok {
			t.Cleanup(func() { assert.NoError(t, cl.Close(), "Close") })
		}
		if _, ok := probe.(chat.InstallationStore); !ok {
			t.Skip("the store keeps no installations")
		}
		RunInstallationContract(t, func(t *testing.T) chat.InstallationStore {
			s := newStore(t)
			if cl, ok := s.(io.Closer); ok {
				t.Cleanup(func() { assert.NoError(t, cl.Close(), "Close") })
			}
			return s.(chat.InstallationStore)
		})
	})
}

// st0 is the suite's fixed "now".
var st0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// sKey is conversation key number i of the suite.
func sKey(i int) chat.ConversationKey {
	return chat.ConversationKey{Platform: "chat", Workspace: "W1", Channel: fmt.Sprintf("C%03d", i%7), Thread: fmt.Sprintf("%d.000100", 1000+i)}
}

// sConversation is a complete stream-mode conversation record numbered i.
func sConversation(i int) chat.Conversation {
	return chat.Conversation{
		Key: sKey(i), AgentID: "agent-1", Mode: chat.ModeStream, SessionToken: fmt.Sprintf("tok-%d", i),
		Visitor: fmt.Sprintf("chat:W1:U%d", i), Created: st0, LastActive: st0.Add(time.Duration(i) * time.Second), Turns: i,
	}
}

// sApproval is a complete pending approval numbered i expiring at exp.
func sApproval(i int, exp time.Time) chat.Approval {
	return chat.Approval{
		ID: fmt.Sprintf("apr_%04d", i), Key: sKey(i), Requester: "U1", AgentID: "agent-1", Tool: "git.push",
		Description: "push to main", ArgumentsDigest: "9f86d081884c7d65", Arguments: `{"branch":"main"}`,
		Created: st0, Expires: exp, State: chat.ApprovalPending,
	}
}

// sRun is an in-flight run of conversation i started at started.
func sRun(i int, started time.Time) chat.InFlightRun {
	return chat.InFlightRun{
		Key: sKey(i), Placeholder: chat.MessageRef{Key: sKey(i), ID: fmt.Sprintf("%d.000200", 2000+i), Posted: started},
		InboundID: fmt.Sprintf("%d.000100", 1000+i), Started: started,
	}
}

// utc returns t in UTC without a monotonic reading: records are compared
// after this, so a backend may return another location.
func utc(t time.Time) time.Time { return t.UTC().Round(0) }

func normRef(r chat.MessageRef) chat.MessageRef { r.Posted = utc(r.Posted); return r }

func normConversation(c chat.Conversation) chat.Conversation {
	c.Created, c.LastActive = utc(c.Created), utc(c.LastActive)
	return c
}

func normApproval(a chat.Approval) chat.Approval {
	a.Card = normRef(a.Card)
	a.Created, a.Expires, a.DecidedAt = utc(a.Created), utc(a.Expires), utc(a.DecidedAt)
	return a
}

func normRun(r chat.InFlightRun) chat.InFlightRun {
	r.Placeholder = normRef(r.Placeholder)
	r.Started = utc(r.Started)
	return r
}

func approvalIDs(as []chat.Approval) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

func runKeys(rs []chat.InFlightRun) []chat.ConversationKey {
	out := []chat.ConversationKey{}
	for _, r := range rs {
		out = append(out, r.Key)
	}
	return out
}

// together runs fn in n goroutines released at once, and waits for them.
func together(n int, fn func(g int)) {
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for g := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-gate
			fn(g)
		}()
	}
	ready.Wait()
	close(gate)
	done.Wait()
}

func confConversations(t *testing.T, s chat.Store) {
	ctx := t.Context()
	trigger := sConversation(2)
	trigger.Mode, trigger.SessionToken, trigger.SessionID = chat.ModeTrigger, "", "sid-42"
	odd := sConversation(3)
	odd.Key = chat.ConversationKey{Platform: "chat", Workspace: "dm", Channel: "a/b%c"} // escaped parts, no thread
	updated := sConversation(1)
	updated.Turns, updated.LastActive = 99, st0.Add(time.Hour)
	noThread := sKey(1)
	noThread.Thread = ""

	tests := []struct {
		name    string
		puts    []chat.Conversation
		deletes []chat.ConversationKey
		get     chat.ConversationKey
		want    chat.Conversation
		wantErr error
		putErr  bool
	}{
		{name: "unknown key", get: sKey(1), wantErr: chat.ErrNotFound},
		{name: "round trip stream", puts: []chat.Conversation{sConversation(1)}, get: sKey(1), want: sConversation(1)},
		{name: "round trip trigger", puts: []chat.Conversation{trigger}, get: trigger.Key, want: trigger},
		{name: "escaped key parts", puts: []chat.Conversation{odd}, get: odd.Key, want: odd},
		{name: "a later put replaces", puts: []chat.Conversation{sConversation(1), updated}, get: sKey(1), want: updated},
		{name: "other key", puts: []chat.Conversation{sConversation(1)}, get: sKey(2), wantErr: chat.ErrNotFound},
		{name: "thread differs", puts: []chat.Conversation{sConversation(1)}, get: noThread, wantErr: chat.ErrNotFound},
		{name: "deleted", puts: []chat.Conversation{sConversation(1)}, deletes: []chat.ConversationKey{sKey(1)}, get: sKey(1), wantErr: chat.ErrNotFound},
		{
			name: "deleting an unknown key is fine", puts: []chat.Conversation{sConversation(1)},
			deletes: []chat.ConversationKey{sKey(5), sKey(5)}, get: sKey(1), want: sConversation(1),
		},
		{name: "invalid key", puts: []chat.Conversation{{Key: chat.ConversationKey{Platform: "chat"}}}, putErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []chat.ConversationKey{sKey(1), sKey(2), sKey(5), trigger.Key, odd.Key, noThread} {
				require.NoError(t, s.DeleteConversation(ctx, k))
			}
			for _, c := range tt.puts {
				err := s.PutConversation(ctx, c)
				if tt.putErr {
					require.Error(t, err)
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
				assert.Contains(t, err.Error(), tt.get.String(), "the error names the key")
				assert.Equal(t, chat.Conversation{}, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, normConversation(tt.want), normConversation(got))
		})
	}
}

func confApprovalsPutGet(t *testing.T, s chat.Store) {
	ctx := t.Context()
	decided := sApproval(2, st0)
	decided.Card = chat.MessageRef{Key: decided.Key, ID: "card-2", Posted: st0}
	decided.State, decided.DecidedBy, decided.DecidedByName, decided.DecidedAt = chat.ApprovalDenied, "U9", "Ana", st0.Add(time.Second)

	_, err := s.GetApproval(ctx, "apr_none")
	require.ErrorIs(t, err, chat.ErrNotFound)
	assert.Contains(t, err.Error(), "apr_none", "the error names the id")
	for _, a := range []chat.Approval{sApproval(1, st0.Add(time.Hour)), decided} {
		require.NoError(t, s.PutApproval(ctx, a))
		got, err := s.GetApproval(ctx, a.ID)
		require.NoError(t, err)
		assert.Equal(t, normApproval(a), normApproval(got))
	}
	for name, bad := range map[string]chat.Approval{
		"empty id":          {State: chat.ApprovalPending},
		"no state":          {ID: "apr_bad1"},
		"bad state":         {ID: "apr_bad2", State: "maybe"},
		"decided, empty id": {Key: sKey(1), State: chat.ApprovalApproved},
	} {
		assert.Error(t, s.PutApproval(ctx, bad), name)
		if bad.ID != "" {
			_, err := s.GetApproval(ctx, bad.ID)
			assert.ErrorIs(t, err, chat.ErrNotFound, "%s: nothing stored", name)
		}
	}
}

func confApprovalsRePut(t *testing.T, s chat.Store) {
	ctx := t.Context()
	a := sApproval(1, st0)
	require.NoError(t, s.PutApproval(ctx, a))

	// A later put replaces the record, expiry included.
	a.Expires = st0.Add(time.Hour)
	require.NoError(t, s.PutApproval(ctx, a))
	due, err := s.ListExpiredApprovals(ctx, st0.Add(time.Minute), 10)
	require.NoError(t, err)
	assert.Empty(t, due, "the old expiry is forgotten")
	due, err = s.ListExpiredApprovals(ctx, st0.Add(time.Hour), 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	assert.True(t, due[0].Expires.Equal(a.Expires))

	// Put back as decided, it is no longer due.
	a.State, a.DecidedBy, a.DecidedAt = chat.ApprovalDenied, "U2", st0
	require.NoError(t, s.PutApproval(ctx, a))
	due, err = s.ListExpiredApprovals(ctx, st0.Add(2*time.Hour), 10)
	require.NoError(t, err)
	assert.Empty(t, due)
}

func confSetApprovalCard(t *testing.T, s chat.Store) {
	ctx := t.Context()
	card := chat.MessageRef{Key: sKey(1), ID: "card-1", Posted: st0.Add(time.Second)}
	decided := sApproval(2, st0.Add(time.Hour))
	decided.State, decided.DecidedBy, decided.DecidedByName, decided.DecidedAt = chat.ApprovalApproved, "U2", "Ana", st0.Add(time.Minute)
	withCard := func(a chat.Approval) chat.Approval { a.Card = card; return a }

	_, err := s.SetApprovalCard(ctx, "apr_none", card)
	require.ErrorIs(t, err, chat.ErrNotFound, "empty store")

	tests := []struct {
		name string
		put  chat.Approval
		want chat.Approval
	}{
		{name: "pending: card recorded, rest kept", put: sApproval(1, st0.Add(time.Hour)), want: withCard(sApproval(1, st0.Add(time.Hour)))},
		{name: "decided: decision not overwritten", put: decided, want: withCard(decided)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, s.PutApproval(ctx, tt.put))
			got, err := s.SetApprovalCard(ctx, tt.put.ID, card)
			require.NoError(t, err)
			assert.Equal(t, normApproval(tt.want), normApproval(got), "the record as it now is")
			assert.Equal(t, tt.want.Decided(), got.Decided())
			stored, err := s.GetApproval(ctx, tt.put.ID)
			require.NoError(t, err)
			assert.Equal(t, normApproval(tt.want), normApproval(stored))
		})
	}
	_, err = s.SetApprovalCard(ctx, "apr_none", card)
	require.ErrorIs(t, err, chat.ErrNotFound, "unknown id")
	assert.Contains(t, err.Error(), "apr_none", "the error names the id")

	// A pending approval with its card is still due at its expiry, card and all.
	due, err := s.ListExpiredApprovals(ctx, st0.Add(2*time.Hour), 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	assert.Equal(t, "card-1", due[0].Card.ID, "the expiry sweep sees the card to edit")
}

func confDecideStates(t *testing.T, s chat.Store) {
	ctx := t.Context()
	at := st0.Add(time.Minute)
	for i, state := range []chat.ApprovalState{chat.ApprovalApproved, chat.ApprovalDenied, chat.ApprovalExpired} {
		t.Run(string(state), func(t *testing.T) {
			a := sApproval(10+i, st0.Add(30*time.Minute))
			a.Card = chat.MessageRef{Key: a.Key, ID: "card", Posted: st0}
			require.NoError(t, s.PutApproval(ctx, a))
			got, ok, err := s.DecideApproval(ctx, a.ID, state, "U2", "Dos", at)
			require.NoError(t, err)
			require.True(t, ok, "the first decision applies")
			want := a
			want.State, want.DecidedBy, want.DecidedByName, want.DecidedAt = state, "U2", "Dos", at
			assert.Equal(t, normApproval(want), normApproval(got), "the decided record, the rest untouched")
			assert.True(t, got.Decided())
			stored, err := s.GetApproval(ctx, a.ID)
			require.NoError(t, err)
			assert.Equal(t, normApproval(want), normApproval(stored))
		})
	}
	due, err := s.ListExpiredApprovals(ctx, st0.Add(time.Hour), 10)
	require.NoError(t, err)
	assert.Empty(t, due, "a decided approval is never due")

	_, _, err = s.DecideApproval(ctx, "apr_none", chat.ApprovalApproved, "U2", "", at)
	require.ErrorIs(t, err, chat.ErrNotFound)
	assert.Contains(t, err.Error(), "apr_none", "the error names the id")

	a := sApproval(20, st0.Add(30*time.Minute))
	require.NoError(t, s.PutApproval(ctx, a))
	for _, bad := range []chat.ApprovalState{chat.ApprovalPending, "", "yes"} {
		_, ok, err := s.DecideApproval(ctx, a.ID, bad, "U2", "", at)
		require.Error(t, err, "state %q is not a decision", bad)
		assert.False(t, ok)
	}
	stored, err := s.GetApproval(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, normApproval(a), normApproval(stored), "a rejected call changes nothing")
}

func confDecideCAS(t *testing.T, s chat.Store) {
	ctx := t.Context()
	states := []chat.ApprovalState{chat.ApprovalApproved, chat.ApprovalDenied, chat.ApprovalExpired}
	n := 0
	for _, first := range states {
		for _, second := range states {
			t.Run(fmt.Sprintf("%s then %s", first, second), func(t *testing.T) {
				n++
				a := sApproval(100+n, st0.Add(time.Hour))
				require.NoError(t, s.PutApproval(ctx, a))
				won, ok, err := s.DecideApproval(ctx, a.ID, first, "U1", "Uno", st0)
				require.NoError(t, err)
				require.True(t, ok)
				got, ok, err := s.DecideApproval(ctx, a.ID, second, "U2", "Dos", st0.Add(time.Minute))
				require.NoError(t, err)
				assert.False(t, ok, "a decided approval cannot be decided again")
				assert.Equal(t, normApproval(won), normApproval(got), "the loser gets the decided record")
				assert.Equal(t, first, got.State)
				assert.Equal(t, "U1", got.DecidedBy)
				stored, err := s.GetApproval(ctx, a.ID)
				require.NoError(t, err)
				assert.Equal(t, normApproval(won), normApproval(stored), "the first decision is kept")
			})
		}
	}
}

func confDecideConcurrent(t *testing.T, s chat.Store) {
	ctx := t.Context()
	hs := handles(t, s)
	const rounds, callers = 10, 12
	for r := range rounds {
		a := sApproval(r, st0.Add(time.Hour))
		require.NoError(t, s.PutApproval(ctx, a))
		var wins atomic.Int64
		seen := make([]chat.Approval, callers)
		together(callers, func(g int) {
			s := hs[g%len(hs)] // spread over the handles on the records
			state := []chat.ApprovalState{chat.ApprovalApproved, chat.ApprovalDenied, chat.ApprovalExpired}[g%3]
			got, ok, err := s.DecideApproval(ctx, a.ID, state, fmt.Sprintf("U%d", g), "", st0)
			if !assert.NoError(t, err) {
				return
			}
			assert.True(t, got.Decided())
			if ok {
				wins.Add(1)
				assert.Equal(t, state, got.State)
				assert.Equal(t, fmt.Sprintf("U%d", g), got.DecidedBy)
			}
			seen[g] = got
		})
		require.Equal(t, int64(1), wins.Load(), "round %d: exactly one of %d callers decides", r, callers)
		stored, err := s.GetApproval(ctx, a.ID)
		require.NoError(t, err)
		for g := range callers {
			assert.Equal(t, normApproval(stored), normApproval(seen[g]), "round %d: caller %d sees the one decision", r, g)
		}
	}
}

// Whatever the order, the decision is kept, the card is recorded, and exactly
// one of the two sees the other: the decision saw the card (its caller edits
// the card) or SetApprovalCard saw the decision (its caller edits the card).
func confDecideRacesCard(t *testing.T, s chat.Store) {
	ctx := t.Context()
	hs := handles(t, s)
	for r := range 30 {
		a := sApproval(r, st0.Add(time.Hour))
		require.NoError(t, s.PutApproval(ctx, a))
		card := chat.MessageRef{Key: a.Key, ID: fmt.Sprintf("card-%d", r), Posted: st0}
		var (
			set, decided chat.Approval
			ok           bool
			setErr, dErr error
		)
		together(2, func(g int) {
			s := hs[g%len(hs)] // spread over the handles on the records
			if g == 0 {
				set, setErr = s.SetApprovalCard(ctx, a.ID, card)
			} else {
				decided, ok, dErr = s.DecideApproval(ctx, a.ID, chat.ApprovalApproved, "U1", "Ana", st0)
			}
		})
		require.NoError(t, setErr)
		require.NoError(t, dErr)
		require.True(t, ok)
		assert.Equal(t, card.ID, set.Card.ID)
		require.NotEqual(t, decided.Card.ID != "", set.Decided(), "round %d: exactly one side sees the other", r)
		got, err := s.GetApproval(ctx, a.ID)
		require.NoError(t, err)
		assert.Equal(t, chat.ApprovalApproved, got.State, "the decision is never overwritten")
		assert.Equal(t, "U1", got.DecidedBy)
		assert.Equal(t, card.ID, got.Card.ID)
	}
}

func confListExpired(t *testing.T, s chat.Store) {
	ctx := t.Context()
	// Approvals 0..4 expire at st0+0..4 min, put in reverse; 2 is decided;
	// 5 ties with 1 (ties come in ID order).
	for i := 4; i >= 0; i-- {
		require.NoError(t, s.PutApproval(ctx, sApproval(i, st0.Add(time.Duration(i)*time.Minute))))
	}
	require.NoError(t, s.PutApproval(ctx, sApproval(5, st0.Add(time.Minute))))
	_, ok, err := s.DecideApproval(ctx, sApproval(2, st0).ID, chat.ApprovalApproved, "U1", "", st0)
	require.NoError(t, err)
	require.True(t, ok)
	tests := []struct {
		name  string
		now   time.Time
		limit int
		want  []string
	}{
		{name: "none due", now: st0.Add(-time.Millisecond), limit: 10, want: []string{}},
		{name: "expires equal to now is due", now: st0, limit: 10, want: []string{"apr_0000"}},
		{name: "soonest first, ties by id, decided skipped", now: st0.Add(3 * time.Minute), limit: 10, want: []string{"apr_0000", "apr_0001", "apr_0005", "apr_0003"}},
		{name: "limit", now: st0.Add(time.Hour), limit: 2, want: []string{"apr_0000", "apr_0001"}},
		{name: "limit one", now: st0.Add(time.Hour), limit: 1, want: []string{"apr_0000"}},
		{name: "zero limit means the default", now: st0.Add(time.Hour), limit: 0, want: []string{"apr_0000", "apr_0001", "apr_0005", "apr_0003", "apr_0004"}},
		{name: "negative limit means the default", now: st0.Add(time.Hour), limit: -1, want: []string{"apr_0000", "apr_0001", "apr_0005", "apr_0003", "apr_0004"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListExpiredApprovals(ctx, tt.now, tt.limit)
			require.NoError(t, err)
			assert.Equal(t, tt.want, approvalIDs(got))
			for _, a := range got {
				assert.Equal(t, chat.ApprovalPending, a.State)
				i := 0
				_, _ = fmt.Sscanf(a.ID, "apr_%d", &i)
				assert.Equal(t, sKey(i), a.Key, "whole records")
			}
		})
	}
	// Listing is not deciding: the due ones are still pending and listed again.
	got, err := s.ListExpiredApprovals(ctx, st0.Add(time.Hour), 10)
	require.NoError(t, err)
	assert.Len(t, got, 5)
}

func confRuns(t *testing.T, s chat.Store) {
	ctx := t.Context()
	got, err := s.ListRuns(ctx)
	require.NoError(t, err)
	assert.Empty(t, got)

	require.Error(t, s.PutRun(ctx, chat.InFlightRun{Started: st0}), "invalid key")

	full := sRun(4, st0.Add(-time.Minute))
	full.Placeholder.Channel = "thread-123"
	for _, r := range []chat.InFlightRun{sRun(1, st0.Add(2*time.Minute)), sRun(2, st0), sRun(3, st0.Add(time.Minute)), full, sRun(5, st0)} {
		require.NoError(t, s.PutRun(ctx, r))
	}
	got, err = s.ListRuns(ctx)
	require.NoError(t, err)
	// Oldest first, equal starts in key order (sKey(2) < sKey(5) as strings).
	require.Equal(t, []chat.ConversationKey{sKey(4), sKey(2), sKey(5), sKey(3), sKey(1)}, runKeys(got))
	assert.Equal(t, normRun(full), normRun(got[0]), "every field round-trips")

	// One run per conversation: a later put replaces.
	require.NoError(t, s.PutRun(ctx, sRun(4, st0.Add(time.Hour))))
	// Removed on completion; deleting an unknown run is fine.
	require.NoError(t, s.DeleteRun(ctx, sKey(2)))
	require.NoError(t, s.DeleteRun(ctx, sKey(2)))
	require.NoError(t, s.DeleteRun(ctx, sKey(9)))
	got, err = s.ListRuns(ctx)
	require.NoError(t, err)
	assert.Equal(t, []chat.ConversationKey{sKey(5), sKey(3), sKey(1), sKey(4)}, runKeys(got))
	assert.Equal(t, normRun(sRun(4, st0.Add(time.Hour))), normRun(got[3]))
}

func confSeenOrMark(t *testing.T, s chat.Store) {
	ctx := t.Context()
	ks := func(keys ...string) []string { return keys }
	type call struct {
		keys     []string
		ttl      time.Duration
		at       time.Duration // after st0
		wantSeen bool
		wantErr  bool
	}
	tests := []struct {
		name  string
		calls []call
	}{
		{name: "first is new, second seen", calls: []call{
			{keys: ks("Ev1"), ttl: 10 * time.Minute},
			{keys: ks("Ev1"), ttl: 10 * time.Minute, at: time.Minute, wantSeen: true},
		}},
		{name: "keys are independent", calls: []call{
			{keys: ks("Ev1"), ttl: time.Minute},
			{keys: ks("Ev2"), ttl: time.Minute},
			{keys: ks("C1:1.2"), ttl: time.Minute},
		}},
		{name: "seen just before expiry", calls: []call{
			{keys: ks("k"), ttl: time.Minute},
			{keys: ks("k"), ttl: time.Minute, at: time.Minute - time.Millisecond, wantSeen: true},
		}},
		{name: "expired at exactly ttl: new again, re-marked", calls: []call{
			{keys: ks("k"), ttl: time.Minute},
			{keys: ks("k"), ttl: time.Minute, at: time.Minute},
			{keys: ks("k"), ttl: time.Minute, at: time.Minute + 30*time.Second, wantSeen: true},
			{keys: ks("k"), ttl: time.Minute, at: 2 * time.Minute},
		}},
		{name: "a hit does not extend the mark", calls: []call{
			{keys: ks("k"), ttl: time.Minute},
			{keys: ks("k"), ttl: time.Hour, at: 30 * time.Second, wantSeen: true},
			{keys: ks("k"), ttl: time.Minute, at: time.Minute},
		}},
		{name: "twin: one id new, the other seen: seen, and the new id is marked", calls: []call{
			{keys: ks("event:Ev1", "msg:C1:1.2"), ttl: 10 * time.Minute},
			{keys: ks("event:Ev2", "msg:C1:1.2"), ttl: 10 * time.Minute, at: time.Second, wantSeen: true},
			{keys: ks("event:Ev2"), ttl: 10 * time.Minute, at: 2 * time.Second, wantSeen: true},
			{keys: ks("event:Ev3", "msg:C1:1.3"), ttl: 10 * time.Minute, at: 3 * time.Second},
		}},
		{name: "all keys new: every key is marked", calls: []call{
			{keys: ks("a", "b", "c"), ttl: time.Minute},
			{keys: ks("a"), ttl: time.Minute, wantSeen: true},
			{keys: ks("b"), ttl: time.Minute, wantSeen: true},
			{keys: ks("c"), ttl: time.Minute, wantSeen: true},
		}},
		{name: "expired key beside a live one is re-marked", calls: []call{
			{keys: ks("old"), ttl: time.Minute},
			{keys: ks("live"), ttl: time.Hour},
			{keys: ks("old", "live"), ttl: time.Hour, at: 2 * time.Minute, wantSeen: true},
			{keys: ks("old"), ttl: time.Minute, at: 30 * time.Minute, wantSeen: true},
		}},
		{name: "a hit among several keys does not extend the live mark", calls: []call{
			{keys: ks("k"), ttl: time.Minute},
			{keys: ks("k", "j"), ttl: time.Hour, at: 30 * time.Second, wantSeen: true},
			{keys: ks("k"), ttl: time.Minute, at: time.Minute},
			{keys: ks("j"), ttl: time.Minute, at: time.Minute, wantSeen: true},
		}},
		{name: "a key repeated in one call is new once", calls: []call{
			{keys: ks("k", "k"), ttl: time.Minute},
			{keys: ks("k"), ttl: time.Minute, wantSeen: true},
		}},
		{name: "no keys", calls: []call{{keys: nil, ttl: time.Minute, wantErr: true}}},
		{name: "empty key among others marks nothing", calls: []call{
			{keys: ks("k", ""), ttl: time.Minute, wantErr: true},
			{keys: ks("k"), ttl: time.Minute},
		}},
		{name: "empty key", calls: []call{{keys: ks(""), ttl: time.Minute, wantErr: true}}},
		{name: "zero ttl marks nothing", calls: []call{
			{keys: ks("k"), ttl: 0, wantErr: true},
			{keys: ks("k"), ttl: time.Minute},
		}},
		{name: "negative ttl", calls: []call{{keys: ks("k"), ttl: -time.Second, wantErr: true}}},
	}
	for n, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each case has its own keys (and its own time, a day apart).
			prefix := fmt.Sprintf("case%d:", n)
			base := st0.Add(time.Duration(n) * 24 * time.Hour)
			for i, c := range tt.calls {
				keys := make([]string, len(c.keys))
				for j, k := range c.keys {
					if k != "" {
						k = prefix + k
					}
					keys[j] = k
				}
				if c.keys == nil {
					keys = nil
				}
				seen, err := s.SeenOrMark(ctx, keys, c.ttl, base.Add(c.at))
				if c.wantErr {
					require.Error(t, err, "call %d", i)
					continue
				}
				require.NoError(t, err, "call %d", i)
				assert.Equal(t, c.wantSeen, seen, "call %d", i)
			}
		})
	}
}

func confSeenOrMarkConcurrent(t *testing.T, s chat.Store) {
	ctx := t.Context()
	hs := handles(t, s)
	const keys, callers = 20, 10
	for k := range keys {
		key := fmt.Sprintf("Ev%03d", k)
		var fresh atomic.Int64
		together(callers, func(g int) {
			s := hs[g%len(hs)] // spread over the handles on the records
			seen, err := s.SeenOrMark(ctx, []string{key}, 10*time.Minute, st0)
			if assert.NoError(t, err) && !seen {
				fresh.Add(1)
			}
		})
		require.Equal(t, int64(1), fresh.Load(), "key %s: exactly one caller sees it as new", key)
	}
	// Many callers, overlapping keys in different orders.
	const goroutines, many = 8, 100
	var freshK [many]atomic.Int64
	together(goroutines, func(g int) {
		s := hs[g%len(hs)] // spread over the handles on the records
		for i := range many {
			k := (i + g*13) % many
			seen, err := s.SeenOrMark(ctx, []string{fmt.Sprintf("k%04d", k)}, time.Hour, st0)
			if assert.NoError(t, err) && !seen {
				freshK[k].Add(1)
			}
		}
	})
	for k := range many {
		assert.Equal(t, int64(1), freshK[k].Load(), "k%04d", k)
	}
}

// Twins racing: each caller has its own event id and the shared channel+ts:
// exactly one caller sees the message as new, and every event id is marked.
func confSeenOrMarkTwins(t *testing.T, s chat.Store) {
	ctx := t.Context()
	hs := handles(t, s)
	const messages, callers = 20, 8
	for m := range messages {
		ts := fmt.Sprintf("msg:C1:%d.000100", m)
		var fresh atomic.Int64
		together(callers, func(g int) {
			s := hs[g%len(hs)] // spread over the handles on the records
			seen, err := s.SeenOrMark(ctx, []string{fmt.Sprintf("event:Ev%d-%d", m, g), ts}, 10*time.Minute, st0)
			if assert.NoError(t, err) && !seen {
				fresh.Add(1)
			}
		})
		require.Equal(t, int64(1), fresh.Load(), "message %d: exactly one caller sees it as new", m)
		for g := range callers {
			seen, err := s.SeenOrMark(ctx, []string{fmt.Sprintf("event:Ev%d-%d", m, g)}, 10*time.Minute, st0)
			require.NoError(t, err)
			assert.True(t, seen, "event id of caller %d marked", g)
		}
	}
}

// Sweeps delete only marks expired at now (an expiry equal to now
// included), up to limit, and never unmark a live key.
func confSweepDedupe(t *testing.T, s chat.Store) {
	ctx := t.Context()
	// Keys k0..k9 marked at st0 with ttl (i+1) min: ki expires at st0+(i+1) min.
	tests := []struct {
		name      string
		now       time.Duration
		limit     int
		wantSwept int
	}{
		{name: "nothing expired", now: 30 * time.Second, limit: 100, wantSwept: 0},
		{name: "expiry equal to now is swept", now: time.Minute, limit: 100, wantSwept: 1},
		{name: "some expired", now: 4 * time.Minute, limit: 100, wantSwept: 4},
		{name: "bounded batch", now: time.Hour, limit: 3, wantSwept: 3},
		{name: "zero limit means the default", now: time.Hour, limit: 0, wantSwept: 10},
		{name: "negative limit means the default", now: time.Hour, limit: -5, wantSwept: 10},
	}
	for n, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each case marks its own keys at its own time, after every
			// earlier case's marks have been swept.
			base := st0.Add(time.Duration(n+1) * 24 * time.Hour)
			for {
				left, err := s.SweepDedupe(ctx, base, 0)
				require.NoError(t, err)
				if left == 0 {
					break
				}
			}
			for i := range 10 {
				seen, err := s.SeenOrMark(ctx, []string{fmt.Sprintf("sweep%d:k%d", n, i)}, time.Duration(i+1)*time.Minute, base)
				require.NoError(t, err)
				require.False(t, seen)
			}
			swept, err := s.SweepDedupe(ctx, base.Add(tt.now), tt.limit)
			require.NoError(t, err)
			assert.Equal(t, tt.wantSwept, swept)
			// Sweeping never unmarks a live key: the ones not yet expired at
			// now are still seen at now.
			for i := range 10 {
				exp := time.Duration(i+1) * time.Minute
				if exp <= tt.now {
					continue
				}
				seen, err := s.SeenOrMark(ctx, []string{fmt.Sprintf("sweep%d:k%d", n, i)}, time.Minute, base.Add(tt.now))
				require.NoError(t, err)
				assert.True(t, seen, "k%d (live until +%s) is still marked", i, exp)
			}
		})
	}
}

func confSweepBatches(t *testing.T, s chat.Store) {
	ctx := t.Context()
	for i := range 25 {
		_, err := s.SeenOrMark(ctx, []string{fmt.Sprintf("k%02d", i)}, time.Minute, st0)
		require.NoError(t, err)
	}
	_, err := s.SeenOrMark(ctx, []string{"live"}, 2*time.Hour, st0)
	require.NoError(t, err)
	var batches []int
	for len(batches) < 10 {
		n, err := s.SweepDedupe(ctx, st0.Add(time.Hour), 10)
		require.NoError(t, err)
		batches = append(batches, n)
		if n < 10 {
			break
		}
	}
	assert.Equal(t, []int{10, 10, 5}, batches, "call again while it returns limit")

	// An expired key marked again is live until its new expiry: a sweep
	// before then keeps it.
	seen, err := s.SeenOrMark(ctx, []string{"k00"}, time.Hour, st0.Add(2*time.Minute))
	require.NoError(t, err)
	require.False(t, seen, "swept keys are new again")
	n, err := s.SweepDedupe(ctx, st0.Add(10*time.Minute), 100)
	require.NoError(t, err)
	assert.Zero(t, n)
	seen, err = s.SeenOrMark(ctx, []string{"k00", "live"}, time.Minute, st0.Add(10*time.Minute))
	require.NoError(t, err)
	assert.True(t, seen)
}

// Sweeps racing marks never remove a live mark: every key is new for exactly
// one caller.
func confSweepConcurrent(t *testing.T, s chat.Store) {
	ctx := t.Context()
	hs := handles(t, s)
	for i := range 20 {
		_, err := s.SeenOrMark(ctx, []string{fmt.Sprintf("old%d", i)}, time.Minute, st0.Add(-time.Hour))
		require.NoError(t, err)
	}
	const goroutines, keys = 6, 60
	var fresh [keys]atomic.Int64
	var swept atomic.Int64
	together(goroutines+2, func(g int) {
		s := hs[g%len(hs)] // spread over the handles on the records
		if g >= goroutines {
			for range 10 {
				n, err := s.SweepDedupe(ctx, st0, 3)
				assert.NoError(t, err)
				swept.Add(int64(n))
			}
			return
		}
		for i := range keys {
			k := (i + g*7) % keys
			seen, err := s.SeenOrMark(ctx, []string{fmt.Sprintf("k%03d", k)}, time.Hour, st0)
			if assert.NoError(t, err) && !seen {
				fresh[k].Add(1)
			}
		}
	})
	for k := range keys {
		assert.Equal(t, int64(1), fresh[k].Load(), "k%03d", k)
	}
	n, err := s.SweepDedupe(ctx, st0, 100)
	require.NoError(t, err)
	assert.Equal(t, int64(20), swept.Load()+int64(n), "each expired mark is swept once")
}

// storeCalls calls every chat.Store method with ctx, by name.
func storeCalls(s chat.Store, ctx context.Context) map[string]func() error {
	return map[string]func() error{
		"GetConversation":    func() error { _, err := s.GetConversation(ctx, sKey(1)); return err },
		"PutConversation":    func() error { return s.PutConversation(ctx, sConversation(1)) },
		"DeleteConversation": func() error { return s.DeleteConversation(ctx, sKey(1)) },
		"PutApproval":        func() error { return s.PutApproval(ctx, sApproval(1, st0)) },
		"GetApproval":        func() error { _, err := s.GetApproval(ctx, sApproval(1, st0).ID); return err },
		"SetApprovalCard": func() error {
			_, err := s.SetApprovalCard(ctx, sApproval(1, st0).ID, chat.MessageRef{Key: sKey(1), ID: "c"})
			return err
		},
		"DecideApproval": func() error {
			_, _, err := s.DecideApproval(ctx, sApproval(1, st0).ID, chat.ApprovalApproved, "U1", "", st0)
			return err
		},
		"ListExpiredApprovals": func() error { _, err := s.ListExpiredApprovals(ctx, st0, 1); return err },
		"PutRun":               func() error { return s.PutRun(ctx, sRun(1, st0)) },
		"DeleteRun":            func() error { return s.DeleteRun(ctx, sKey(2)) },
		"ListRuns":             func() error { _, err := s.ListRuns(ctx); return err },
		"SeenOrMark":           func() error { _, err := s.SeenOrMark(ctx, []string{"k"}, time.Minute, st0); return err },
		"SweepDedupe":          func() error { _, err := s.SweepDedupe(ctx, st0.Add(time.Hour), 1); return err },
		"DecideApprovalWith": func() error {
			_, _, err := s.DecideApprovalWith(ctx, sApproval(1, st0).ID, chat.ApprovalDecision{
				State: chat.ApprovalApproved, By: "U1", At: st0, Grant: true})
			return err
		},
		"PutRunRecord": func() error {
			return s.PutRunRecord(ctx, chat.RunRecord{ID: "run1", Key: sKey(1), State: chat.RunRunning, Created: st0})
		},
		"GetRunRecord": func() error { _, err := s.GetRunRecord(ctx, "run2"); return err },
		"MoveRun": func() error {
			_, _, err := s.MoveRun(ctx, "run2", []chat.RunState{chat.RunRunning}, chat.RunMove{To: chat.RunStopped})
			return err
		},
		"SweepRunRecords": func() error { _, err := s.SweepRunRecords(ctx, st0.Add(time.Hour), 10); return err },
		"GetGrant":        func() error { _, err := s.GetGrant(ctx, sKey(1), "tool"); return err },
		"ListGrants":      func() error { _, err := s.ListGrants(ctx); return err },
		"DeleteGrant":     func() error { return s.DeleteGrant(ctx, sKey(1), "tool") },
		"PutFeedback":     func() error { _, _, err := s.PutFeedback(ctx, sFeedback("U1", chat.FeedbackUp)); return err },
		"ListFeedback":    func() error { _, err := s.ListFeedback(ctx, "run-1"); return err },
	}
}

// Every method returns the context's error for a cancelled context and
// changes nothing.
func confCancelled(t *testing.T, s chat.Store) {
	ctx := t.Context()
	// Records a cancelled call could wrongly change or remove.
	require.NoError(t, s.PutApproval(ctx, sApproval(1, st0)))
	require.NoError(t, s.PutRun(ctx, sRun(2, st0)))
	_, err := s.SeenOrMark(ctx, []string{"old"}, time.Minute, st0.Add(-time.Hour))
	require.NoError(t, err)
	run2 := chat.RunRecord{ID: "run2", Key: sKey(2), State: chat.RunFinished, Created: st0}
	require.NoError(t, s.PutRunRecord(ctx, run2))

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for name, call := range storeCalls(s, cctx) {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, call(), context.Canceled)
		})
	}
	t.Run("NothingChanged", func(t *testing.T) {
		_, err := s.GetConversation(ctx, sKey(1))
		assert.ErrorIs(t, err, chat.ErrNotFound, "no conversation written")
		a, err := s.GetApproval(ctx, sApproval(1, st0).ID)
		require.NoError(t, err)
		assert.Equal(t, normApproval(sApproval(1, st0)), normApproval(a), "not decided, no card")
		runs, err := s.ListRuns(ctx)
		require.NoError(t, err)
		assert.Equal(t, []chat.ConversationKey{sKey(2)}, runKeys(runs), "no run written or deleted")
		seen, err := s.SeenOrMark(ctx, []string{"k"}, time.Minute, st0)
		require.NoError(t, err)
		assert.False(t, seen, "no dedupe mark written")
		n, err := s.SweepDedupe(ctx, st0, 10)
		require.NoError(t, err)
		assert.Equal(t, 1, n, "nothing swept")
		rec, err := s.GetRunRecord(ctx, "run2")
		require.NoError(t, err, "the run record is neither moved nor swept")
		assert.Equal(t, chat.RunFinished, rec.State)
		_, err = s.GetRunRecord(ctx, "run1")
		assert.ErrorIs(t, err, chat.ErrNotFound, "no run record written")
		grants, err := s.ListGrants(ctx)
		require.NoError(t, err)
		assert.Empty(t, grants, "no grant written")
	})
	// A deadline that has passed counts as well.
	dctx, dcancel := context.WithDeadline(ctx, time.Unix(0, 0))
	defer dcancel()
	_, err = s.GetConversation(dctx, sKey(1))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// Closing is safe more than once, and every call afterwards fails with
// chat.ErrClosed instead of panicking or hanging.
func confAfterClose(t *testing.T, s chat.Store) {
	cl, ok := s.(io.Closer)
	if !ok {
		t.Skip("the store is not an io.Closer")
	}
	ctx := t.Context()
	require.NoError(t, s.PutConversation(ctx, sConversation(1)))
	require.NoError(t, cl.Close())
	require.NoError(t, cl.Close(), "a second Close")
	calls := storeCalls(s, ctx)
	if sr, ok := s.(StatsReporter); ok {
		calls["Stats"] = func() error { _, err := sr.Stats(ctx); return err }
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, call(), chat.ErrClosed)
		})
	}
}

// Close during traffic: calls succeed or fail with chat.ErrClosed.
func confCloseWhileInUse(t *testing.T, s chat.Store, cl io.Closer) {
	ctx := t.Context()
	together(7, func(g int) {
		if g == 0 {
			assert.NoError(t, cl.Close())
			return
		}
		for i := range 20 {
			if err := s.PutConversation(ctx, sConversation(g*100+i)); err != nil {
				assert.ErrorIs(t, err, chat.ErrClosed)
			}
			if _, err := s.GetConversation(ctx, sKey(g*100+i)); err != nil && !errors.Is(err, chat.ErrNotFound) {
				assert.ErrorIs(t, err, chat.ErrClosed)
			}
		}
	})
}

func confConcurrentMixed(t *testing.T, s chat.Store) {
	ctx := t.Context()
	hs := handles(t, s)
	// Writers rewrite their own keys while readers read them: a read sees a
	// whole record of the right conversation or ErrNotFound.
	const writers, readers, perWriter = 4, 4, 20
	together(writers+readers, func(g int) {
		s := hs[g%len(hs)] // spread over the handles on the records
		if g < writers {
			for i := range perWriter {
				c := sConversation(g*1000 + i%5)
				c.Turns = i
				assert.NoError(t, s.PutConversation(ctx, c))
			}
			return
		}
		for i := range perWriter * 2 {
			k := sKey(((g + i) % writers) * 1000)
			c, err := s.GetConversation(ctx, k)
			if err == nil {
				assert.Equal(t, k, c.Key, "a read never sees another conversation's record")
			} else {
				assert.ErrorIs(t, err, chat.ErrNotFound)
			}
		}
	})
	for g := range writers {
		for j := range 5 {
			c, err := s.GetConversation(ctx, sKey(g*1000+j))
			require.NoError(t, err)
			assert.Equal(t, perWriter-5+j, c.Turns, "the last write of each key wins")
		}
	}

	// Every kind of call at once.
	together(8, func(g int) {
		s := hs[g%len(hs)] // spread over the handles on the records
		for i := range 15 {
			n := 10000 + g*100 + i
			switch g % 4 {
			case 0:
				assert.NoError(t, s.PutConversation(ctx, sConversation(n)))
				_, err := s.GetConversation(ctx, sKey(n))
				assert.NoError(t, err)
			case 1:
				assert.NoError(t, s.PutRun(ctx, sRun(n, st0)))
				_, err := s.ListRuns(ctx)
				assert.NoError(t, err)
				assert.NoError(t, s.DeleteRun(ctx, sKey(n)))
			case 2:
				assert.NoError(t, s.PutApproval(ctx, sApproval(n, st0)))
				_, err := s.ListExpiredApprovals(ctx, st0, 5)
				assert.NoError(t, err)
			case 3:
				_, err := s.SeenOrMark(ctx, []string{fmt.Sprintf("m%d", n)}, time.Minute, st0)
				assert.NoError(t, err)
				_, err = s.SweepDedupe(ctx, st0, 5)
				assert.NoError(t, err)
			}
		}
	})
	runs, err := s.ListRuns(ctx)
	require.NoError(t, err)
	assert.Empty(t, runs)
	due, err := s.ListExpiredApprovals(ctx, st0, 100)
	require.NoError(t, err)
	assert.Len(t, due, 30)

	if cl, ok := s.(io.Closer); ok {
		confCloseWhileInUse(t, s, cl)
	}
}

// Stats counts what the store holds (when the store reports it). Dedupe
// marks are far in the past or the future, so the wall clock Stats reads
// does not matter.
func confStats(t *testing.T, s chat.Store) {
	sr, ok := s.(StatsReporter)
	if !ok {
		t.Skip("the store does not report Stats")
	}
	ctx := t.Context()
	empty, err := sr.Stats(ctx)
	require.NoError(t, err)
	assert.NotEmpty(t, empty.Backend)
	assert.False(t, empty.At.IsZero())
	assert.Zero(t, empty.Conversations+empty.Approvals+empty.PendingApprovals+empty.Runs+empty.DedupeEntries)
	assert.Nil(t, empty.OldestRun)
	assert.True(t, empty.NextApprovalExpiry.IsZero())

	for i := range 3 {
		require.NoError(t, s.PutConversation(ctx, sConversation(i)))
	}
	require.NoError(t, s.PutApproval(ctx, sApproval(1, st0.Add(2*time.Hour))))
	require.NoError(t, s.PutApproval(ctx, sApproval(2, st0.Add(time.Hour))))
	require.NoError(t, s.PutApproval(ctx, sApproval(3, st0.Add(time.Minute))))
	_, ok, err = s.DecideApproval(ctx, sApproval(3, st0).ID, chat.ApprovalDenied, "U1", "", st0)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.PutRun(ctx, sRun(1, st0)))
	require.NoError(t, s.PutRun(ctx, sRun(2, st0.Add(-time.Minute))))
	past := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err = s.SeenOrMark(ctx, []string{"expired"}, time.Minute, past)
	require.NoError(t, err)
	_, err = s.SeenOrMark(ctx, []string{"live1", "live2"}, 100*365*24*time.Hour, past)
	require.NoError(t, err)
	require.NoError(t, s.PutRunRecord(ctx, contractRun("stats-1", chat.RunRunning, st0)))
	require.NoError(t, s.PutApproval(ctx, sApproval(4, st0.Add(time.Hour))))
	_, _, err = s.DecideApprovalWith(ctx, sApproval(4, st0).ID, chat.ApprovalDecision{State: chat.ApprovalApproved, By: "U1", At: st0, Grant: true})
	require.NoError(t, err)

	st, err := sr.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, empty.Backend, st.Backend)
	assert.Equal(t, 3, st.Conversations)
	assert.Equal(t, 4, st.Approvals)
	assert.Equal(t, 2, st.PendingApprovals)
	assert.True(t, st.NextApprovalExpiry.Equal(st0.Add(time.Hour)), "next expiry %s", st.NextApprovalExpiry)
	assert.Equal(t, 2, st.Runs)
	if assert.NotNil(t, st.OldestRun) {
		assert.Equal(t, normRun(sRun(2, st0.Add(-time.Minute))), normRun(*st.OldestRun))
	}
	assert.Equal(t, 3, st.DedupeEntries)
	assert.Equal(t, 1, st.DedupeExpired)
	assert.Equal(t, 1, st.RunRecords)
	assert.Equal(t, 1, st.Grants)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = sr.Stats(cctx)
	assert.ErrorIs(t, err, context.Canceled)
}

// sFeedback is user's rating v of the suite's answer "run-1".
func sFeedback(user string, v chat.FeedbackValue) chat.FeedbackRecord {
	return chat.FeedbackRecord{Answer: "run-1", Key: sKey(1), User: user, Value: v, At: st0}
}

// A rating is stored once per user per answer, can be changed, and a replay
// changes nothing.
func confFeedback(t *testing.T, s chat.Store) {
	ctx := t.Context()
	list, err := s.ListFeedback(ctx, "run-1")
	require.NoError(t, err)
	assert.Empty(t, list)

	steps := []struct {
		user        string
		v           chat.FeedbackValue
		wantPrev    chat.FeedbackValue
		wantChanged bool
	}{
		{"U1", chat.FeedbackUp, "", true},
		{"U1", chat.FeedbackUp, chat.FeedbackUp, false}, // replayed press
		{"U2", chat.FeedbackDown, "", true},
		{"U1", chat.FeedbackDown, chat.FeedbackUp, true}, // changed
		{"U1", chat.FeedbackDown, chat.FeedbackDown, false},
	}
	for i, st := range steps {
		f := sFeedback(st.user, st.v)
		f.At = st0.Add(time.Duration(i) * time.Second)
		prev, changed, err := s.PutFeedback(ctx, f)
		require.NoError(t, err, "step %d", i)
		assert.Equal(t, st.wantPrev, prev, "step %d: previous value", i)
		assert.Equal(t, st.wantChanged, changed, "step %d: changed", i)
	}
	list, err = s.ListFeedback(ctx, "run-1")
	require.NoError(t, err)
	require.Len(t, list, 2, "one record per user per answer")
	assert.Equal(t, "U1", list[0].User)
	assert.Equal(t, chat.FeedbackDown, list[0].Value)
	assert.Equal(t, st0.Add(3*time.Second), utc(list[0].At), "the change's time, not the replay's")
	assert.Equal(t, sKey(1), list[0].Key)
	assert.Equal(t, "U2", list[1].User)
	other, err := s.ListFeedback(ctx, "run-10")
	require.NoError(t, err)
	assert.Empty(t, other, "answers do not share ratings, even by prefix")

	for _, bad := range []chat.FeedbackRecord{
		{Answer: "", User: "U1", Value: chat.FeedbackUp},
		{Answer: "run-1", User: "", Value: chat.FeedbackUp},
		{Answer: "run-1", User: "U3", Value: "meh"},
	} {
		_, _, err := s.PutFeedback(ctx, bad)
		assert.Error(t, err, "invalid record %+v", bad)
	}
	list, err = s.ListFeedback(ctx, "run-1")
	require.NoError(t, err)
	assert.Len(t, list, 2, "invalid records are not stored")
}

// Of concurrent identical presses, exactly one changes the record.
func confFeedbackConcurrent(t *testing.T, s chat.Store) {
	ctx := t.Context()
	var changed atomic.Int64
	together(8, func(int) {
		_, ok, err := s.PutFeedback(ctx, sFeedback("U9", chat.FeedbackUp))
		assert.NoError(t, err)
		if ok {
			changed.Add(1)
		}
	})
	assert.Equal(t, int64(1), changed.Load())
}
