package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/bridge/outbox"
	"github.com/promptev/promptev-bridge/chat"
)

// startReplicas runs n outboxes for one platform, standing in for the
// outboxes of n replicas of the bridge, all with the given shared budgets
// (nil: each keeps its own) and a final deadline of 2 s.
func startReplicas(t *testing.T, p *bridgetest.Platform, n int, shared chat.SharedBudgets) []*obRig {
	return startReplicasDeadline(t, p, n, shared, 2*time.Second)
}

func startReplicasDeadline(t *testing.T, p *bridgetest.Platform, n int, shared chat.SharedBudgets, finalDeadline time.Duration) []*obRig {
	t.Helper()
	rigs := make([]*obRig, n)
	for i := range rigs {
		m := newOBMetrics()
		opts := outbox.Options{FinalDeadline: finalDeadline, Metrics: m}
		if shared != nil {
			opts.Shared = shared
		}
		r := &obRig{t: t, p: p, o: outbox.New(p, opts), metrics: m, done: make(chan struct{})}
		r.ctx, r.cancel = context.WithCancel(context.Background())
		go func() {
			defer close(r.done)
			r.o.Run(r.ctx)
		}()
		t.Cleanup(r.stop)
		rigs[i] = r
	}
	return rigs
}

// TestOutboxSharedBudgetsThreeReplicas runs 45 conversations of one
// Slack-like workspace on three outboxes, 20 status events over 10 s each
// and then the final. With shared budgets the workspace's edits stay within
// one outbox's 40 a minute, the server refuses nothing and every final is
// visible within 3 s; with a budget each, the three outboxes together
// overrun the server's 50 a minute.
func TestOutboxSharedBudgetsThreeReplicas(t *testing.T) {
	for _, shared := range []bool{true, false} {
		t.Run("shared="+strconv.FormatBool(shared), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits(),
					bridgetest.WithServerLimits(bridgetest.WorkspaceServerLimits()...))
				var budgets chat.SharedBudgets
				if shared {
					budgets = bridgetest.NewMemBudgets()
				}
				rigs := startReplicas(t, p, 3, budgets)
				const n = 45
				live := make([]*outbox.LiveMessage, n)
				for i := range n {
					live[i] = rigs[i%3].placeholder(slackKey(fmt.Sprintf("C%02d", i)))
				}
				took := make([]time.Duration, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						for s := range 20 {
							live[i].Set(chat.Message{Kind: chat.KindStatus, Status: fmt.Sprintf("conv %d step %d", i, s)})
							time.Sleep(500 * time.Millisecond)
						}
						start := time.Now()
						_, err := live[i].Finish(rigs[i%3].ctx, answer(fmt.Sprintf("answer %d", i)), chat.Message{})
						assert.NoError(t, err)
						took[i] = time.Since(start)
					})
				}
				wg.Wait()
				time.Sleep(3 * time.Minute) // the tidy-ups drain
				synctest.Wait()
				edits := maxInWindow(recordTimes(p, bridgetest.OpEdit), time.Minute)
				if !shared {
					assert.Positive(t, p.ServerRateLimited(), "three budgets of 40 a minute overrun the server's 50")
					return
				}
				for i := range n {
					assert.LessOrEqual(t, took[i], 3*time.Second, "final %d visible within 3 s", i)
				}
				assert.LessOrEqual(t, edits, 40, "edits in any minute, all replicas together")
				assert.Zero(t, p.ServerRateLimited(), "the server refused nothing")
			})
		})
	}
}

// TestOutboxSharedPause: a 429 one replica meets pauses the budget of every
// replica for its Retry-After.
func TestOutboxSharedPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		rigs := startReplicas(t, p, 2, bridgetest.NewMemBudgets())
		a := rigs[0].placeholder(slackKey("C1"))
		b := rigs[1].placeholder(slackKey("C2")) // same workspace: same edit budget
		time.Sleep(2 * time.Second)

		p.Inject429(1, 10*time.Second)
		a.Set(chat.Message{Status: "a1"})
		synctest.Wait()
		limitedAt := time.Now()
		require.Equal(t, 1, p.RateLimited())
		b.Set(chat.Message{Status: "b1"})
		time.Sleep(30 * time.Second)

		got := editsOf(p, b.Ref())
		require.Len(t, got, 1)
		assert.GreaterOrEqual(t, got[0].Time.Sub(limitedAt), 10*time.Second, "the other replica waits for the pause")
		assert.Equal(t, "a1", p.Current(a.Ref()).Status, "the refused edit is sent after the pause")
	})
}

// TestOutboxSharedReserveForFinals: live edits of ten conversations on one
// replica spend the shared edit budget down to its reserve, so a final on
// another replica still finds a token at once.
func TestOutboxSharedReserveForFinals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limits := bridgetest.WorkspaceLimits()
		limits.EditRate.Burst = 5 // as the Slack adapter declares
		p := bridgetest.NewPlatform("slack", limits)
		rigs := startReplicas(t, p, 2, bridgetest.NewMemBudgets())
		busy := make([]*outbox.LiveMessage, 10)
		for i := range busy {
			busy[i] = rigs[0].placeholder(slackKey("C" + strconv.Itoa(i)))
		}
		lm := rigs[1].placeholder(slackKey("C99"))
		for s := range 80 {
			time.Sleep(500 * time.Millisecond)
			for _, l := range busy {
				l.Set(chat.Message{Status: "step " + strconv.Itoa(s)})
			}
		}
		synctest.Wait()
		done := time.Now()
		refs, err := lm.Finish(rigs[1].ctx, answer("final"), chat.Message{})
		require.NoError(t, err)
		require.Equal(t, []chat.MessageRef{lm.Ref()}, refs, "the final replaced the placeholder")
		got := editsOf(p, lm.Ref())
		require.Len(t, got, 1)
		assert.LessOrEqual(t, got[0].Time.Sub(done), 100*time.Millisecond, "the final went at once")
		assert.Greater(t, len(p.Applied(bridgetest.OpEdit)), 20, "the other replica's live edits went on meanwhile")
	})
}

// TestOutboxSharedGlobalBudget: the bot-wide budget (Limits.GlobalRate) is
// one for all replicas: three outboxes posting into 90 channels never send
// more in a second than one outbox's burst plus its rate.
func TestOutboxSharedGlobalBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limits := bridgetest.SharedChannelLimits()
		limits.GlobalRate = chat.Rate{Count: 10, Per: time.Second, Burst: 4}
		p := bridgetest.NewPlatform("discord", limits)
		rigs := startReplicas(t, p, 3, bridgetest.NewMemBudgets())
		var wg sync.WaitGroup
		for i := range 90 {
			wg.Go(func() {
				_, err := rigs[i%3].o.Post(rigs[i%3].ctx, discordKey("C"+strconv.Itoa(i)), chat.Message{Body: "hi"}, outbox.PrioHigh)
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		posts := recordTimes(p, bridgetest.OpPost)
		require.Len(t, posts, 90)
		assert.LessOrEqual(t, maxInWindow(posts, time.Second), 4+10-1, "no second holds more than burst + rate")
	})
}

// TestOutboxSharedBudgetsUnreachable: when the shared budgets cannot be
// reached, a replica goes on within its own budget rather than holding
// back its answers.
func TestOutboxSharedBudgetsUnreachable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := bridgetest.NewMemBudgets()
		shared.FailWith(errors.New("connection refused"))
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		r := startReplicas(t, p, 1, shared)[0]
		lms := make([]*outbox.LiveMessage, 5)
		for i := range lms {
			lms[i] = r.placeholder(slackKey("C" + strconv.Itoa(i)))
		}
		for s := range 120 {
			for _, l := range lms {
				l.Set(chat.Message{Status: "step " + strconv.Itoa(s)})
			}
			time.Sleep(time.Second)
		}
		edits := recordTimes(p, bridgetest.OpEdit)
		assert.Greater(t, len(edits), 60, "edits went on")
		assert.LessOrEqual(t, maxInWindow(edits, time.Minute), 40, "within this replica's budget")

		shared.FailWith(nil)
		before := shared.Takes()
		_, err := r.o.Post(r.ctx, slackKey("C9"), chat.Message{Body: "back"}, outbox.PrioHigh)
		require.NoError(t, err)
		assert.Equal(t, before+1, shared.Takes(), "the store is asked again once it answers")
	})
}

// TestOutboxSharedFinalGivesUpEarly: a final whose tokens another replica
// took, with the next token due after its deadline, is posted as soon as
// the shared budgets answer, not at the deadline.
func TestOutboxSharedFinalGivesUpEarly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits()) // 40 edits a minute, burst 1
		rigs := startReplicasDeadline(t, p, 2, bridgetest.NewMemBudgets(), time.Second)
		a := rigs[0].placeholder(slackKey("C1"))
		b := rigs[1].placeholder(slackKey("C2"))
		time.Sleep(time.Minute)

		_, err := b.Finish(rigs[1].ctx, answer("b"), chat.Message{})
		require.NoError(t, err)
		start := time.Now()
		refs, err := a.Finish(rigs[0].ctx, answer("a"), chat.Message{})
		require.NoError(t, err)
		assert.Equal(t, time.Duration(0), time.Since(start), "posted at once: the next token (1.5 s) comes after the deadline (1 s)")
		require.Len(t, refs, 1)
		assert.NotEqual(t, a.Ref().ID, refs[0].ID, "the answer was posted")
		assert.Equal(t, "a", p.Current(refs[0]).Body)
	})
}

// TestOutboxSharedBudgetsSlow: a store slower than the take's timeout (1 s)
// counts as unreachable, so a write waits a second, not the store's ten;
// and an outbox stopped while a take is under way returns at once and
// releases the write's caller.
func TestOutboxSharedBudgetsSlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := bridgetest.NewMemBudgets()
		shared.SetLatency(10 * time.Second)
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		r := startReplicas(t, p, 1, shared)[0]
		start := time.Now()
		_, err := r.o.Post(r.ctx, slackKey("C1"), chat.Message{Body: "one"}, outbox.PrioHigh)
		require.NoError(t, err)
		assert.Equal(t, time.Second, time.Since(start), "metered locally after the take's timeout")

		errc := make(chan error, 1)
		go func() {
			_, err := r.o.Post(context.Background(), slackKey("C2"), chat.Message{Body: "two"}, outbox.PrioHigh)
			errc <- err
		}()
		time.Sleep(100 * time.Millisecond) // the take is under way
		stopped := time.Now()
		r.stop()
		assert.Equal(t, time.Duration(0), time.Since(stopped), "the stop does not wait for the store")
		assert.Error(t, <-errc, "the waiting post is released")
		assert.Len(t, p.Applied(bridgetest.OpPost), 1)
	})
}
