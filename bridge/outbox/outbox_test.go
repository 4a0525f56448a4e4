package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/bridge/outbox"
	"github.com/promptev/promptev-bridge/chat"
)

func TestOutboxCoalescesLiveEdits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits(),
			bridgetest.WithServerLimits(bridgetest.WorkspaceServerLimits()...))
		r := startOutbox(t, p, 0)
		lm := r.placeholder(slackKey("C1"))
		start := time.Now()
		for i := range 100 {
			lm.Set(chat.Message{Kind: chat.KindStatus, Status: fmt.Sprintf("step %d", i)})
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()

		edits := editsOf(p, lm.Ref())
		require.NotEmpty(t, edits)
		assert.LessOrEqual(t, len(edits), 2, "100 states in 1 s give at most 2 edits at a 1 s interval")
		assert.Equal(t, "step 99", p.Current(lm.Ref()).Status, "the last state wins")
		last := start
		for _, e := range edits {
			assert.GreaterOrEqual(t, e.Time.Sub(last), time.Second, "per-message interval")
			last = e.Time
		}
		assert.Equal(t, len(edits), r.metrics.edit("sent"))
		assert.Equal(t, 100-len(edits), r.metrics.edit("coalesced"), "every replaced state is counted")
	})
}

func TestOutboxLatestStateWinsOverInFlightEdit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		r := startOutbox(t, p, 0)
		lm := r.placeholder(slackKey("C1"))
		p.SetLatency(700 * time.Millisecond)
		lm.Set(chat.Message{Status: "a"})
		time.Sleep(1200 * time.Millisecond) // the edit of "a" is in flight
		lm.Set(chat.Message{Status: "b"})
		lm.Set(chat.Message{Status: "c"})
		time.Sleep(5 * time.Second)
		edits := editsOf(p, lm.Ref())
		require.Len(t, edits, 2)
		assert.Equal(t, "a", edits[0].Message.Status)
		assert.Equal(t, "c", edits[1].Message.Status)
		assert.Equal(t, 1, r.metrics.edit("coalesced"))
	})
}

func TestOutboxFairSharingFiftyConversations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits(),
			bridgetest.WithServerLimits(bridgetest.WorkspaceServerLimits()...))
		r := startOutbox(t, p, 2*time.Second)
		const n = 50
		var wg sync.WaitGroup
		var mu sync.Mutex
		finishTook := make([]time.Duration, n)
		live := make([]*outbox.LiveMessage, n)
		finals := make([][]chat.MessageRef, n)
		for i := range n {
			live[i] = r.placeholder(slackKey(fmt.Sprintf("C%02d", i)))
		}
		for i := range n {
			wg.Go(func() {
				// 20 status events over 10 s, then done.
				for s := range 20 {
					live[i].Set(chat.Message{Kind: chat.KindStatus, Status: fmt.Sprintf("conv %d step %d", i, s)})
					time.Sleep(500 * time.Millisecond)
				}
				start := time.Now()
				refs, err := live[i].Finish(r.ctx, answer(fmt.Sprintf("answer %d", i)),
					chat.Message{Kind: chat.KindStatus, Status: "✓ 20 steps", Final: true})
				assert.NoError(t, err)
				mu.Lock()
				finishTook[i] = time.Since(start)
				finals[i] = refs
				mu.Unlock()
			})
		}
		wg.Wait()
		for i := range n {
			assert.LessOrEqual(t, finishTook[i], 3*time.Second, "final %d visible within 3 s", i)
			require.Len(t, finals[i], 1)
			assert.Equal(t, fmt.Sprintf("answer %d", i), p.Current(finals[i][0]).Body, "final %d is shown", i)
		}
		// Let the low-priority tidy-ups drain.
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		for i := range n {
			cur := p.Current(live[i].Ref())
			if finals[i][0].ID == live[i].Ref().ID {
				assert.Equal(t, fmt.Sprintf("answer %d", i), cur.Body)
			} else {
				assert.Equal(t, "✓ 20 steps", cur.Status, "placeholder %d tidied", i)
			}
		}
		assert.LessOrEqual(t, maxInWindow(recordTimes(p, bridgetest.OpEdit), time.Minute), 40, "edits per minute")
		assert.Zero(t, p.ServerRateLimited(), "the bridge caused no 429")
		assert.Zero(t, r.metrics.limited("edit")+r.metrics.limited("post"))
	})
}

func TestOutboxRoundRobinBetweenConversations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limits := bridgetest.WorkspaceLimits()
		limits.EditRate = chat.Rate{Count: 12, Per: time.Minute, Burst: 1} // one edit per 5 s
		p := bridgetest.NewPlatform("slack", limits)
		r := startOutbox(t, p, 0)
		const n = 5
		live := make([]*outbox.LiveMessage, n)
		for i := range n {
			live[i] = r.placeholder(slackKey(fmt.Sprintf("C%d", i)))
		}
		ctx, cancel := context.WithTimeout(r.ctx, 2*time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		for i := range n {
			every := time.Second
			if i == 0 {
				every = 10 * time.Millisecond // a very busy conversation
			}
			wg.Go(func() {
				for s := 0; ctx.Err() == nil; s++ {
					live[i].Set(chat.Message{Status: fmt.Sprintf("%d", s)})
					time.Sleep(every)
				}
			})
		}
		wg.Wait()
		counts := make([]int, n)
		for i := range n {
			counts[i] = len(editsOf(p, live[i].Ref()))
		}
		lo, hi := counts[0], counts[0]
		for _, c := range counts {
			lo, hi = min(lo, c), max(hi, c)
		}
		assert.LessOrEqual(t, hi-lo, 1, "edits are shared round robin: %v", counts)
		assert.GreaterOrEqual(t, lo, 4, "every conversation is served: %v", counts)
	})
}

func TestOutboxFinishEditsThenPostsRest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		r := startOutbox(t, p, 0)
		key := slackKey("C1")
		lm := r.placeholder(key)
		chunks := []chat.Message{
			{Kind: chat.KindAnswer, Body: "part 1", Final: true},
			{Kind: chat.KindAnswer, Body: "part 2", Final: true},
			{Kind: chat.KindAnswer, Body: "part 3", Final: true},
		}
		refs, err := lm.Finish(r.ctx, chunks, chat.Message{})
		require.NoError(t, err)
		require.Len(t, refs, 3)
		assert.Equal(t, lm.Ref().ID, refs[0].ID, "chunk 0 replaces the live message")
		msgs := p.Messages(key)
		require.Len(t, msgs, 3)
		for i, m := range msgs {
			assert.Equal(t, fmt.Sprintf("part %d", i+1), m.Message.Body, "chunks in order")
			assert.Equal(t, refs[i].ID, m.Ref.ID)
		}
		lm.Set(chat.Message{Status: "late"})
		time.Sleep(10 * time.Second)
		assert.Equal(t, "part 1", p.Current(lm.Ref()).Body, "set after finish is ignored")
		_, err = lm.Finish(r.ctx, chunks, chat.Message{})
		assert.Error(t, err, "a second finish is refused")
	})
}

func TestOutboxFinishWaitsForInFlightEdit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits(), bridgetest.WithLatency(300*time.Millisecond))
		r := startOutbox(t, p, 0)
		lm := r.placeholder(slackKey("C1"))
		time.Sleep(2 * time.Second)
		lm.Set(chat.Message{Status: "working"})
		time.Sleep(100 * time.Millisecond) // the live edit is in flight
		_, err := lm.Finish(r.ctx, answer("done"), chat.Message{})
		require.NoError(t, err)
		edits := editsOf(p, lm.Ref())
		require.Len(t, edits, 2)
		assert.Equal(t, "working", edits[0].Message.Status)
		assert.Equal(t, "done", edits[1].Message.Body, "the final comes last")
		assert.Equal(t, "done", p.Current(lm.Ref()).Body)
	})
}

// exhaustEdits makes the edit budget of limits tiny: one edit per minute.
func exhaustEdits(limits chat.Limits) chat.Limits {
	limits.EditRate = chat.Rate{Count: 1, Per: time.Minute, Burst: 1}
	return limits
}

func TestOutboxFinishFallsBackToPostAndTidies(t *testing.T) {
	tests := []struct {
		name     string
		tidy     chat.Message
		wantTidy string
	}{
		{"summary", chat.Message{Kind: chat.KindStatus, Status: "✓ 4 steps", Final: true}, "✓ 4 steps"},
		{"zero tidy edits to the answer", chat.Message{}, "the answer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := bridgetest.NewPlatform("slack", exhaustEdits(bridgetest.WorkspaceLimits()))
				r := startOutbox(t, p, 2*time.Second)
				key := slackKey("C1")
				lm := r.placeholder(key)
				lm.Set(chat.Message{Status: "searching"}) // spends the only edit token
				time.Sleep(1500 * time.Millisecond)
				require.Len(t, editsOf(p, lm.Ref()), 1)

				start := time.Now()
				chunks := []chat.Message{
					{Kind: chat.KindAnswer, Body: "the answer", Final: true},
					{Kind: chat.KindAnswer, Body: "more", Final: true},
				}
				refs, err := lm.Finish(r.ctx, chunks, tc.tidy)
				require.NoError(t, err)
				assert.Zero(t, time.Since(start), "the budget cannot make the deadline: posted at once")
				require.Len(t, refs, 2)
				assert.NotEqual(t, lm.Ref().ID, refs[0].ID, "all chunks were posted")
				assert.Equal(t, "the answer", p.Current(refs[0]).Body)
				assert.Equal(t, "more", p.Current(refs[1]).Body)
				assert.Equal(t, "searching", p.Current(lm.Ref()).Status, "not tidied yet")

				time.Sleep(time.Minute)
				synctest.Wait()
				cur := p.Current(lm.Ref())
				assert.Equal(t, tc.wantTidy, cur.Status+cur.Body, "tidied later")
				assert.Len(t, editsOf(p, lm.Ref()), 2)
			})
		})
	}
}

func TestOutboxFinishPostsAfterDeadlineWhenEditIsStuck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		r := startOutbox(t, p, 2*time.Second)
		key := slackKey("C1")
		lm := r.placeholder(key)
		p.SetLatency(5 * time.Second)
		lm.Set(chat.Message{Status: "slow edit"})
		time.Sleep(1500 * time.Millisecond) // the live edit went at 1 s and takes 5 s
		start := time.Now()
		refs, err := lm.Finish(r.ctx, answer("the answer"), chat.Message{Status: "tidy"})
		require.NoError(t, err)
		assert.Equal(t, 7*time.Second, time.Since(start), "FinalDeadline, then a post taking 5 s")
		require.Len(t, refs, 1)
		assert.NotEqual(t, lm.Ref().ID, refs[0].ID)
		assert.Equal(t, "the answer", p.Current(refs[0]).Body)
		time.Sleep(20 * time.Second)
		assert.Equal(t, "tidy", p.Current(lm.Ref()).Status, "the placeholder is tidied after the slow edit")
	})
}

func TestOutboxFinalEditFailureFallsBackToPost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		r := startOutbox(t, p, 0)
		key := slackKey("C1")
		lm := r.placeholder(key)
		p.FailNext(errors.New("cant_update_message"))
		refs, err := lm.Finish(r.ctx, answer("the answer"), chat.Message{})
		require.NoError(t, err)
		require.Len(t, refs, 1)
		assert.NotEqual(t, lm.Ref().ID, refs[0].ID)
		assert.Equal(t, "the answer", p.Current(refs[0]).Body)
		assert.Equal(t, 1, r.metrics.edit("failed"))
	})
}

func TestOutbox429PausesScopeThenDeliversLatest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		r := startOutbox(t, p, 0)
		a := r.placeholder(slackKey("C1"))
		b := r.placeholder(slackKey("C2")) // same workspace: same edit budget
		time.Sleep(2 * time.Second)

		p.Inject429(1, 10*time.Second)
		a.Set(chat.Message{Status: "a1"})
		synctest.Wait()
		limitedAt := time.Now()
		require.Equal(t, 1, p.RateLimited())
		a.Set(chat.Message{Status: "a2"})
		b.Set(chat.Message{Status: "b1"})
		time.Sleep(30 * time.Second)

		for _, rec := range p.Applied(bridgetest.OpEdit) {
			assert.GreaterOrEqual(t, rec.Time.Sub(limitedAt), 10*time.Second, "the scope is paused for Retry-After")
		}
		assert.Equal(t, "a2", p.Current(a.Ref()).Status, "then the latest state is delivered")
		assert.Equal(t, "b1", p.Current(b.Ref()).Status)
		assert.Equal(t, 1, r.metrics.limited("edit"))
		assert.Len(t, editsOf(p, a.Ref()), 1, "the stale state a1 is never sent")
	})
}

func TestOutbox429RetriesLiveStateWhenNothingNewer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		r := startOutbox(t, p, 0)
		a := r.placeholder(slackKey("C1"))
		time.Sleep(2 * time.Second)
		p.Inject429(1, 4*time.Second)
		a.Set(chat.Message{Status: "only"})
		time.Sleep(10 * time.Second)
		assert.Equal(t, "only", p.Current(a.Ref()).Status)
	})
}

func TestOutbox429StormNeverLosesFinal(t *testing.T) {
	tests := []struct {
		name   string
		limits chat.Limits
	}{
		{"slack", bridgetest.WorkspaceLimits()},
		{"discord", bridgetest.SharedChannelLimits()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := bridgetest.NewPlatform("slack", tc.limits)
				r := startOutbox(t, p, 2*time.Second)
				key := slackKey("C1")
				lm := r.placeholder(key)
				lm.Set(chat.Message{Status: "working"})
				time.Sleep(2 * time.Second)
				p.Inject429(40, 1500*time.Millisecond)
				chunks := []chat.Message{
					{Kind: chat.KindAnswer, Body: "final 1", Final: true},
					{Kind: chat.KindAnswer, Body: "final 2", Final: true},
				}
				refs, err := lm.Finish(r.ctx, chunks, chat.Message{})
				require.NoError(t, err)
				require.Len(t, refs, 2)
				assert.Equal(t, "final 1", p.Current(refs[0]).Body)
				assert.Equal(t, "final 2", p.Current(refs[1]).Body)
				assert.Equal(t, 40, p.RateLimited(), "the whole storm was absorbed")
				time.Sleep(5 * time.Minute)
				assert.Equal(t, "final 1", p.Current(lm.Ref()).Body, "the placeholder ends on the answer")
			})
		})
	}
}

func TestOutboxPriorityOvertakesLiveEdits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Discord-like: posts and edits share one channel budget.
		p := bridgetest.NewPlatform("discord", bridgetest.SharedChannelLimits())
		r := startOutbox(t, p, 10*time.Second)
		key := discordKey("C1")
		var live []*outbox.LiveMessage
		for range 3 {
			live = append(live, r.placeholder(key))
		}
		time.Sleep(10 * time.Second)
		// Spend the token, then queue live edits of every message.
		for i, lm := range live {
			lm.Set(chat.Message{Status: fmt.Sprintf("live %d", i)})
		}
		synctest.Wait()
		before := len(p.Applied(bridgetest.OpEdit))
		require.Equal(t, 1, before, "one live edit took the token")

		var wg sync.WaitGroup
		var card chat.MessageRef
		wg.Go(func() {
			var err error
			card, err = r.o.Post(r.ctx, key, chat.Message{Kind: chat.KindApproval,
				Approval: &chat.ApprovalCard{ID: "a1", Description: "approve?", State: chat.ApprovalPending}}, outbox.PrioHigh)
			assert.NoError(t, err)
		})
		wg.Go(func() {
			_, err := live[2].Finish(r.ctx, answer("final 2"), chat.Message{})
			assert.NoError(t, err)
		})
		wg.Wait()
		recs := p.Records()
		var order []string
		for _, rec := range recs[len(recs)-2:] {
			order = append(order, string(rec.Op)+":"+rec.Message.Status+rec.Message.Body)
		}
		assert.ElementsMatch(t, []string{"post:", "edit:final 2"}, order,
			"the approval card and the final went before the waiting live edits")
		assert.Equal(t, "approve?", p.Current(card).Approval.Description)
		time.Sleep(time.Minute)
		assert.Equal(t, "live 0", p.Current(live[0].Ref()).Status, "live edits follow")
		assert.Equal(t, "live 1", p.Current(live[1].Ref()).Status)
	})
}

func TestOutboxTidyYieldsToLiveEdits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limits := exhaustEdits(bridgetest.WorkspaceLimits())
		p := bridgetest.NewPlatform("slack", limits)
		r := startOutbox(t, p, 2*time.Second)
		a := r.placeholder(slackKey("C1"))
		b := r.placeholder(slackKey("C2"))
		a.Set(chat.Message{Status: "a working"}) // takes the token
		time.Sleep(1500 * time.Millisecond)
		_, err := a.Finish(r.ctx, answer("a done"), chat.Message{Status: "a tidy"})
		require.NoError(t, err) // fell back to a post; the tidy waits at low priority
		b.Set(chat.Message{Status: "b working"})
		time.Sleep(61 * time.Second)
		assert.Equal(t, "b working", p.Current(b.Ref()).Status, "the live edit went first")
		assert.Equal(t, "a working", p.Current(a.Ref()).Status)
		time.Sleep(time.Minute)
		assert.Equal(t, "a tidy", p.Current(a.Ref()).Status, "then the tidy")
	})
}

func TestOutboxMaxEditAgePostsInstead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("discord", bridgetest.SharedChannelLimits())
		r := startOutbox(t, p, 0)
		key := discordKey("C1")
		lm := r.placeholder(key)
		time.Sleep(56 * time.Minute)
		lm.Set(chat.Message{Status: "too late"})
		time.Sleep(10 * time.Second)
		refs, err := lm.Finish(r.ctx, answer("answer"), chat.Message{})
		require.NoError(t, err)
		require.Len(t, refs, 1)
		assert.NotEqual(t, lm.Ref().ID, refs[0].ID)
		assert.Equal(t, "answer", p.Current(refs[0]).Body)
		time.Sleep(10 * time.Minute)
		assert.Empty(t, p.Applied(bridgetest.OpEdit), "an old message is never edited")
		assert.Equal(t, 1, r.metrics.edit("dropped"))
	})
}

func TestOutboxSharedBudgetDiscord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("discord", bridgetest.SharedChannelLimits(),
			bridgetest.WithServerLimits(bridgetest.SharedChannelServerLimits()...))
		r := startOutbox(t, p, 2*time.Second)
		key := discordKey("C1")
		var wg sync.WaitGroup
		for c := range 4 { // four conversations (threads) posting and editing in one channel
			wg.Go(func() {
				lm := r.placeholder(key)
				for s := range 10 {
					lm.Set(chat.Message{Status: fmt.Sprintf("c%d s%d", c, s)})
					time.Sleep(300 * time.Millisecond)
				}
				_, err := lm.Finish(r.ctx, []chat.Message{
					{Kind: chat.KindAnswer, Body: fmt.Sprintf("c%d answer 1", c)},
					{Kind: chat.KindAnswer, Body: fmt.Sprintf("c%d answer 2", c)},
				}, chat.Message{})
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		time.Sleep(2 * time.Minute)
		writes := recordTimes(p, bridgetest.OpPost, bridgetest.OpEdit)
		assert.GreaterOrEqual(t, len(writes), 12)
		assert.LessOrEqual(t, maxInWindow(writes, 5*time.Second), 4, "4 writes per 5 s, posts and edits together")
		assert.Zero(t, p.ServerRateLimited())
		answers := map[string]bool{}
		for _, m := range p.Messages(key) {
			if strings.Contains(m.Message.Body, "answer") {
				answers[m.Message.Body] = true
			}
		}
		assert.Len(t, answers, 8, "every chunk of every answer is shown: %v", answers)
	})
}

func TestOutboxPostErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limits := bridgetest.WorkspaceLimits()
		limits.MaxMessageChars = 10
		p := bridgetest.NewPlatform("slack", limits)
		r := startOutbox(t, p, 0)
		key := slackKey("C1")

		_, err := r.o.Post(r.ctx, key, chat.Message{Body: "ééééééééééé"}, outbox.PrioNormal)
		require.Error(t, err, "11 runes over a 10-rune limit")
		_, err = r.o.Post(r.ctx, key, chat.Message{Body: "éééééééééé"}, outbox.PrioNormal)
		require.NoError(t, err, "10 runes fit")

		lm := r.placeholder(key)
		_, err = lm.Finish(r.ctx, []chat.Message{{Body: "ok"}, {Body: "much too long"}}, chat.Message{})
		require.Error(t, err, "a chunk over the limit")

		boom := errors.New("channel_not_found")
		p.FailNext(boom)
		_, err = r.o.Post(r.ctx, key, chat.Message{Body: "x"}, outbox.PrioNormal)
		require.ErrorIs(t, err, boom, "a failed post is not retried")

		p.Inject429(2, time.Second)
		start := time.Now()
		_, err = r.o.Post(r.ctx, key, chat.Message{Body: "y"}, outbox.PrioNormal)
		require.NoError(t, err, "a 429 is retried")
		assert.GreaterOrEqual(t, time.Since(start), 2*time.Second)
		assert.Equal(t, 2, r.metrics.limited("post"))
	})
}

func TestOutboxPostWaitingHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limits := bridgetest.WorkspaceLimits()
		limits.PostRate = chat.Rate{Count: 1, Per: time.Hour, Burst: 1}
		p := bridgetest.NewPlatform("slack", limits)
		r := startOutbox(t, p, 0)
		key := slackKey("C1")
		_, err := r.o.Post(r.ctx, key, chat.Message{Body: "first"}, outbox.PrioNormal)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(r.ctx, time.Second)
		defer cancel()
		_, err = r.o.Post(ctx, key, chat.Message{Body: "second"}, outbox.PrioNormal)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		time.Sleep(2 * time.Hour)
		assert.Len(t, p.Messages(key), 1, "a withdrawn post is never sent")
	})
}

func TestOutboxStopReleasesWaitersAndDropsLive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limits := exhaustEdits(bridgetest.WorkspaceLimits())
		limits.PostRate = chat.Rate{Count: 1, Per: time.Hour, Burst: 1}
		p := bridgetest.NewPlatform("slack", limits)
		r := startOutbox(t, p, time.Hour)
		key := slackKey("C1")
		lm := r.placeholder(key)
		lm.Set(chat.Message{Status: "one"}) // sent
		synctest.Wait()
		lm.Set(chat.Message{Status: "two"}) // waits for budget

		errc := make(chan error, 1)
		go func() {
			_, err := r.o.Post(context.Background(), key, chat.Message{Body: "waiting"}, outbox.PrioNormal)
			errc <- err
		}()
		synctest.Wait()
		r.stop()
		require.Error(t, <-errc, "a waiting post fails when the outbox stops")
		assert.Equal(t, 1, r.metrics.edit("dropped"))
		lm.Set(chat.Message{Status: "three"}) // ignored, does not block
		_, err := r.o.Post(context.Background(), key, chat.Message{Body: "after"}, outbox.PrioNormal)
		require.Error(t, err)
	})
}

func TestOutboxRunStopsWithoutLeaks(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	limits := bridgetest.WorkspaceLimits()
	limits.MinEditInterval = 0
	p := bridgetest.NewPlatform("slack", limits, bridgetest.WithLatency(time.Millisecond))
	r := startOutbox(t, p, 0)
	lm := r.placeholder(slackKey("C1"))
	lm.Set(chat.Message{Status: "working"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, p.WaitFor(ctx, func() bool { return p.Current(lm.Ref()).Status == "working" }))
	lm.Set(chat.Message{Status: "pending at stop"})
	r.stop()
}

func TestOutboxFinalDoesNotWaitForEditInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("discord", bridgetest.SharedChannelLimits()) // a write per 1.25 s, 1.5 s per message
		r := startOutbox(t, p, 10*time.Second)
		key := discordKey("C1")
		a := r.placeholder(key)
		b := r.placeholder(key)
		time.Sleep(10 * time.Second)
		a.Set(chat.Message{Status: "a live"})
		synctest.Wait() // sent now; a live edit of a would wait 1.5 s
		b.Set(chat.Message{Status: "b live"})
		_, err := a.Finish(r.ctx, answer("a final"), chat.Message{})
		require.NoError(t, err)
		time.Sleep(10 * time.Second)
		edits := p.Applied(bridgetest.OpEdit)
		require.Len(t, edits, 3)
		assert.Equal(t, "a live", edits[0].Message.Status)
		assert.Equal(t, "a final", edits[1].Message.Body, "the final goes before the waiting live edit")
		assert.Equal(t, 1250*time.Millisecond, edits[1].Time.Sub(edits[0].Time), "the final waits for the budget only, not for its message's interval")
		assert.Equal(t, "b live", edits[2].Message.Status)
	})
}

// TestOutboxFinalWithin100msOfDone: with budget available, a final edit and
// an approval card are sent at once after the agent's done, although the
// message was edited a moment ago; the per-message interval holds back only
// live status edits.
func TestOutboxFinalWithin100msOfDone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits chat.Limits
		key    chat.ConversationKey
	}{
		{"slack", bridgetest.WorkspaceLimits(), slackKey("C1")},
		{"discord", bridgetest.SharedChannelLimits(), discordKey("C1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				limits := tc.limits
				roomy := chat.Rate{Count: 100, Per: time.Second, Burst: 10} // budget available
				limits.EditRate, limits.PostRate = roomy, roomy
				require.Positive(t, limits.MinEditInterval)
				p := bridgetest.NewPlatform(tc.key.Platform, limits)
				r := startOutbox(t, p, 2*time.Second)
				lm := r.placeholder(tc.key)
				time.Sleep(5 * time.Second)
				lm.Set(chat.Message{Status: "step 20"})
				synctest.Wait()
				require.Len(t, editsOf(p, lm.Ref()), 1, "the status edit went")

				time.Sleep(50 * time.Millisecond) // the agent says done
				done := time.Now()
				_, err := r.o.Post(r.ctx, tc.key, chat.Message{Kind: chat.KindApproval, Body: "approve?"}, outbox.PrioHigh)
				require.NoError(t, err)
				assert.LessOrEqual(t, time.Since(done), 100*time.Millisecond, "the approval card is not held back")
				_, err = lm.Finish(r.ctx, answer("final"), chat.Message{})
				require.NoError(t, err)
				edits := editsOf(p, lm.Ref())
				require.Len(t, edits, 2)
				assert.Equal(t, "final", edits[1].Message.Body)
				assert.LessOrEqual(t, edits[1].Time.Sub(done), 100*time.Millisecond, "the final is visible within 100 ms of done")
			})
		})
	}
}

// TestOutboxThreadScope: with Limits.ThreadScope every thread is its own
// budget for posts and edits, as on Discord, where a thread is a channel.
func TestOutboxThreadScope(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limits := bridgetest.SharedChannelLimits() // 4 writes per 5 s, burst 1
		limits.ThreadScope = true
		p := bridgetest.NewPlatform("discord", limits)
		r := startOutbox(t, p, 10*time.Second)
		start := time.Now()
		var lms []*outbox.LiveMessage
		for i := range 5 {
			key := discordKey("C1")
			key.Thread = "T" + strconv.Itoa(i)
			lms = append(lms, r.placeholder(key))
		}
		assert.Equal(t, time.Duration(0), time.Since(start), "placeholders in five threads of one channel go at once")

		// In one thread, posts and edits draw from one budget.
		lms[0].Set(chat.Message{Status: "live"})
		synctest.Wait()
		time.Sleep(10 * time.Second)
		edits := editsOf(p, lms[0].Ref())
		require.Len(t, edits, 1)
		assert.Equal(t, 1500*time.Millisecond, edits[0].Time.Sub(start), "the edit waits for its interval")
		key := lms[0].Ref().Key
		posted := time.Now()
		lms[0].Set(chat.Message{Status: "live 2"})
		synctest.Wait()
		_, err := r.o.Post(r.ctx, key, chat.Message{Body: "more"}, outbox.PrioHigh)
		require.NoError(t, err)
		assert.Equal(t, 1250*time.Millisecond, time.Since(posted), "the post in the thread waits for the edit's token")
	})
}

// TestOutboxGlobalBudget: Limits.GlobalRate bounds the writes of all scopes
// together, and live status edits leave part of its burst to posts.
func TestOutboxGlobalBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limits := bridgetest.SharedChannelLimits()
		limits.GlobalRate = chat.Rate{Count: 10, Per: time.Second, Burst: 4}
		p := bridgetest.NewPlatform("discord", limits)
		r := startOutbox(t, p, 10*time.Second)
		var lms []*outbox.LiveMessage
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				ref, err := r.o.Post(r.ctx, discordKey("C"+strconv.Itoa(i)), chat.Message{Status: "thinking"}, outbox.PrioNormal)
				assert.NoError(t, err)
				mu.Lock()
				lms = append(lms, r.o.Live(ref))
				mu.Unlock()
			})
		}
		wg.Wait()
		posts := recordTimes(p, bridgetest.OpPost)
		require.Len(t, posts, 40)
		assert.LessOrEqual(t, maxInWindow(posts, time.Second), 4+10-1, "no second holds more than burst + rate")
		time.Sleep(10 * time.Second) // budgets full again

		// Live edits of every message and then a high-priority post: the
		// post finds the reserve the live edits left.
		for _, lm := range lms {
			lm.Set(chat.Message{Status: "live"})
		}
		synctest.Wait()
		at := time.Now()
		_, err := r.o.Post(r.ctx, discordKey("C99"), chat.Message{Body: "final"}, outbox.PrioHigh)
		require.NoError(t, err)
		assert.Equal(t, time.Duration(0), time.Since(at), "status edits kept a share of the burst for the final")
		assert.Len(t, p.Applied(bridgetest.OpEdit), 2, "status edits took the burst but its reserve (4 - 4/2)")
		time.Sleep(10 * time.Second)
		all := recordTimes(p, bridgetest.OpPost, bridgetest.OpEdit)
		assert.LessOrEqual(t, maxInWindow(all, time.Second), 4+10-1)
		assert.Len(t, p.Applied(bridgetest.OpEdit), 40)
	})
}

// TestOutboxGlobal429PausesEverything: a 429 of the bot-wide limit pauses
// the writes of every scope, not only the refused one's.
func TestOutboxGlobal429PausesEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("discord", bridgetest.SharedChannelLimits())
		r := startOutbox(t, p, 10*time.Second)
		p.FailNext(&chat.RateLimitError{RetryAfter: 2 * time.Second, Global: true})
		start := time.Now()
		_, err := r.o.Post(r.ctx, discordKey("C1"), chat.Message{Body: "one"}, outbox.PrioHigh)
		require.NoError(t, err)
		assert.Equal(t, 2*time.Second, time.Since(start), "the refused post is retried after the pause")
		assert.Equal(t, 1, r.metrics.limited("post"))

		p.FailNext(&chat.RateLimitError{RetryAfter: 3 * time.Second, Global: true})
		errc := make(chan error, 1)
		go func() {
			_, err := r.o.Post(r.ctx, discordKey("C2"), chat.Message{Body: "two"}, outbox.PrioHigh)
			errc <- err
		}()
		synctest.Wait()
		start = time.Now()
		_, err = r.o.Post(r.ctx, discordKey("C3"), chat.Message{Body: "three"}, outbox.PrioHigh)
		require.NoError(t, err)
		assert.Equal(t, 3*time.Second, time.Since(start), "another channel's post waits for the bot-wide pause")
		require.NoError(t, <-errc)
	})
}

func TestOutboxFinalEditRetriedAfterShort429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		r := startOutbox(t, p, 2*time.Second)
		lm := r.placeholder(slackKey("C1"))
		time.Sleep(2 * time.Second)
		p.Inject429(1, 500*time.Millisecond)
		refs, err := lm.Finish(r.ctx, answer("the answer"), chat.Message{})
		require.NoError(t, err)
		require.Len(t, refs, 1)
		assert.Equal(t, lm.Ref().ID, refs[0].ID, "a pause shorter than FinalDeadline keeps the edit path")
		assert.Equal(t, "the answer", p.Current(lm.Ref()).Body)
		assert.Len(t, p.Messages(slackKey("C1")), 1, "nothing was posted")
		assert.Equal(t, 1, r.metrics.limited("edit"))
	})
}

func TestOutboxConcurrentConversationsUnderInjected429s(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits chat.Limits
		server []bridgetest.ServerLimit
	}{
		{"slack", bridgetest.WorkspaceLimits(), bridgetest.WorkspaceServerLimits()},
		{"discord", bridgetest.SharedChannelLimits(), bridgetest.SharedChannelServerLimits()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := bridgetest.NewPlatform(tc.name, tc.limits, bridgetest.WithServerLimits(tc.server...),
					bridgetest.WithLatency(50*time.Millisecond))
				r := startOutbox(t, p, 2*time.Second)
				const n = 20
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						key := chat.ConversationKey{Platform: tc.name, Workspace: "W1", Channel: fmt.Sprintf("C%d", i%3), Thread: fmt.Sprint(i)}
						time.Sleep(time.Duration(i) * 700 * time.Millisecond)
						lm := r.placeholder(key)
						for s := range 15 + i%7 {
							lm.Set(chat.Message{Status: fmt.Sprintf("%d/%d", i, s)})
							time.Sleep(time.Duration(100+37*((i*s)%11)) * time.Millisecond)
						}
						chunks := []chat.Message{{Body: fmt.Sprintf("answer %d a", i)}, {Body: fmt.Sprintf("answer %d b", i)}}
						refs, err := lm.Finish(r.ctx, chunks, chat.Message{Status: fmt.Sprintf("done %d", i)})
						assert.NoError(t, err)
						if assert.Len(t, refs, 2) {
							assert.Equal(t, chunks[0].Body, p.Current(refs[0]).Body)
							assert.Equal(t, chunks[1].Body, p.Current(refs[1]).Body)
						}
					})
				}
				for range 6 {
					time.Sleep(2500 * time.Millisecond)
					p.Inject429(3, 1200*time.Millisecond)
				}
				wg.Wait()
				time.Sleep(10 * time.Minute)
				assert.Zero(t, p.ServerRateLimited(), "only the injected 429s")
				assert.Positive(t, p.RateLimited())
				for _, key := range p.Keys() {
					for _, m := range p.Messages(key) {
						assert.NotContains(t, m.Message.Status, "/", "no live status left behind in %s", m.Ref.ID)
						assert.NotEqual(t, "thinking...", m.Message.Status, "no placeholder left behind in %s", m.Ref.ID)
					}
				}
			})
		})
	}
}

// threadStarter is a platform whose first post into a thread conversation
// creates the thread on the parent channel.
type threadStarter struct {
	*bridgetest.Platform
	mu      sync.Mutex
	created map[string]bool
}

func (p *threadStarter) NeedsThread(key chat.ConversationKey) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.created[key.Thread]
}

func (p *threadStarter) Post(ctx context.Context, key chat.ConversationKey, msg chat.Message) (chat.MessageRef, error) {
	p.mu.Lock()
	p.created[key.Thread] = true
	p.mu.Unlock()
	return p.Platform.Post(ctx, key, msg)
}

// TestOutboxThreadCreationIsAParentWrite: a post that creates its thread
// also waits for a write of the parent channel's budget; later posts in the
// thread use the thread's budget only.
func TestOutboxThreadCreationIsAParentWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limits := bridgetest.SharedChannelLimits() // 4 writes per 5 s, burst 1
		limits.ThreadScope = true
		p := &threadStarter{Platform: bridgetest.NewPlatform("discord", limits), created: map[string]bool{}}
		o := outbox.New(p, outbox.Options{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); o.Run(ctx) }()
		defer func() { cancel(); <-done }()

		start := time.Now()
		var at []time.Duration
		for i := range 3 {
			key := discordKey("C1")
			key.Thread = "T" + strconv.Itoa(i)
			_, err := o.Post(ctx, key, chat.Message{Body: "placeholder"}, outbox.PrioHigh)
			require.NoError(t, err)
			at = append(at, time.Since(start))
		}
		assert.Equal(t, []time.Duration{0, 1250 * time.Millisecond, 2500 * time.Millisecond}, at,
			"each thread's creation takes a write of the parent channel")
		key := discordKey("C1")
		key.Thread = "T0"
		before := time.Now()
		_, err := o.Post(ctx, key, chat.Message{Body: "second"}, outbox.PrioHigh)
		require.NoError(t, err)
		assert.Equal(t, time.Duration(0), time.Since(before), "an existing thread's post does not touch the parent")
	})
}

// TestOutboxFinalNotBehindLiveEdits: one conversation whose status events
// (2 a second, for 40 s) outrun its real edit budget still has its final
// visible within 100 ms of done: live edits leave part of the burst to it.
func TestOutboxFinalNotBehindLiveEdits(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits chat.Limits
		key    chat.ConversationKey
		burst  int
	}{
		{"slack", bridgetest.WorkspaceLimits(), slackKey("C1"), 5},
		{"discord", bridgetest.SharedChannelLimits(), discordKey("C1"), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				limits := tc.limits
				limits.EditRate.Burst = tc.burst // as the adapters declare
				p := bridgetest.NewPlatform(tc.key.Platform, limits)
				r := startOutbox(t, p, 2*time.Second)
				lm := r.placeholder(tc.key)
				for i := range 80 {
					time.Sleep(500 * time.Millisecond)
					lm.Set(chat.Message{Status: "step " + strconv.Itoa(i+1)})
				}
				time.Sleep(500 * time.Millisecond)
				done := time.Now()
				_, err := lm.Finish(r.ctx, answer("final"), chat.Message{})
				require.NoError(t, err)
				edits := editsOf(p, lm.Ref())
				require.NotEmpty(t, edits)
				last := edits[len(edits)-1]
				assert.Equal(t, "final", last.Message.Body, "the final replaced the placeholder")
				assert.LessOrEqual(t, last.Time.Sub(done), 100*time.Millisecond, "the final is visible within 100 ms of done")
				assert.Greater(t, len(edits), 3, "status edits went on meanwhile")
				assert.Zero(t, p.ServerRateLimited())
			})
		})
	}
}

// TestOutboxGlobalBudgetInArrivalOrder: writes of different scopes that wait
// for the bot-wide budget are granted in the order they arrived (within a
// priority class), so an early write is not overtaken by later ones of other
// scopes while it waits.
func TestOutboxGlobalBudgetInArrivalOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limits := bridgetest.SharedChannelLimits()
		limits.GlobalRate = chat.Rate{Count: 10, Per: time.Second, Burst: 1}
		p := bridgetest.NewPlatform("discord", limits)
		r := startOutbox(t, p, 10*time.Second)
		const n = 30
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, err := r.o.Post(r.ctx, discordKey("C"+strconv.Itoa(i)), chat.Message{Body: strconv.Itoa(i)}, outbox.PrioHigh)
				assert.NoError(t, err)
			})
			synctest.Wait() // the next write arrives after this one waits
			if i%3 == 2 {
				time.Sleep(30 * time.Millisecond) // arrivals spread between grants
			}
		}
		wg.Wait()
		var order []string
		for _, rec := range p.Applied(bridgetest.OpPost) {
			order = append(order, rec.Message.Body)
		}
		want := make([]string, n)
		for i := range want {
			want[i] = strconv.Itoa(i)
		}
		assert.Equal(t, want, order, "the bot-wide budget grants writes of all scopes in arrival order")
		posts := recordTimes(p, bridgetest.OpPost)
		assert.LessOrEqual(t, maxInWindow(posts, time.Second), 10, "the bot-wide rate still holds")
	})
}

// TestOutboxThreadAndPlaceholderKeepArrivalOrder: a post that creates its
// thread takes the creation's place in arrival order at the bot-wide
// budget, so each mention's thread and placeholder go before the next
// mention's thread, not after every thread.
func TestOutboxThreadAndPlaceholderKeepArrivalOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limits := bridgetest.SharedChannelLimits()
		limits.ThreadScope = true
		limits.GlobalRate = chat.Rate{Count: 10, Per: time.Second, Burst: 1}
		p := &threadStarter{Platform: bridgetest.NewPlatform("discord", limits), created: map[string]bool{}}
		o := outbox.New(p, outbox.Options{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); o.Run(ctx) }()
		defer func() { cancel(); <-done }()

		const n = 5
		start := time.Now()
		at := make([]time.Duration, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				key := discordKey("C" + strconv.Itoa(i))
				key.Thread = "T" + strconv.Itoa(i)
				_, err := o.Post(ctx, key, chat.Message{Body: "placeholder"}, outbox.PrioHigh)
				assert.NoError(t, err)
				at[i] = time.Since(start)
			})
			synctest.Wait() // the next mention arrives after this one waits
		}
		wg.Wait()
		want := make([]time.Duration, n)
		for i := range want {
			want[i] = time.Duration(2*i+1) * 100 * time.Millisecond // thread, then its post
		}
		assert.Equal(t, want, at, "each placeholder follows its own thread's creation")
	})
}

// TestOutboxRetryKeepsArrivalOrder: a post retried after a 429 of its own
// scope keeps its place at the bot-wide budget: it goes before the writes
// of other scopes that arrived while it was on the wire.
func TestOutboxRetryKeepsArrivalOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limits := bridgetest.SharedChannelLimits()
		limits.EditRate.Burst = 4 // the refused write's channel has a token left for the retry
		limits.GlobalRate = chat.Rate{Count: 10, Per: time.Second, Burst: 1}
		p := bridgetest.NewPlatform("discord", limits)
		p.SetLatency(30 * time.Millisecond)
		p.Inject429(1, 50*time.Millisecond)
		r := startOutbox(t, p, 10*time.Second)
		const n = 5
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, err := r.o.Post(r.ctx, discordKey("C"+strconv.Itoa(i)), chat.Message{Body: strconv.Itoa(i)}, outbox.PrioHigh)
				assert.NoError(t, err)
			})
			synctest.Wait()
		}
		wg.Wait()
		var order []string
		for _, rec := range p.Applied(bridgetest.OpPost) {
			order = append(order, rec.Message.Body)
		}
		assert.Equal(t, []string{"0", "1", "2", "3", "4"}, order, "the refused write is retried first")
		assert.Equal(t, 1, r.metrics.limited("post"))
	})
}

// TestOutboxWithdrawnWriteAtBotWideBudget: a write withdrawn while it waits
// for the bot-wide budget does not hold back the next write of its scope.
func TestOutboxWithdrawnWriteAtBotWideBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limits := bridgetest.SharedChannelLimits()
		limits.EditRate.Burst = 4
		limits.GlobalRate = chat.Rate{Count: 1, Per: time.Second, Burst: 1}
		p := bridgetest.NewPlatform("discord", limits)
		r := startOutbox(t, p, 10*time.Second)
		_, err := r.o.Post(r.ctx, discordKey("C0"), chat.Message{Body: "first"}, outbox.PrioHigh)
		require.NoError(t, err) // the bot-wide token is spent until 1 s
		start := time.Now()

		wctx, withdraw := context.WithCancel(r.ctx)
		withdrawn := make(chan error, 1)
		go func() {
			_, err := r.o.Post(wctx, discordKey("C1"), chat.Message{Body: "withdrawn"}, outbox.PrioHigh)
			withdrawn <- err
		}()
		synctest.Wait()
		var at time.Duration
		var wg sync.WaitGroup
		wg.Go(func() {
			_, err := r.o.Post(r.ctx, discordKey("C1"), chat.Message{Body: "next"}, outbox.PrioHigh)
			assert.NoError(t, err)
			at = time.Since(start)
		})
		synctest.Wait()
		withdraw()
		require.ErrorIs(t, <-withdrawn, context.Canceled)
		wg.Wait()
		assert.Equal(t, time.Second, at, "the next write goes with the next bot-wide token")
	})
}

// TestOutboxReplaceWaitsInPlace: with the workspace's edit budget spent and
// a 429 on top, Finish would post its final elsewhere; Replace waits and
// edits every message in place, once each, and posts nothing.
func TestOutboxReplaceWaitsInPlace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		r := startOutbox(t, p, 0)
		const n = 12
		msgs := make([]*outbox.LiveMessage, n)
		for i := range msgs {
			msgs[i] = r.placeholder(slackKey(fmt.Sprint("C", i)))
		}
		posts := len(p.Applied(bridgetest.OpPost))
		p.Inject429(1, 5*time.Second)
		var wg sync.WaitGroup
		for i, lm := range msgs {
			wg.Go(func() {
				assert.NoError(t, lm.Replace(r.ctx, chat.Message{Kind: chat.KindNotice, Body: fmt.Sprint("notice ", i)}))
			})
		}
		wg.Wait()
		assert.Len(t, p.Applied(bridgetest.OpPost), posts, "nothing posted elsewhere")
		for i, lm := range msgs {
			assert.Equal(t, fmt.Sprint("notice ", i), p.Current(lm.Ref()).Body)
			assert.Len(t, editsOf(p, lm.Ref()), 1, "edited once")
		}
		_, err := msgs[0].Finish(r.ctx, answer("late"), chat.Message{})
		assert.Error(t, err, "a replaced message is finished")
	})
}
