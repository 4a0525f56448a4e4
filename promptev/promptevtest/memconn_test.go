package promptevtest_test

import (
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// newInMemoryClient returns a promptev client for an in-memory server.
func newInMemoryClient(t *testing.T, srv *promptevtest.Server, opts ...promptev.Option) *promptev.Client {
	t.Helper()
	c, err := promptev.New("pk-test", append([]promptev.Option{
		promptev.WithBaseURL(srv.URL), promptev.WithHTTPClient(srv.Client()),
	}, opts...)...)
	require.NoError(t, err)
	return c
}

// A script with minutes of delays completes at once in real time inside a
// synctest bubble, and its events arrive exactly as far apart in fake time
// as the script says.
func TestInMemoryServerRunsOnFakeTime(t *testing.T) {
	realStart := time.Now()
	synctest.Test(t, func(t *testing.T) {
		srv := promptevtest.NewInMemoryServer("pk-test")
		defer srv.Close()
		srv.AddAgent("slow", promptevtest.Agent{
			Script: []promptevtest.Event{
				{Type: promptevtest.TypeThoughts, Output: "reading {{query}}", Delay: 2 * time.Minute},
				{Type: promptevtest.TypeProcessing, Output: "Searching Jira", Delay: 3 * time.Minute},
				{Type: promptevtest.TypeDone, Output: "answer to {{query}}", Delay: 5 * time.Minute},
			},
		})
		assert.Equal(t, "http://promptevtest.invalid", srv.URL)
		c := newInMemoryClient(t, srv, promptev.WithIdleTimeout(time.Hour))
		defer c.CloseIdleConnections()

		sess, err := c.Start(t.Context(), "slow", promptev.StartOptions{Visitor: "v1"})
		require.NoError(t, err)
		// Two turns on the same connection pool: keep-alive works over pipes.
		for _, query := range []string{"q1", "q2"} {
			start := time.Now()
			st, err := c.Stream(t.Context(), "slow", sess.SessionToken, query)
			require.NoError(t, err)
			var (
				at    []time.Duration
				types []string
				last  string
			)
			for {
				ev, err := st.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				at = append(at, time.Since(start))
				types = append(types, ev.Type)
				last = ev.Output
			}
			require.NoError(t, st.Close())
			assert.Equal(t, []string{"thoughts", "processing", "done"}, types)
			assert.Equal(t, []time.Duration{2 * time.Minute, 5 * time.Minute, 10 * time.Minute}, at,
				"events spaced exactly by the script's delays")
			assert.Equal(t, "answer to "+query, last)
		}
		require.Len(t, srv.Requests(), 3)
	})
	assert.Less(t, time.Since(realStart), 10*time.Second, "20 minutes of script in (almost) no real time")
}

// The client's timeouts run on fake time too: a stalled stream fails with
// ErrStreamIdle exactly after the idle timeout, and Close ends the stall.
func TestInMemoryServerClientIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := promptevtest.NewInMemoryServer("pk-test")
		defer srv.Close()
		srv.AddAgent("a", promptevtest.Agent{Script: []promptevtest.Event{
			{Type: promptevtest.TypeProcessing, Output: "Working"},
			{Type: promptevtest.TypeDone, Output: "never sent"},
		}})
		srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultStall, AfterEvents: 1, Times: 1})
		c := newInMemoryClient(t, srv) // default idle timeout: 90 s
		defer c.CloseIdleConnections()
		sess, err := c.Start(t.Context(), "a", promptev.StartOptions{})
		require.NoError(t, err)
		st, err := c.Stream(t.Context(), "a", sess.SessionToken, "go")
		require.NoError(t, err)
		ev, err := st.Next()
		require.NoError(t, err)
		assert.Equal(t, "Working", ev.Output)
		start := time.Now()
		_, err = st.Next()
		require.ErrorIs(t, err, promptev.ErrStreamIdle)
		assert.Equal(t, promptev.DefaultIdleTimeout, time.Since(start))
	})
}

// Close ends streams that are still open (stalled or delayed) and leaves no
// goroutine behind, inside a bubble (synctest.Test fails otherwise).
func TestInMemoryServerCloseEndsOpenStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := promptevtest.NewInMemoryServer("pk-test")
		srv.AddAgent("a", promptevtest.Agent{Script: []promptevtest.Event{
			{Type: promptevtest.TypeDone, Output: "late", Delay: 24 * time.Hour},
		}})
		c := newInMemoryClient(t, srv, promptev.WithIdleTimeout(48*time.Hour))
		sess, err := c.Start(t.Context(), "a", promptev.StartOptions{})
		require.NoError(t, err)
		st, err := c.Stream(t.Context(), "a", sess.SessionToken, "go")
		require.NoError(t, err)
		errc := make(chan error, 1)
		go func() {
			_, err := st.Next()
			errc <- err
		}()
		synctest.Wait()
		start := time.Now()
		srv.Close()
		require.ErrorIs(t, <-errc, promptev.ErrIncompleteStream)
		assert.Zero(t, time.Since(start), "no fake time passed")

		// After Close, requests fail at once with a network error.
		_, err = c.Start(t.Context(), "a", promptev.StartOptions{})
		var ne *promptev.NetworkError
		require.ErrorAs(t, err, &ne)
		c.CloseIdleConnections()
	})
}

// The in-memory server also works in real time, outside any bubble.
func TestInMemoryServerOutsideBubble(t *testing.T) {
	srv := promptevtest.NewInMemoryServer("pk-test")
	defer srv.Close()
	srv.AddAgent("a", promptevtest.Agent{})
	c := newInMemoryClient(t, srv)
	defer c.CloseIdleConnections()
	res, err := c.Trigger(t.Context(), "a", "hello", promptev.TriggerOptions{})
	require.NoError(t, err)
	assert.Equal(t, "You said: hello", res.Response)

}
