package bolt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// start runs fn in n goroutines released together, and waits for them.
func start(n int, fn func(g int)) {
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

func TestConcurrent_ConversationReadersAndWriters(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	const writers, readers, perWriter = 8, 8, 40
	var readErrs atomic.Int64
	start(writers+readers, func(g int) {
		if g < writers {
			for i := range perWriter {
				c := conversation(g*1000 + i%10) // each writer rewrites its own 10 keys
				c.Turns = i
				assert.NoError(t, s.PutConversation(ctx, c))
			}
			return
		}
		for i := range perWriter * 2 {
			k := convKey(((g + i) % writers) * 1000)
			c, err := s.GetConversation(ctx, k)
			switch {
			case err == nil:
				assert.Equal(t, k, c.Key, "a read never sees another conversation's record")
			case !assert.ErrorIs(t, err, chat.ErrNotFound):
				readErrs.Add(1)
			}
		}
	})
	assert.Zero(t, readErrs.Load())
	for g := range writers {
		for j := range 10 {
			c, err := s.GetConversation(ctx, convKey(g*1000+j))
			require.NoError(t, err)
			assert.Equal(t, perWriter-10+j, c.Turns, "the last write of each key wins")
		}
	}
}

func TestConcurrent_DecideApprovalHasOneWinner(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	const rounds, clickers = 20, 12
	for r := range rounds {
		a := approval(r, t0.Add(time.Hour))
		require.NoError(t, s.PutApproval(ctx, a))
		var wins atomic.Int64
		winner := make([]chat.ApprovalState, clickers)
		start(clickers, func(g int) {
			state := chat.ApprovalApproved
			if g%3 == 1 {
				state = chat.ApprovalDenied
			} else if g%3 == 2 {
				state = chat.ApprovalExpired
			}
			got, ok, err := s.DecideApproval(ctx, a.ID, state, fmt.Sprintf("U%d", g), "", t0)
			if !assert.NoError(t, err) {
				return
			}
			assert.NotEqual(t, chat.ApprovalPending, got.State)
			if ok {
				wins.Add(1)
				assert.Equal(t, state, got.State)
			}
			winner[g] = got.State
		})
		require.Equal(t, int64(1), wins.Load(), "round %d: exactly one decision applies", r)
		for g := 1; g < clickers; g++ {
			assert.Equal(t, winner[0], winner[g], "every clicker sees the same outcome")
		}
	}
}

// SetApprovalCard racing DecideApproval: whatever the order, the decision is
// kept, the card is recorded, and exactly one of the two sees the other: the
// decision saw the card (it edits the card) or SetApprovalCard saw the
// decision (its caller edits the card), never both or neither.
func TestConcurrent_SetApprovalCardAndDecide(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	const rounds = 40
	var cardFirst, decisionFirst int
	for r := range rounds {
		a := approval(r, t0.Add(time.Hour))
		a.Card = chat.MessageRef{} // stored before its card is posted
		require.NoError(t, s.PutApproval(ctx, a))
		card := chat.MessageRef{Key: a.Key, ID: fmt.Sprintf("card-%d", r)}
		var (
			set, decided chat.Approval
			ok           bool
			setErr, dErr error
		)
		start(2, func(g int) {
			if g == 0 {
				set, setErr = s.SetApprovalCard(ctx, a.ID, card)
			} else {
				decided, ok, dErr = s.DecideApproval(ctx, a.ID, chat.ApprovalApproved, "U1", "Ana", t0)
			}
		})
		require.NoError(t, setErr)
		require.NoError(t, dErr)
		require.True(t, ok)
		assert.Equal(t, card, set.Card)
		decisionSawCard := decided.Card.ID != ""
		require.NotEqual(t, decisionSawCard, set.Decided(), "round %d: exactly one side edits the card", r)
		if decisionSawCard {
			cardFirst++
		} else {
			decisionFirst++
		}
		got, err := s.GetApproval(ctx, a.ID)
		require.NoError(t, err)
		assert.Equal(t, chat.ApprovalApproved, got.State, "the decision is never overwritten")
		assert.Equal(t, "U1", got.DecidedBy)
		assert.Equal(t, card, got.Card)
	}
	t.Logf("card recorded first %d times, decision first %d times", cardFirst, decisionFirst)
}

func TestConcurrent_SeenOrMarkHasOneNew(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	const keys, callers = 30, 10
	start(keys*callers, func(g int) {}) // warm the scheduler
	for k := range keys {
		key := fmt.Sprintf("slack:Ev%03d", k)
		var fresh atomic.Int64
		start(callers, func(int) {
			seen, err := s.SeenOrMark(ctx, []string{key}, 10*time.Minute, t0)
			if assert.NoError(t, err) && !seen {
				fresh.Add(1)
			}
		})
		require.Equal(t, int64(1), fresh.Load(), "key %s: exactly one caller sees it as new", key)
	}
}

// Twins racing: each caller has its own event id and the shared channel+ts
// (Slack's app_mention and message copies, and their retries): exactly one
// caller sees the message as new, and every event id ends up marked.
func TestConcurrent_SeenOrMarkTwinsHaveOneNew(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	const messages, callers = 30, 8
	for m := range messages {
		ts := fmt.Sprintf("slack:msg:C1:%d.000100", m)
		var fresh atomic.Int64
		start(callers, func(g int) {
			seen, err := s.SeenOrMark(ctx, []string{fmt.Sprintf("slack:event:Ev%d-%d", m, g), ts}, 10*time.Minute, t0)
			if assert.NoError(t, err) && !seen {
				fresh.Add(1)
			}
		})
		require.Equal(t, int64(1), fresh.Load(), "message %d: exactly one caller sees it as new", m)
		for g := range callers {
			seen, err := s.SeenOrMark(ctx, []string{fmt.Sprintf("slack:event:Ev%d-%d", m, g)}, 10*time.Minute, t0)
			require.NoError(t, err)
			assert.True(t, seen, "event id of caller %d marked", g)
		}
	}
	assert.Equal(t, countBucket(t, s, bucketDedupe), countBucket(t, s, bucketDedupeExp), "index and ledger stay in step")
}

func TestConcurrent_SeenOrMarkManyKeys(t *testing.T) {
	// Many goroutines, overlapping keys, racing sweeps: every key is new for
	// exactly one caller.
	ctx := context.Background()
	s := openTemp(t)
	const goroutines, keys = 16, 200
	var fresh [keys]atomic.Int64
	start(goroutines, func(g int) {
		for i := range keys {
			k := (i + g*13) % keys
			seen, err := s.SeenOrMark(ctx, []string{fmt.Sprintf("k%04d", k)}, time.Hour, t0)
			if assert.NoError(t, err) && !seen {
				fresh[k].Add(1)
			}
			if i%50 == 0 {
				_, err := s.SweepDedupe(ctx, t0, 10) // nothing expired: must not remove live marks
				assert.NoError(t, err)
			}
		}
	})
	for k := range keys {
		assert.Equal(t, int64(1), fresh[k].Load(), "k%04d", k)
	}
}

func TestConcurrent_MixedOperations(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	start(12, func(g int) {
		for i := range 30 {
			n := g*100 + i
			switch g % 4 {
			case 0:
				assert.NoError(t, s.PutConversation(ctx, conversation(n)))
				_, err := s.GetConversation(ctx, convKey(n))
				assert.NoError(t, err)
			case 1:
				assert.NoError(t, s.PutRun(ctx, run(n, t0)))
				_, err := s.ListRuns(ctx)
				assert.NoError(t, err)
				assert.NoError(t, s.DeleteRun(ctx, convKey(n)))
			case 2:
				assert.NoError(t, s.PutApproval(ctx, approval(n, t0)))
				_, err := s.ListExpiredApprovals(ctx, t0, 5)
				assert.NoError(t, err)
			case 3:
				_, err := s.Stats()
				assert.NoError(t, err)
				_, err = s.SeenOrMark(ctx, []string{fmt.Sprintf("m%d", n)}, time.Minute, t0)
				assert.NoError(t, err)
			}
		}
	})
	st, err := s.Stats()
	require.NoError(t, err)
	assert.Equal(t, 90, st.Conversations)
	assert.Equal(t, 0, st.Runs)
	assert.Equal(t, 90, st.PendingApprovals)
	assert.Equal(t, 90, st.DedupeEntries)
}

func TestConcurrent_CloseWhileInUse(t *testing.T) {
	// Close during traffic: calls either succeed or fail with ErrClosed, and
	// nothing panics or deadlocks.
	ctx := context.Background()
	s, err := Open(t.TempDir()+"/bridge.db", Options{NoSync: true})
	require.NoError(t, err)
	start(9, func(g int) {
		if g == 0 {
			assert.NoError(t, s.Close())
			return
		}
		for i := range 20 {
			err := s.PutConversation(ctx, conversation(g*100+i))
			if err != nil {
				assert.ErrorIs(t, err, ErrClosed)
			}
			_, err = s.GetConversation(ctx, convKey(g*100+i))
			if err != nil && !errors.Is(err, chat.ErrNotFound) {
				assert.ErrorIs(t, err, ErrClosed)
			}
		}
	})
	assert.NoError(t, s.Close())
}
