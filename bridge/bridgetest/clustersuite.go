package bridgetest

import (
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
)

// RunClusterConformance runs the contract of the stores several replicas
// share (chat.Cluster): leases and their fencing tokens, fenced writes,
// the queue of turns with its dedupe, and signals. newReplicas is called
// once per check and returns n handles on one empty store, as n replicas
// would open it (for a database server, n connection pools).
//
// Lease expiry is on the store's clock, so the checks that need a lease
// to expire give it a few milliseconds and wait for the expiry to be seen,
// however long that takes.
func RunClusterConformance(t *testing.T, newReplicas func(t *testing.T, n int) []chat.Cluster) {
	t.Helper()
	checks := []struct {
		name string
		run  func(t *testing.T, rs []chat.Cluster)
	}{
		{"Lease/AcquireRenewRelease", confLeaseBasics},
		{"Lease/ExpiryAndTakeover", confLeaseTakeover},
		{"Lease/ConcurrentAcquire", confLeaseConcurrent},
		{"Lease/List", confLeaseList},
		{"Lease/Sweep", confLeaseSweep},
		{"Fence/StaleWritesRefused", confFenceStale},
		{"Queue/OrderAndStart", confQueueOrder},
		{"Queue/DedupeAcrossReplicas", confQueueDedupe},
		{"Orphans", confOrphans},
		{"Signals", confSignals},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			rs := newReplicas(t, 3)
			require.Len(t, rs, 3, "newReplicas")
			for _, r := range rs {
				if cl, ok := r.(io.Closer); ok {
					t.Cleanup(func() { assert.NoError(t, cl.Close(), "Close") })
				}
			}
			c.run(t, rs)
		})
	}
}

// expire waits until the lease name, held for a few milliseconds, can be
// taken by owner, and returns the new lease.
func expire(t *testing.T, s chat.Leaser, name, owner string) chat.Lease {
	t.Helper()
	var got chat.Lease
	require.Eventually(t, func() bool {
		l, ok, err := s.AcquireLease(t.Context(), name, owner, time.Minute)
		require.NoError(t, err)
		got = l
		return ok
	}, 30*time.Second, 5*time.Millisecond, "lease %s never expired", name)
	return got
}

func confLeaseBasics(t *testing.T, rs []chat.Cluster) {
	ctx := t.Context()
	a, b := rs[0], rs[1]
	l, ok, err := a.AcquireLease(ctx, "conv:x", "A", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "A", l.Owner)
	assert.Positive(t, l.Token)

	held, ok, err := b.AcquireLease(ctx, "conv:x", "B", time.Minute)
	require.NoError(t, err)
	assert.False(t, ok, "a live lease is not taken")
	assert.Equal(t, "A", held.Owner)
	assert.Equal(t, l.Token, held.Token)

	again, ok, err := b.AcquireLease(ctx, "conv:x", "A", time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "the holder acquires again")
	assert.Equal(t, l.Token, again.Token, "a renewal keeps the token")

	renewed, err := b.RenewLease(ctx, l, 2*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, l.Token, renewed.Token)
	assert.True(t, renewed.Expires.After(l.Expires), "renewal extends: %s then %s", l.Expires, renewed.Expires)

	_, err = a.RenewLease(ctx, chat.Lease{Name: "conv:x", Owner: "B", Token: l.Token}, time.Minute)
	require.ErrorIs(t, err, chat.ErrLeaseLost, "another owner cannot renew")
	_, err = a.RenewLease(ctx, chat.Lease{Name: "conv:x", Owner: "A", Token: l.Token + 1}, time.Minute)
	require.ErrorIs(t, err, chat.ErrLeaseLost, "another token cannot renew")

	require.NoError(t, a.ReleaseLease(ctx, chat.Lease{Name: "conv:x", Owner: "B", Token: l.Token}), "releasing what one does not hold is no error")
	_, ok, err = b.AcquireLease(ctx, "conv:x", "B", time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "a wrong release changes nothing")

	require.NoError(t, a.ReleaseLease(ctx, l))
	nl, ok, err := b.AcquireLease(ctx, "conv:x", "B", time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "a released lease is free at once")
	assert.Greater(t, nl.Token, l.Token, "a new owner gets a greater token")
	_, err = a.RenewLease(ctx, l, time.Minute)
	require.ErrorIs(t, err, chat.ErrLeaseLost, "the old holder cannot renew")

	_, _, err = a.AcquireLease(ctx, "", "A", time.Minute)
	require.Error(t, err)
	_, _, err = a.AcquireLease(ctx, "conv:y", "A", 0)
	require.Error(t, err)
}

func confLeaseTakeover(t *testing.T, rs []chat.Cluster) {
	ctx := t.Context()
	l, ok, err := rs[0].AcquireLease(ctx, "shard:0", "A", time.Millisecond)
	require.NoError(t, err)
	require.True(t, ok)
	nl := expire(t, rs[1], "shard:0", "B")
	assert.Equal(t, "B", nl.Owner)
	assert.Greater(t, nl.Token, l.Token, "a takeover gets a greater token")
	_, err = rs[0].RenewLease(ctx, l, time.Minute)
	require.ErrorIs(t, err, chat.ErrLeaseLost, "the old holder lost it")

	// A holder coming back to its own expired lease gets a new token.
	short, ok, err := rs[2].AcquireLease(ctx, "shard:1", "C", time.Millisecond)
	require.NoError(t, err)
	require.True(t, ok)
	require.Eventually(t, func() bool {
		back, ok, err := rs[2].AcquireLease(ctx, "shard:1", "C", time.Millisecond)
		require.NoError(t, err)
		require.True(t, ok)
		return back.Token > short.Token
	}, 30*time.Second, 5*time.Millisecond, "the holder's own expired lease never got a new token")
}

func confLeaseConcurrent(t *testing.T, rs []chat.Cluster) {
	var won atomic.Int32
	together(12, func(g int) {
		_, ok, err := rs[g%len(rs)].AcquireLease(t.Context(), "conv:race", fmt.Sprintf("R%d", g), time.Minute)
		assert.NoError(t, err)
		if ok {
			won.Add(1)
		}
	})
	assert.Equal(t, int32(1), won.Load(), "exactly one of concurrent owners wins")
}

func confLeaseList(t *testing.T, rs []chat.Cluster) {
	ctx := t.Context()
	for _, n := range []string{"bot:shard:1", "conv:a", "bot:shard:0"} {
		_, ok, err := rs[0].AcquireLease(ctx, n, "A", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
	}
	got, err := rs[1].ListLeases(ctx, "bot:shard:")
	require.NoError(t, err)
	names := make([]string, len(got))
	for i, l := range got {
		names[i] = l.Name
		assert.Equal(t, "A", l.Owner)
	}
	assert.Equal(t, []string{"bot:shard:0", "bot:shard:1"}, names)
}

func confFenceStale(t *testing.T, rs []chat.Cluster) {
	ctx := t.Context()
	a, b := rs[0], rs[1]
	key := sKey(1)
	name := "conv:" + key.String()
	old, ok, err := a.AcquireLease(ctx, name, "A", time.Millisecond)
	require.NoError(t, err)
	require.True(t, ok)
	fenceA := chat.WithFence(ctx, chat.Fence{Name: name, Token: old.Token})
	require.NoError(t, a.PutConversation(fenceA, sConversation(1)), "a write under a held lease lands")
	require.NoError(t, a.PutRunRecord(fenceA, chat.RunRecord{ID: "r1", Key: key, State: chat.RunRunning, Created: st0}))
	require.NoError(t, a.PutRun(fenceA, sRun(1, st0)))

	nl := expire(t, b, name, "B")
	fenceB := chat.WithFence(ctx, chat.Fence{Name: name, Token: nl.Token})

	conv := sConversation(1)
	conv.Turns = 99
	writes := map[string]func(ctx2 chat.Store) error{
		"PutConversation": func(s chat.Store) error { return s.PutConversation(fenceA, conv) },
		"DeleteRun":       func(s chat.Store) error { return s.DeleteRun(fenceA, key) },
		"MoveRun": func(s chat.Store) error {
			_, _, err := s.MoveRun(fenceA, "r1", []chat.RunState{chat.RunRunning}, chat.RunMove{To: chat.RunFailed})
			return err
		},
		"PutApproval": func(s chat.Store) error { return s.PutApproval(fenceA, sApproval(1, st0)) },
	}
	for name, w := range writes {
		require.ErrorIs(t, w(a), chat.ErrLeaseLost, "%s under a lost lease", name)
	}
	got, err := b.GetConversation(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, sConversation(1).Turns, got.Turns, "the stale write changed nothing")
	runs, err := b.ListRuns(ctx)
	require.NoError(t, err)
	assert.Len(t, runs, 1, "the stale delete changed nothing")
	rec, err := b.GetRunRecord(ctx, "r1")
	require.NoError(t, err)
	assert.Equal(t, chat.RunRunning, rec.State)
	_, err = b.GetApproval(ctx, sApproval(1, st0).ID)
	require.ErrorIs(t, err, chat.ErrNotFound)

	// The new holder writes, and a queued turn starts under its fence only.
	require.NoError(t, b.PutConversation(fenceB, conv))
	_, _, err = b.AcceptQueued(ctx, nil, 0, st0, chat.Queued{Key: key, Query: "q"}, 0)
	require.NoError(t, err)
	q, err := b.NextQueued(ctx, key)
	require.NoError(t, err)
	require.ErrorIs(t, a.StartQueued(fenceA, q.Seq, sRun(1, st0)), chat.ErrLeaseLost)
	require.NoError(t, b.StartQueued(fenceB, q.Seq, sRun(1, st0)))

	// A fence on a lease nobody ever took refuses too.
	none := chat.WithFence(ctx, chat.Fence{Name: "conv:none", Token: 1})
	require.ErrorIs(t, a.PutConversation(none, conv), chat.ErrLeaseLost)
}

func confQueueOrder(t *testing.T, rs []chat.Cluster) {
	ctx := t.Context()
	key, other := sKey(1), sKey(2)
	_, err := rs[0].NextQueued(ctx, key)
	require.ErrorIs(t, err, chat.ErrNotFound, "empty queue")
	for i := range 5 {
		q := chat.Queued{Key: key, User: chat.User{ID: "U1", Name: "Ann"}, Query: fmt.Sprintf("q%d", i), InboundID: fmt.Sprint(i), Received: st0.Add(time.Duration(i) * time.Second), Approval: ""}
		seen, full, err := rs[i%len(rs)].AcceptQueued(ctx, []string{fmt.Sprintf("m%d", i)}, time.Hour, st0, q, 5)
		require.NoError(t, err)
		require.False(t, seen)
		require.False(t, full, "turn %d fits the limit of 5", i)
	}
	_, _, err = rs[1].AcceptQueued(ctx, nil, 0, st0, chat.Queued{Key: other, Query: "o", Approval: "ap1"}, 0)
	require.NoError(t, err)
	seen, full, err := rs[2].AcceptQueued(ctx, []string{"m5"}, time.Hour, st0, chat.Queued{Key: key, Query: "q5"}, 5)
	require.NoError(t, err)
	assert.False(t, seen)
	assert.True(t, full, "a sixth turn does not fit")
	seen, _, err = rs[0].AcceptQueued(ctx, []string{"m5"}, time.Hour, st0, chat.Queued{Key: key, Query: "q5"}, 0)
	require.NoError(t, err)
	assert.True(t, seen, "the refused turn's message is marked seen")

	n, err := rs[2].CountQueued(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	runs, keys, err := rs[2].Orphans(ctx)
	require.NoError(t, err)
	assert.Empty(t, runs)
	assert.Equal(t, []chat.ConversationKey{key, other}, keys, "oldest first")
	l, ok, err := rs[0].AcquireLease(ctx, chat.ConversationLease(other), "A", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	_, keys, err = rs[1].Orphans(ctx)
	require.NoError(t, err)
	assert.Equal(t, []chat.ConversationKey{key}, keys, "a held conversation is no orphan")
	require.NoError(t, rs[0].ReleaseLease(ctx, l))
	_, keys, err = rs[1].Orphans(ctx)
	require.NoError(t, err)
	assert.Equal(t, []chat.ConversationKey{key, other}, keys, "a released conversation is an orphan again")

	var prev int64
	for i := range 5 {
		q, err := rs[i%len(rs)].NextQueued(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("q%d", i), q.Query, "turns come in order")
		assert.Equal(t, chat.User{ID: "U1", Name: "Ann"}, q.User)
		assert.True(t, q.Received.Equal(st0.Add(time.Duration(i)*time.Second)))
		assert.Greater(t, q.Seq, prev)
		prev = q.Seq
		if i == 4 {
			require.NoError(t, rs[0].DropQueued(ctx, q.Seq))
			require.NoError(t, rs[0].DropQueued(ctx, q.Seq), "dropping twice is no error")
			break
		}
		run := sRun(1, st0.Add(time.Duration(i)*time.Second))
		require.NoError(t, rs[0].StartQueued(ctx, q.Seq, run))
		runs, err := rs[1].ListRuns(ctx)
		require.NoError(t, err)
		require.Len(t, runs, 1)
		assert.Equal(t, normRun(run), normRun(runs[0]), "the in-flight record replaces the turn")
		got, err := rs[2].GetRun(ctx, run.Key)
		require.NoError(t, err)
		assert.Equal(t, normRun(run), normRun(got))
		require.ErrorIs(t, rs[2].StartQueued(ctx, q.Seq, run), chat.ErrNotFound, "a turn starts once")
	}
	_, err = rs[0].NextQueued(ctx, key)
	require.ErrorIs(t, err, chat.ErrNotFound)
	q, err := rs[0].NextQueued(ctx, other)
	require.NoError(t, err)
	assert.Equal(t, "ap1", q.Approval)
	require.Error(t, rs[0].StartQueued(ctx, q.Seq, chat.InFlightRun{}), "invalid key")
	_, _, err = rs[0].AcceptQueued(ctx, []string{""}, time.Hour, st0, chat.Queued{Key: key}, 0)
	require.Error(t, err, "empty dedupe key")
	_, _, err = rs[0].AcceptQueued(ctx, nil, 0, st0, chat.Queued{}, 0)
	require.Error(t, err, "invalid key")
}

func confQueueDedupe(t *testing.T, rs []chat.Cluster) {
	ctx := t.Context()
	key := sKey(3)
	var queued atomic.Int32
	// One message delivered 4 times (three retries and a twin event with
	// another event id and the same message id), to all replicas at once.
	together(12, func(g int) {
		keys := []string{"p1:event:Ev1", "p1:msg:C1:1.0"}
		if g%4 == 3 {
			keys = []string{"p1:event:Ev1b", "p1:msg:C1:1.0"}
		}
		seen, _, err := rs[g%len(rs)].AcceptQueued(ctx, keys, time.Hour, st0, chat.Queued{Key: key, Query: "hi"}, 0)
		assert.NoError(t, err)
		if !seen {
			queued.Add(1)
		}
	})
	assert.Equal(t, int32(1), queued.Load(), "one delivery queued")
	n, err := rs[0].CountQueued(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	seen, err := rs[1].SeenOrMark(ctx, []string{"p1:event:Ev1"}, time.Hour, st0)
	require.NoError(t, err)
	assert.True(t, seen, "the queue's dedupe marks are the store's")
}

func confSignals(t *testing.T, rs []chat.Cluster) {
	subs := make([]<-chan chat.Signal, len(rs))
	for i, r := range rs {
		ch, err := r.Subscribe(t.Context())
		require.NoError(t, err)
		subs[i] = ch
	}
	want := chat.Signal{Topic: "stop", Payload: "run-1"}
	require.NoError(t, rs[1].Publish(t.Context(), want))
	for i, ch := range subs {
		select {
		case got, ok := <-ch:
			require.True(t, ok)
			assert.Equal(t, want, got, "replica %d", i)
		case <-time.After(30 * time.Second):
			t.Fatalf("replica %d got no signal", i)
		}
	}
}

func confOrphans(t *testing.T, rs []chat.Cluster) {
	ctx := t.Context()
	_, err := rs[0].GetRun(ctx, sKey(1))
	require.ErrorIs(t, err, chat.ErrNotFound)
	for i := 1; i <= 3; i++ {
		require.NoError(t, rs[0].PutRun(ctx, sRun(i, st0.Add(time.Duration(-i)*time.Second))))
	}
	_, ok, err := rs[1].AcquireLease(ctx, chat.ConversationLease(sKey(2)), "B", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	_, ok, err = rs[1].AcquireLease(ctx, chat.ConversationLease(sKey(3)), "B", time.Millisecond)
	require.NoError(t, err)
	require.True(t, ok)
	require.Eventually(t, func() bool {
		runs, queued, err := rs[2].Orphans(ctx)
		require.NoError(t, err)
		assert.Empty(t, queued)
		return assert.ObjectsAreEqual([]chat.ConversationKey{sKey(3), sKey(1)}, runKeys(runs))
	}, 30*time.Second, 5*time.Millisecond, "orphans: never leased (1) and expired (3), oldest first; not the held one (2)")
}

func confLeaseSweep(t *testing.T, rs []chat.Cluster) {
	ctx := t.Context()
	old, ok, err := rs[0].AcquireLease(ctx, "conv:old", "A", time.Millisecond)
	require.NoError(t, err)
	require.True(t, ok)
	_, ok, err = rs[0].AcquireLease(ctx, "conv:live", "A", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	require.Eventually(t, func() bool {
		n, err := rs[1].SweepLeases(ctx, 10*time.Millisecond, 0)
		require.NoError(t, err)
		return n == 1
	}, 30*time.Second, 5*time.Millisecond, "the long-expired lease is swept")
	ls, err := rs[2].ListLeases(ctx, "conv:")
	require.NoError(t, err)
	require.Len(t, ls, 1)
	assert.Equal(t, "conv:live", ls[0].Name, "a live lease is kept")
	again, ok, err := rs[2].AcquireLease(ctx, "conv:old", "B", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Greater(t, again.Token, old.Token, "a swept lease taken again gets a greater token")
}
