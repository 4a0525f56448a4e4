package promptev_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// openStream starts a session on the echo agent and streams query.
func openStream(t *testing.T, c *promptev.Client, ctx context.Context, query string) *promptev.Stream {
	t.Helper()
	sess, err := c.Start(ctx, "echo", promptev.StartOptions{})
	require.NoError(t, err)
	st, err := c.Stream(ctx, "echo", sess.SessionToken, query)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestStreamFaults(t *testing.T) {
	normal := []string{"thoughts:thinking", "processing:Searching Jira...", "done:echo q []"}
	tests := []struct {
		name    string
		faults  []promptevtest.Fault
		want    []string
		wantErr error
	}{
		{name: "LF framing", faults: []promptevtest.Fault{{Kind: promptevtest.FaultFraming, Framing: promptevtest.FramingLF}}, want: normal, wantErr: io.EOF},
		{name: "CRLF framing", faults: []promptevtest.Fault{{Kind: promptevtest.FaultFraming, Framing: promptevtest.FramingCRLF}}, want: normal, wantErr: io.EOF},
		{name: "CR framing", faults: []promptevtest.Fault{{Kind: promptevtest.FaultFraming, Framing: promptevtest.FramingCR}}, want: normal, wantErr: io.EOF},
		{name: "slow drip with CR", faults: []promptevtest.Fault{{Kind: promptevtest.FaultSlowDrip}, {Kind: promptevtest.FaultFraming, Framing: promptevtest.FramingCR}}, want: normal, wantErr: io.EOF},
		{name: "slow drip with CRLF", faults: []promptevtest.Fault{{Kind: promptevtest.FaultSlowDrip}, {Kind: promptevtest.FaultFraming, Framing: promptevtest.FramingCRLF}}, want: normal, wantErr: io.EOF},
		{name: "malformed line passes as text", faults: []promptevtest.Fault{{Kind: promptevtest.FaultMalformed, AfterEvents: 1}},
			want: []string{"thoughts:thinking", `message:{"type": "thoughts", "output": "unterminated`, "processing:Searching Jira...", "done:echo q []"}, wantErr: io.EOF},
		{name: "EOF without done", faults: []promptevtest.Fault{{Kind: promptevtest.FaultEOFWithoutDone}}, want: normal[:2], wantErr: promptev.ErrIncompleteStream},
		{name: "disconnect mid-event", faults: []promptevtest.Fault{{Kind: promptevtest.FaultDisconnect, AfterEvents: 2}}, want: normal[:2], wantErr: promptev.ErrIncompleteStream},
		{name: "disconnect before any event", faults: []promptevtest.Fault{{Kind: promptevtest.FaultDisconnect}}, wantErr: promptev.ErrIncompleteStream},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := setup(t)
			for _, f := range tt.faults {
				srv.InjectFault(f)
			}
			evs, err := drain(t, openStream(t, c, t.Context(), "q"))
			assert.Equal(t, tt.want, outputs(evs))
			require.ErrorIs(t, err, tt.wantErr)
			if tt.wantErr != io.EOF {
				var ne *promptev.NetworkError
				assert.ErrorAs(t, err, &ne)
			}
		})
	}
}

func TestStreamHugeEvent(t *testing.T) {
	sizes := map[promptevtest.Framing]int{promptevtest.FramingLF: 5 << 20, promptevtest.FramingCRLF: 2 << 20, promptevtest.FramingCR: 2 << 20}
	for framing, size := range sizes {
		srv, c := setup(t)
		srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultHugeEvent, Size: size, AfterEvents: 1})
		srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultFraming, Framing: framing})
		evs, err := drain(t, openStream(t, c, t.Context(), "q"))
		require.ErrorIs(t, err, io.EOF)
		require.Len(t, evs, 4)
		assert.Equal(t, "thoughts", evs[1].Type)
		assert.Len(t, evs[1].Output, size)
		assert.True(t, strings.HasPrefix(evs[1].Output, "0123456789abcdef0123"))
		assert.Equal(t, "done", evs[3].Type)
	}
}

func TestStreamEventOverCap(t *testing.T) {
	srv, c := setup(t, promptev.WithMaxEventSize(1<<20))
	srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultHugeEvent, Size: 2 << 20})
	evs, err := drain(t, openStream(t, c, t.Context(), "q"))
	assert.Empty(t, evs)
	require.ErrorIs(t, err, promptev.ErrEventTooLarge)
}

func TestStreamStallHitsIdleTimeout(t *testing.T) {
	srv, c := setup(t, promptev.WithIdleTimeout(100*time.Millisecond))
	srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultStall, AfterEvents: 1})
	st := openStream(t, c, t.Context(), "q")
	ev, err := st.Next()
	require.NoError(t, err)
	assert.Equal(t, "thinking", ev.Output)
	_, err = st.Next()
	require.ErrorIs(t, err, promptev.ErrStreamIdle)
	var ne *promptev.NetworkError
	require.ErrorAs(t, err, &ne)
}

// TestStreamCancelMidStream cancels the context while Next waits on a
// stalled stream: Next returns promptly and no goroutine is left behind.
func TestStreamCancelMidStream(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv, c := setup(t)
	srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultStall, AfterEvents: 1})
	ctx, cancel := context.WithCancel(t.Context())
	st := openStream(t, c, ctx, "q")
	_, err := st.Next()
	require.NoError(t, err)

	errc := make(chan error, 1)
	go func() {
		_, err := st.Next()
		errc <- err
	}()
	cancel()
	select {
	case err = <-errc:
	case <-time.After(10 * time.Second):
		t.Fatal("Next did not return after cancel")
	}
	require.ErrorIs(t, err, context.Canceled)
	var ne *promptev.NetworkError
	require.ErrorAs(t, err, &ne)
	require.NoError(t, st.Close())
	srv.Close()
}

func TestStreamCloseMidStream(t *testing.T) {
	before := runtime.NumGoroutine()
	srv, c := setup(t)
	srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultStall, AfterEvents: 1})
	st := openStream(t, c, t.Context(), "q")
	_, err := st.Next()
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		_, err := st.Next()
		errc <- err
	}()
	require.NoError(t, st.Close())
	require.NoError(t, st.Close())
	err = <-errc
	require.ErrorIs(t, err, promptev.ErrStreamClosed)
	srv.Close()
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+1 }, 10*time.Second, 5*time.Millisecond)
}

// TestStreamDeliversEventsAsTheyArrive reads the first event while the server
// still holds the rest back for an hour, then closes early.
func TestStreamDeliversEventsAsTheyArrive(t *testing.T) {
	srv, c := setup(t)
	srv.AddAgent("long", promptevtest.Agent{Script: []promptevtest.Event{
		{Type: "thoughts", Output: "t"},
		{Type: "done", Output: "d", Delay: time.Hour},
	}})
	sess, err := c.Start(t.Context(), "long", promptev.StartOptions{})
	require.NoError(t, err)
	st, err := c.Stream(t.Context(), "long", sess.SessionToken, "q")
	require.NoError(t, err)
	_, err = st.Next()
	require.NoError(t, err)
	require.NoError(t, st.Close())
	_, err = st.Next()
	require.True(t, errors.Is(err, promptev.ErrStreamClosed))
	// srv.Close in cleanup returns only when the handler saw the client go.
}

func TestStreamJSONAnswerIsAnError(t *testing.T) {
	_, c := setup(t, promptev.WithEndpoints(promptev.Endpoints{Stream: "/api/sdk/v1/agent/{agent_id}/start"}))
	_, err := c.Stream(t.Context(), "echo", "tok", "q")
	var base *promptev.Error
	require.ErrorAs(t, err, &base)
	assert.Equal(t, 200, base.StatusCode)
	assert.Contains(t, base.ResponseText, "session_token")
	assert.Contains(t, err.Error(), "expected text/event-stream")
}
