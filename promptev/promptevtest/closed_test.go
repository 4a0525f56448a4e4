package promptevtest_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// TestStreamsClosedByClient: a stream whose client goes before done is
// counted, once; a stream read to its end, one the server cuts on purpose
// (FaultDisconnect) and one cut by Close are not.
func TestStreamsClosedByClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := promptevtest.NewInMemoryServer("pk-test")
		srv.AddAgent("a", promptevtest.Agent{Script: []promptevtest.Event{
			{Type: promptevtest.TypeProcessing, Output: "Working"},
			{Type: promptevtest.TypeDone, Output: "done", Delay: time.Minute},
		}})
		c := newInMemoryClient(t, srv, promptev.WithIdleTimeout(time.Hour))
		sess, err := c.Start(t.Context(), "a", promptev.StartOptions{Visitor: "v"})
		require.NoError(t, err)
		stream := func(ctx context.Context) *promptev.Stream {
			st, err := c.Stream(ctx, "a", sess.SessionToken, "q")
			require.NoError(t, err)
			ev, err := st.Next()
			require.NoError(t, err)
			require.Equal(t, promptevtest.TypeProcessing, ev.Type)
			return st
		}

		// Read to the end: not counted.
		st := stream(t.Context())
		ev, err := st.Next()
		require.NoError(t, err)
		assert.Equal(t, promptevtest.TypeDone, ev.Type)
		require.NoError(t, st.Close())
		synctest.Wait()
		assert.Zero(t, srv.StreamsClosedByClient())

		// The client cancels its request during the delay before done.
		ctx, cancel := context.WithCancel(t.Context())
		stream(ctx)
		cancel()
		synctest.Wait()
		assert.Equal(t, 1, srv.StreamsClosedByClient())

		// The client closes the stream during the delay before done.
		require.NoError(t, stream(t.Context()).Close())
		synctest.Wait()
		assert.Equal(t, 2, srv.StreamsClosedByClient())

		// The server drops the connection on purpose: not the client's doing.
		srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultDisconnect, AfterEvents: 1, Times: 1})
		st = stream(t.Context())
		_, err = st.Next()
		require.Error(t, err)
		_ = st.Close()
		synctest.Wait()
		assert.Equal(t, 2, srv.StreamsClosedByClient())

		// A stream stalled when the server closes: not counted either.
		srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultStall, AfterEvents: 1, Times: 1})
		st = stream(t.Context())
		srv.Close()
		_, err = st.Next()
		require.Error(t, err)
		_ = st.Close()
		c.CloseIdleConnections()
		assert.Equal(t, 2, srv.StreamsClosedByClient())
	})
}
