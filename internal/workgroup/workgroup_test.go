package workgroup

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGoRunsAndWaitWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		var done atomic.Int32
		for range 10 {
			require.True(t, g.Go(func() {
				time.Sleep(time.Second)
				done.Add(1)
			}))
		}
		g.Close()
		g.Wait()
		assert.Equal(t, int32(10), done.Load(), "Wait returns after every goroutine")
	})
}

func TestGoRefusesAfterClose(t *testing.T) {
	var g Group
	assert.False(t, g.Closed())
	g.Close()
	assert.True(t, g.Closed())
	ran := false
	assert.False(t, g.Go(func() { ran = true }), "closed groups refuse work")
	g.Close() // a second Close is harmless
	g.Wait()
	assert.False(t, ran, "refused work never runs")
}

func TestCloseDoesNotWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		release := make(chan struct{})
		require.True(t, g.Go(func() { <-release }))
		g.Close() // returns although the goroutine is blocked
		waited := make(chan struct{})
		go func() {
			g.Wait()
			close(waited)
		}()
		synctest.Wait()
		select {
		case <-waited:
			t.Fatal("Wait returned while a goroutine was running")
		default:
		}
		close(release)
		<-waited
	})
}

// TestNestedGoDuringClose starts work from inside the group's goroutines
// while another goroutine closes and waits: every Go either runs its f
// before Wait returns or reports false, and -race sees no Add racing Wait.
func TestNestedGoDuringClose(t *testing.T) {
	for range 50 {
		var g Group
		var started, ran atomic.Int32
		var spawn func(depth int)
		spawn = func(depth int) {
			if depth == 0 {
				return
			}
			for range 3 {
				f := func() {
					ran.Add(1)
					spawn(depth - 1)
				}
				if g.Go(f) {
					started.Add(1)
				}
			}
		}
		require.True(t, g.Go(func() { ran.Add(1); spawn(4) }))
		started.Add(1)
		g.Close()
		g.Wait()
		assert.Equal(t, started.Load(), ran.Load(), "every accepted f ran before Wait returned")
		assert.False(t, g.Go(func() {}))
	}
}
