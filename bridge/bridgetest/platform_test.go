package bridgetest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

var testKey = chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: "C1", Thread: "1.0"}

func TestPlatformConformance(t *testing.T) {
	tests := []struct {
		name   string
		limits chat.Limits
		opts   []bridgetest.PlatformOption
	}{
		{"slack-like", bridgetest.WorkspaceLimits(), []bridgetest.PlatformOption{bridgetest.WithServerLimits(bridgetest.WorkspaceServerLimits()...)}},
		{"discord-like", bridgetest.SharedChannelLimits(), []bridgetest.PlatformOption{bridgetest.WithServerLimits(bridgetest.SharedChannelServerLimits()...)}},
		{"without buttons", bridgetest.WorkspaceLimits(), []bridgetest.PlatformOption{bridgetest.WithoutButtons()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bridgetest.RunPlatformConformance(t, func(t *testing.T) bridgetest.Harness {
				p := bridgetest.NewPlatform("slack", tc.limits, tc.opts...)
				return bridgetest.Harness{
					Platform:  p,
					Key:       testKey,
					Inject429: func(d time.Duration) { p.Inject429(1, d) },
					Observed: func(ref chat.MessageRef) (string, bool) {
						_, ok := p.Lookup(ref)
						return p.Text(ref), ok
					},
					ObservedButtons:   p.ButtonCount,
					ButtonActions:     p.Buttons,
					ObservedEphemeral: p.Ephemerals,
				}
			})
		})
	}
}

func TestPlatformRecordsAndRejects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limits := bridgetest.WorkspaceLimits()
		limits.MaxMessageChars = 5
		p := bridgetest.NewPlatform("slack", limits)
		ctx := context.Background()

		t0 := time.Now()
		ref, err := p.Post(ctx, testKey, chat.Message{Body: "héllo"})
		require.NoError(t, err, "5 runes fit a 5-rune limit")
		assert.Equal(t, t0, ref.Posted)
		assert.Equal(t, testKey, ref.Key)

		_, err = p.Post(ctx, testKey, chat.Message{Body: "héllo!"})
		require.ErrorIs(t, err, bridgetest.ErrTooLong)
		require.ErrorIs(t, p.Edit(ctx, ref, chat.Message{Body: "toolong"}), bridgetest.ErrTooLong)

		time.Sleep(time.Second)
		require.NoError(t, p.Edit(ctx, ref, chat.Message{Body: "bye"}))
		require.ErrorIs(t, p.Edit(ctx, chat.MessageRef{Key: testKey, ID: "nope"}, chat.Message{}), bridgetest.ErrMessageNotFound)

		recs := p.Records()
		require.Len(t, recs, 5)
		assert.Equal(t, bridgetest.OpPost, recs[0].Op)
		assert.NoError(t, recs[0].Err)
		assert.Error(t, recs[1].Err)
		assert.Equal(t, t0.Add(time.Second), recs[3].Time, "records carry their time")
		assert.Equal(t, "bye", p.Current(ref).Body)
		assert.Equal(t, "bye", p.Text(ref))
		posted, ok := p.Lookup(ref)
		require.True(t, ok)
		assert.Equal(t, 1, posted.Edits)
		assert.Len(t, p.Applied(bridgetest.OpEdit), 1)
		assert.Len(t, p.Messages(testKey), 1)
		assert.Equal(t, []chat.ConversationKey{testKey}, p.Keys())

		require.NoError(t, p.Delete(ctx, ref))
		assert.Empty(t, p.Text(ref))
		assert.ErrorIs(t, p.Delete(ctx, ref), bridgetest.ErrMessageNotFound)
	})
}

// LoseNextPostResponse posts the message but answers the error, once.
func TestPlatformLoseNextPostResponse(t *testing.T) {
	p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
	ctx := context.Background()
	lost := errors.New("timeout")
	p.LoseNextPostResponse(lost)
	ref, err := p.Post(ctx, testKey, chat.Message{Body: "shown"})
	require.ErrorIs(t, err, lost)
	assert.Zero(t, ref)
	msgs := p.Messages(testKey)
	require.Len(t, msgs, 1, "the message was posted all the same")
	assert.Equal(t, "shown", p.Text(msgs[0].Ref))
	ref, err = p.Post(ctx, testKey, chat.Message{Body: "next"})
	require.NoError(t, err)
	assert.Equal(t, "next", p.Text(ref))
}

// WithoutRecords keeps the messages and the server limits, not the log.
func TestPlatformWithoutRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits(),
			bridgetest.WithoutRecords(), bridgetest.WithServerLimits(bridgetest.ServerLimit{Op: bridgetest.OpEdit, Max: 1, Window: time.Minute}))
		ctx := context.Background()
		ref, err := p.Post(ctx, testKey, chat.Message{Body: "hello"})
		require.NoError(t, err)
		require.NoError(t, p.Edit(ctx, ref, chat.Message{Body: "bye"}))
		var rl *chat.RateLimitError
		require.ErrorAs(t, p.Edit(ctx, ref, chat.Message{Body: "again"}), &rl, "the server limit still holds")
		assert.Equal(t, "bye", p.Text(ref))
		posted, ok := p.Lookup(ref)
		require.True(t, ok)
		assert.Equal(t, 1, posted.Edits)
		assert.Len(t, p.Messages(testKey), 1)
		assert.Empty(t, p.Records())
		assert.Empty(t, p.Applied(bridgetest.OpEdit))
	})
}

func TestPlatformInjection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		ctx := context.Background()

		p.Inject429(2, 3*time.Second)
		for range 2 {
			_, err := p.Post(ctx, testKey, chat.Message{Body: "x"})
			var rl *chat.RateLimitError
			require.True(t, errors.As(err, &rl))
			assert.Equal(t, 3*time.Second, rl.RetryAfter)
		}
		ref, err := p.Post(ctx, testKey, chat.Message{Body: "x"})
		require.NoError(t, err, "only n requests are refused")
		assert.Equal(t, 2, p.RateLimited())
		assert.Zero(t, p.ServerRateLimited(), "injected 429s are not server limits")

		boom := errors.New("boom")
		p.FailNext(boom)
		require.ErrorIs(t, p.Edit(ctx, ref, chat.Message{Body: "y"}), boom)
		require.NoError(t, p.Edit(ctx, ref, chat.Message{Body: "y"}))

		p.SetLatency(2 * time.Second)
		start := time.Now()
		require.NoError(t, p.Edit(ctx, ref, chat.Message{Body: "z"}))
		assert.Equal(t, 2*time.Second, time.Since(start), "latency is applied")

		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		require.ErrorIs(t, p.Edit(short, ref, chat.Message{Body: "w"}), context.DeadlineExceeded)
		assert.Equal(t, "z", p.Current(ref).Body, "a cancelled request is not applied")
	})
}

func TestPlatformServerLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("discord", bridgetest.SharedChannelLimits(),
			bridgetest.WithServerLimits(bridgetest.SharedChannelServerLimits()...))
		ctx := context.Background()
		other := testKey
		other.Channel = "C2"
		start := time.Now()
		var refs []chat.MessageRef
		for range 3 {
			ref, err := p.Post(ctx, testKey, chat.Message{Body: "x"})
			require.NoError(t, err)
			refs = append(refs, ref)
		}
		time.Sleep(time.Second)
		require.NoError(t, p.Edit(ctx, refs[0], chat.Message{Body: "y"}))
		require.NoError(t, p.Edit(ctx, refs[1], chat.Message{Body: "y"}))
		err := p.Edit(ctx, refs[2], chat.Message{Body: "y"})
		var rl *chat.RateLimitError
		require.True(t, errors.As(err, &rl), "6th write in 5 s on one channel: %v", err)
		assert.Equal(t, time.Until(start.Add(5*time.Second)), rl.RetryAfter, "retry when the window frees")
		_, err = p.Post(ctx, other, chat.Message{Body: "x"})
		require.NoError(t, err, "another channel has its own limit")
		assert.Equal(t, 1, p.ServerRateLimited())
		assert.True(t, p.Records()[5].ServerLimited)

		time.Sleep(rl.RetryAfter)
		require.NoError(t, p.Edit(ctx, refs[2], chat.Message{Body: "y"}), "allowed after Retry-After")
	})
}

func TestPlatformSlackServerLimitPerWorkspace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits(),
			bridgetest.WithServerLimits(bridgetest.WorkspaceServerLimits()...))
		ctx := context.Background()
		var refs []chat.MessageRef
		for i := range 10 {
			k := testKey
			k.Channel = "C" + strings.Repeat("x", i)
			ref, err := p.Post(ctx, k, chat.Message{Body: "x"})
			require.NoError(t, err)
			refs = append(refs, ref)
		}
		for i := range 50 {
			require.NoError(t, p.Edit(ctx, refs[i%10], chat.Message{Body: "y"}), "edit %d", i)
		}
		err := p.Edit(ctx, refs[0], chat.Message{Body: "z"})
		var rl *chat.RateLimitError
		require.True(t, errors.As(err, &rl), "51st edit in a minute across channels of one workspace")
		assert.Equal(t, time.Minute, rl.RetryAfter)
	})
}

func TestPlatformAbilitiesAndWaitFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		assert.True(t, p.ButtonsSupported())
		assert.False(t, bridgetest.NewPlatform("x", chat.Limits{}, bridgetest.WithoutButtons()).ButtonsSupported())
		ctx := context.Background()
		require.NoError(t, p.Ephemeral(ctx, testKey, "U1", "not allowed"))
		require.NoError(t, p.SetStatus(ctx, testKey, "is thinking..."))
		assert.Equal(t, []string{"not allowed"}, p.Ephemerals("U1"))
		assert.Empty(t, p.Ephemerals("U2"))

		done := make(chan error, 1)
		go func() {
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			done <- p.WaitFor(wctx, func() bool { return len(p.Messages(testKey)) == 2 })
		}()
		time.Sleep(time.Second)
		_, err := p.Post(ctx, testKey, chat.Message{Body: "one"})
		require.NoError(t, err)
		time.Sleep(time.Second)
		_, err = p.Post(ctx, testKey, chat.Message{Body: "two"})
		require.NoError(t, err)
		require.NoError(t, <-done)

		wctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		assert.ErrorIs(t, p.WaitFor(wctx, func() bool { return false }), context.DeadlineExceeded)
	})
}

func TestRender(t *testing.T) {
	tests := []struct {
		name string
		msg  chat.Message
		want string
	}{
		{"status and steps", chat.Message{Status: "Searching", Thought: "hmm", Steps: []chat.Step{{Text: "a", Done: true}, {Text: "b"}}},
			"Searching\n_hmm_\n✓ a\n… b"},
		{"body with ping", chat.Message{Body: "hi @everyone"}, "hi @\u200beveryone"},
		{"pending card", chat.Message{Approval: &chat.ApprovalCard{Tool: "t", Description: "d", State: chat.ApprovalPending}},
			"Tool: t\nd\n[Approve] [Deny]"},
		{"denied card", chat.Message{Approval: &chat.ApprovalCard{Description: "d", State: chat.ApprovalDenied, DecidedBy: "Ana"}},
			"d\nDenied by Ana"},
		{"expired card", chat.Message{Approval: &chat.ApprovalCard{Description: "d", State: chat.ApprovalExpired}}, "d\nExpired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, bridgetest.Render(tc.msg))
		})
	}
}

func TestPlatformPostHook(t *testing.T) {
	type call struct {
		stage   bridgetest.PostStage
		body    string
		ref     string
		visible int // messages in the conversation when the hook ran
	}
	var (
		calls []call
		p     *bridgetest.Platform
	)
	failed := errors.New("boom")
	p = bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits(), bridgetest.WithPostHook(
		func(stage bridgetest.PostStage, key chat.ConversationKey, msg chat.Message, ref chat.MessageRef) {
			calls = append(calls, call{stage: stage, body: msg.Body, ref: ref.ID, visible: len(p.Messages(key))})
			if stage == bridgetest.BeforePost && msg.Body == "fail" {
				p.FailNext(failed) // the hook runs before the failures are applied
			}
		}))
	ctx := context.Background()
	ref, err := p.Post(ctx, testKey, chat.Message{Body: "one"})
	require.NoError(t, err)
	_, err = p.Post(ctx, testKey, chat.Message{Body: "fail"})
	require.ErrorIs(t, err, failed)
	assert.Equal(t, []call{
		{stage: bridgetest.BeforePost, body: "one", visible: 0},
		{stage: bridgetest.AfterPost, body: "one", ref: ref.ID, visible: 1},
		{stage: bridgetest.BeforePost, body: "fail", visible: 1},
	}, calls, "no AfterPost for a refused post")
}
