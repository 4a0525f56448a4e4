package promptev

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pipeStream returns a Stream reading from a pipe the test writes to.
func pipeStream(t *testing.T, idle time.Duration) (*Stream, *io.PipeWriter) {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	s := newStream(ctx, pr, func() {
		cancel()
		_ = pr.CloseWithError(context.Canceled)
	}, idle, 1<<20)
	return s, pw
}

func TestStreamIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, pw := pipeStream(t, 5*time.Second)
		defer s.Close()
		go func() {
			// A slow drip: one byte per second keeps the stream alive.
			for _, b := range []byte("data: {\"type\":\"thoughts\",\"output\":\"slow\"}\n\n") {
				time.Sleep(time.Second)
				if _, err := pw.Write([]byte{b}); err != nil {
					return
				}
			}
			// Then silence (a stall).
		}()
		start := time.Now()
		ev, err := s.Next()
		require.NoError(t, err)
		assert.Equal(t, "slow", ev.Output)
		assert.Greater(t, time.Since(start), 40*time.Second, "the drip took longer than the idle timeout in total")

		stalled := time.Now()
		_, err = s.Next()
		require.ErrorIs(t, err, ErrStreamIdle)
		var ne *NetworkError
		require.ErrorAs(t, err, &ne)
		var base *Error
		require.ErrorAs(t, err, &base)
		assert.Equal(t, 5*time.Second, time.Since(stalled))
		_, err2 := s.Next()
		assert.Equal(t, err, err2, "errors are sticky")
	})
}

func TestStreamTerminalAndEOF(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		types   []string
		wantErr error
	}{
		{name: "done then EOF", in: "data: {\"type\":\"thoughts\",\"output\":\"t\"}\n\ndata: {\"type\":\"done\",\"output\":\"d\"}\n\n", types: []string{"thoughts", "done"}, wantErr: io.EOF},
		{name: "error event is an event", in: "data: {\"type\":\"error\",\"output\":\"bad\"}\n\n", types: []string{"error"}, wantErr: io.EOF},
		{name: "approval ends the stream", in: "data: {\"type\":\"approval_required\",\"output\":\"ok?\"}\n\ndata: {\"type\":\"done\"}\n\n", types: []string{"approval_required"}, wantErr: io.EOF},
		{name: "DONE after done", in: "data: {\"type\":\"done\",\"output\":\"d\"}\n\ndata: [DONE]\n\n", types: []string{"done"}, wantErr: io.EOF},
		{name: "EOF without done", in: "data: {\"type\":\"thoughts\",\"output\":\"t\"}\n\n", types: []string{"thoughts"}, wantErr: ErrIncompleteStream},
		{name: "DONE without done", in: "data: {\"type\":\"thoughts\",\"output\":\"t\"}\n\ndata: [DONE]\n\n", types: []string{"thoughts"}, wantErr: ErrIncompleteStream},
		{name: "done cut before blank line", in: "data: {\"type\":\"done\",\"output\":\"d\"}\n", wantErr: ErrIncompleteStream},
		{name: "empty body", in: "", wantErr: ErrIncompleteStream},
		{name: "type from SSE event", in: "event: done\ndata: plain text answer\n\n", types: []string{"done"}, wantErr: io.EOF},
		{name: "unknown types pass", in: "data: {\"type\":\"usage\",\"tokens\":3}\n\ndata: {\"type\":\"done\"}\n\n", types: []string{"usage", "done"}, wantErr: io.EOF},
		{name: "malformed json passes as text", in: "data: {\"type\": \"thoughts\", \"output\n\ndata: {\"type\":\"done\"}\n\n", types: []string{"message", "done"}, wantErr: io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			closed := false
			s := newStream(t.Context(), io.NopCloser(strings.NewReader(tt.in)), func() { closed = true }, time.Minute, 1<<20)
			var types []string
			var err error
			for {
				var ev AgentEvent
				ev, err = s.Next()
				if err != nil {
					break
				}
				types = append(types, ev.Type)
			}
			assert.Equal(t, tt.types, types)
			assert.ErrorIs(t, err, tt.wantErr)
			if !errors.Is(err, io.EOF) {
				var ne *NetworkError
				assert.ErrorAs(t, err, &ne)
			}
			assert.True(t, closed, "the request is released when the stream ends")
			_, again := s.Next()
			assert.ErrorIs(t, again, tt.wantErr)
			assert.NoError(t, s.Close())
		})
	}
}

func TestStreamEventTooLarge(t *testing.T) {
	in := "data: " + strings.Repeat("x", 2000) + "\n\n"
	s := newStream(t.Context(), io.NopCloser(strings.NewReader(in)), func() {}, time.Minute, 1000)
	_, err := s.Next()
	require.ErrorIs(t, err, ErrEventTooLarge)
	var base *Error
	require.ErrorAs(t, err, &base)
	assert.Contains(t, err.Error(), "1000 bytes")
}

func TestStreamCloseConcurrentWithNext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, pw := pipeStream(t, time.Hour)
		defer pw.Close()
		errc := make(chan error, 1)
		go func() {
			_, err := s.Next()
			errc <- err
		}()
		synctest.Wait() // Next is blocked reading
		require.NoError(t, s.Close())
		require.NoError(t, s.Close(), "Close twice is fine")
		err := <-errc
		assert.ErrorIs(t, err, ErrStreamClosed)
		_, err = s.Next()
		assert.ErrorIs(t, err, ErrStreamClosed)
	})
}

func TestStreamCloseAfterFinishKeepsEOF(t *testing.T) {
	s := newStream(t.Context(), io.NopCloser(strings.NewReader("data: {\"type\":\"done\"}\n\n")), func() {}, time.Minute, 1<<20)
	_, err := s.Next()
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.Next()
	assert.ErrorIs(t, err, io.EOF)
}

func TestDecodeEvent(t *testing.T) {
	tests := []struct {
		name, sseType, data string
		want                AgentEvent
	}{
		{name: "plain", data: `{"type":"done","output":"hi"}`, want: AgentEvent{Type: "done", Output: "hi"}},
		{name: "approval", data: `{"type":"approval_required","output":"ok?","tool":"jira","arguments":{"a":1},"approval_id":"ap1"}`,
			want: AgentEvent{Type: "approval_required", Output: "ok?", Tool: "jira", Arguments: json.RawMessage(`{"a":1}`), ApprovalID: "ap1"}},
		{name: "numeric approval id", data: `{"type":"approval_required","output":"ok?","approval_id":42}`,
			want: AgentEvent{Type: "approval_required", Output: "ok?", ApprovalID: "42"}},
		{name: "object output", data: `{"type":"processing","output":{"step":"x"}}`, want: AgentEvent{Type: "processing", Output: `{"step":"x"}`}},
		{name: "null fields", data: `{"type":"done","output":null,"arguments":null}`, want: AgentEvent{Type: "done"}},
		{name: "missing type uses SSE event", sseType: "thoughts", data: `{"output":"hm"}`, want: AgentEvent{Type: "thoughts", Output: "hm"}},
		{name: "json type wins", sseType: "message", data: `{"type":"done","output":"x"}`, want: AgentEvent{Type: "done", Output: "x"}},
		{name: "missing both", data: `{"output":"hm"}`, want: AgentEvent{Type: EventMessage, Output: "hm"}},
		{name: "text", sseType: "done", data: "Hello there", want: AgentEvent{Type: "done", Output: "Hello there"}},
		{name: "malformed", data: `{"type":"do`, want: AgentEvent{Type: EventMessage, Output: `{"type":"do`}},
		{name: "escapes", data: `{"type":"done","output":"a\nb \u00e9"}`, want: AgentEvent{Type: "done", Output: "a\nb é"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeEvent([]byte(tt.sseType), []byte(tt.data))
			if json.Valid([]byte(tt.data)) {
				assert.JSONEq(t, tt.data, string(got.Raw))
			} else {
				assert.Nil(t, got.Raw)
			}
			if got.Arguments != nil {
				raw := string(got.Raw)
				_ = append(got.Arguments, "xxxx"...)
				assert.Equal(t, raw, string(got.Raw), "appending to Arguments leaves Raw alone")
			}
			got.Raw = nil
			assert.Equal(t, tt.want, got)
		})
	}
}
