package bolt

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
