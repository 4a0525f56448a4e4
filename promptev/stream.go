package promptev

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Stream is an open agent stream. Next is not safe for concurrent use; Close
// may be called at any time, from any goroutine, more than once.
type Stream struct {
	ctx    context.Context
	body   io.ReadCloser
	cancel context.CancelFunc
	parser *sseParser
	idle   time.Duration
	timer  *time.Timer
	key    string // redacted from transport errors

	idleFired atomic.Bool
	closed    atomic.Bool
	release   sync.Once

	finished bool
	err      error
}

// Stream sends query on the session and returns its event stream. The stream
// is bounded by ctx and the idle timeout, not by the client timeout (which
// only bounds the wait for the response headers).
func (c *Client) Stream(ctx context.Context, agentID, sessionToken, query string) (*Stream, error) {
	switch {
	case agentID == "":
		return nil, invalidArg("stream: agent id is required")
	case sessionToken == "":
		return nil, invalidArg("stream: session token is required")
	case query == "":
		return nil, invalidArg("stream: query is required")
	}
	body := struct {
		SessionToken string `json:"session_token"`
		Query        string `json:"query"`
	}{sessionToken, query}
	resp, cancel, err := c.send(ctx, operation{name: "stream", tmpl: c.endpoints.Stream, agentID: agentID, body: body, stream: true})
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
		// A JSON answer where events were expected: most likely a
		// misconfigured stream endpoint. Report it rather than "incomplete".
		text := readErrorBody(resp.Body)
		_ = resp.Body.Close()
		cancel()
		return nil, &Error{StatusCode: resp.StatusCode, ResponseText: text, Message: "stream: expected text/event-stream, got " + ct}
	}
	s := newStream(ctx, resp.Body, cancel, c.idleTimeout, c.maxEventSize)
	s.key = c.projectKey
	return s, nil
}

// newStream wraps an open event-stream body. cancel must abort reads of body.
func newStream(ctx context.Context, body io.ReadCloser, cancel context.CancelFunc, idle time.Duration, maxEvent int) *Stream {
	s := &Stream{ctx: ctx, body: body, cancel: cancel, idle: idle}
	s.timer = time.AfterFunc(idle, func() {
		s.idleFired.Store(true)
		cancel()
	})
	s.parser = newSSEParser(idleReader{s}, maxEvent)
	return s
}

// idleReader re-arms the idle timer whenever bytes arrive.
type idleReader struct{ s *Stream }

func (r idleReader) Read(p []byte) (int, error) {
	n, err := r.s.body.Read(p)
	if n > 0 {
		r.s.timer.Reset(r.s.idle)
	}
	return n, err
}

// Next returns the next event. After the terminal event (done, error or
// approval_required) it returns io.EOF. An "error" event is returned as an
// event, not as a Go error. A stream that ends before a terminal event fails
// with an error matching ErrIncompleteStream; one that stays silent for the
// idle timeout fails with a *NetworkError wrapping ErrStreamIdle; after Close
// it fails with ErrStreamClosed. Errors are sticky.
func (s *Stream) Next() (AgentEvent, error) {
	if s.finished {
		return AgentEvent{}, io.EOF
	}
	if s.err != nil {
		return AgentEvent{}, s.err
	}
	if s.closed.Load() {
		return AgentEvent{}, s.fail(nil)
	}
	typ, data, err := s.parser.next()
	if err != nil {
		return AgentEvent{}, s.fail(err)
	}
	if isDoneSentinel(data) {
		return AgentEvent{}, s.fail(io.EOF)
	}
	ev := decodeEvent(typ, data)
	if ev.Terminal() {
		s.finished = true
		s.close()
	}
	return ev, nil
}

// fail records the error that ended the stream and releases it.
func (s *Stream) fail(cause error) error {
	switch {
	case s.closed.Load():
		s.err = networkError("stream", detail("closed", ErrStreamClosed))
	case errors.Is(cause, ErrEventTooLarge):
		s.err = &Error{Message: "stream", Err: detail(fmt.Sprintf("event larger than %d bytes", s.parser.max), ErrEventTooLarge)}
	case s.idleFired.Load():
		s.err = networkError("stream", detail(fmt.Sprintf("idle: no data for %v", s.idle), ErrStreamIdle))
	case s.ctx.Err() != nil:
		s.err = networkError("stream: cancelled", s.ctx.Err())
	case cause == io.EOF:
		s.err = networkError("stream", detail("ended before done or error", ErrIncompleteStream))
	default:
		cause = cleanTransportError(cause, s.key)
		s.err = networkError("stream", detail("interrupted before done or error: "+cause.Error(), ErrIncompleteStream, cause))
	}
	s.close()
	return s.err
}

// Close ends the stream early, cancelling the HTTP request. It is safe to
// call more than once and concurrently with Next, which then returns an error
// wrapping ErrStreamClosed (or io.EOF if the stream had already finished).
func (s *Stream) Close() error {
	s.closed.Store(true)
	s.close()
	return nil
}

func (s *Stream) close() {
	s.release.Do(func() {
		s.timer.Stop()
		s.cancel()
		_ = s.body.Close()
	})
}
