package discord

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/discord/discordfake"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
)

// TestRESTLimiterSharedByReplicas: three replicas' transports drawing from
// one shared budget send no more in any second than one transport, a
// global 429 met by one pauses the others, and typing leaves the shared
// reserve; without the store, each meters itself.
func TestRESTLimiterSharedByReplicas(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := bridgetest.NewMemBudgets()
		var ls [3]*restLimiter
		for i := range ls {
			ls[i] = newTestLimiter(io.Discard, nil)
			ls[i].shared = shared
		}
		var mu sync.Mutex
		var times []time.Time
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() {
				for j := range 100 {
					require.NoError(t, ls[i].wait(context.Background(), "k"+strconv.Itoa(j%7)))
					mu.Lock()
					times = append(times, time.Now())
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		assert.LessOrEqual(t, discordfake.MaxPerWindow(times, time.Second), restRate+restBurst-1, "three replicas within one budget")

		time.Sleep(time.Second) // the bucket is full again
		ls[0].observe("POST", "/channels/{id}/messages", "channel 1", answer(429, nil), true, 2*time.Second)
		start := time.Now()
		require.NoError(t, ls[1].wait(context.Background(), "GET /users/@me"))
		assert.Equal(t, 2*time.Second, time.Since(start), "another replica waits for the global pause")

		time.Sleep(time.Second)
		require.NoError(t, ls[2].wait(context.Background(), "k"))
		assert.False(t, ls[0].tryTake(typingReserve), "typing leaves the last shared token to other calls")

		shared.FailWith(errors.New("connection refused"))
		time.Sleep(time.Second)
		assert.True(t, ls[0].tryTake(typingReserve), "without the store, each replica meters itself")
		require.NoError(t, ls[1].wait(context.Background(), "k"))
	})
}
