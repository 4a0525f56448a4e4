package bridge

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
)

func TestPacer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		b := &Bridge{life: ctx}
		var mu sync.Mutex
		var sent []string
		var at []time.Time
		limited := 1
		p := b.startPacer(slog.New(slog.DiscardHandler), time.Second, func(ctx context.Context, m chat.Message) error {
			mu.Lock()
			defer mu.Unlock()
			if m.Status == "rate limited" && limited > 0 {
				limited--
				return &chat.RateLimitError{RetryAfter: 3 * time.Second}
			}
			sent = append(sent, m.Status)
			at = append(at, time.Now())
			return nil
		})
		start := time.Now()
		p.set(chat.Message{Status: "one"})
		synctest.Wait()
		p.set(chat.Message{Status: "two"})
		p.set(chat.Message{Status: "three"}) // replaces two, unsent
		time.Sleep(1500 * time.Millisecond)
		p.set(chat.Message{Status: "rate limited"})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		mu.Lock()
		assert.Equal(t, []string{"one", "three", "rate limited"}, sent, "latest state wins; a refused state is sent again")
		assert.Equal(t, time.Duration(0), at[0].Sub(start))
		assert.Equal(t, time.Second, at[1].Sub(start), "one interval apart")
		assert.Equal(t, 5*time.Second, at[2].Sub(start), "after the refusal at 2 s, its 3 s retry-after")
		mu.Unlock()
		assert.Equal(t, 3, p.stop())
		p.set(chat.Message{Status: "after stop"})
		synctest.Wait()
		assert.Len(t, sent, 3, "nothing is sent after stop")
	})
}

func TestPacerStopCancelsTheCallInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		b := &Bridge{life: ctx}
		entered := make(chan struct{})
		p := b.startPacer(slog.New(slog.DiscardHandler), time.Second, func(ctx context.Context, m chat.Message) error {
			close(entered)
			<-ctx.Done() // a platform call that hangs
			return ctx.Err()
		})
		p.set(chat.Message{Status: "slow"})
		<-entered
		start := time.Now()
		require.Equal(t, 0, p.stop())
		assert.Zero(t, time.Since(start), "stop does not wait for the hanging call")
	})
}
