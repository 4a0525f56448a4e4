package bridge_test

import (
	"context"
	"encoding/json"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/promptev"
)

// step is one scripted event of the in-memory agent: after Delay, the event
// (or, when Err is set, the error) is returned by Next.
type step struct {
	Delay time.Duration
	Type  string
	Out   string
	Tool  string
	Args  string
	Err   error
	// Wait, when set, holds the event back until it is closed.
	Wait <-chan struct{}
}

// streamCall is one Stream call the fake agent received.
type streamCall struct {
	AgentID, Token, Query string
}

// fakeAgent is an in-memory bridge.Agent for synctest scenarios (real sockets
// do not advance fake time). Script decides the events of each Stream call.
type fakeAgent struct {
	mu        sync.Mutex
	script    func(call streamCall) []step
	starts    []promptev.StartOptions
	streams   []streamCall
	triggers  []promptev.TriggerOptions
	tokens    int
	streamErr []error // returned (and consumed) by the next Stream calls
	startErr  error
}

var _ bridge.Agent = (*fakeAgent)(nil)

func newFakeAgent(script func(call streamCall) []step) *fakeAgent {
	return &fakeAgent{script: script}
}

// answer is a script that answers every query with a done event.
func replyWith(text string) func(streamCall) []step {
	return func(streamCall) []step { return []step{{Type: promptev.EventDone, Out: text}} }
}

func (a *fakeAgent) Start(ctx context.Context, agentID string, opts promptev.StartOptions) (*promptev.AgentSession, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.startErr != nil {
		return nil, a.startErr
	}
	a.starts = append(a.starts, opts)
	a.tokens++
	return &promptev.AgentSession{SessionToken: "tok-" + strconv.Itoa(a.tokens), AgentID: agentID}, nil
}

func (a *fakeAgent) Stream(ctx context.Context, agentID, token, query string) (bridge.EventStream, error) {
	a.mu.Lock()
	call := streamCall{AgentID: agentID, Token: token, Query: query}
	a.streams = append(a.streams, call)
	if len(a.streamErr) > 0 {
		err := a.streamErr[0]
		a.streamErr = a.streamErr[1:]
		a.mu.Unlock()
		return nil, err
	}
	script := a.script
	a.mu.Unlock()
	return &fakeStream{ctx: ctx, steps: script(call), closed: make(chan struct{})}, nil
}

func (a *fakeAgent) Trigger(ctx context.Context, agentID, message string, opts promptev.TriggerOptions) (*promptev.AgentResult, error) {
	a.mu.Lock()
	a.triggers = append(a.triggers, opts)
	n := len(a.triggers)
	a.mu.Unlock()
	return &promptev.AgentResult{Response: "triggered: " + message, SessionID: "sid-" + strconv.Itoa(n)}, nil
}

func (a *fakeAgent) Starts() []promptev.StartOptions {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]promptev.StartOptions(nil), a.starts...)
}

func (a *fakeAgent) Streams() []streamCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]streamCall(nil), a.streams...)
}

func (a *fakeAgent) Triggers() []promptev.TriggerOptions {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]promptev.TriggerOptions(nil), a.triggers...)
}

// fakeStream plays a script; Close (or ctx) ends a pending Next at once.
type fakeStream struct {
	ctx       context.Context
	steps     []step
	i         int
	closeOnce sync.Once
	closed    chan struct{}
}

func (s *fakeStream) Next() (promptev.AgentEvent, error) {
	if s.i >= len(s.steps) {
		return promptev.AgentEvent{}, io.EOF
	}
	st := s.steps[s.i]
	s.i++
	if st.Delay > 0 {
		t := time.NewTimer(st.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.closed:
			return promptev.AgentEvent{}, io.ErrClosedPipe
		case <-s.ctx.Done():
			return promptev.AgentEvent{}, s.ctx.Err()
		}
	}
	if st.Wait != nil {
		select {
		case <-st.Wait:
		case <-s.closed:
			return promptev.AgentEvent{}, io.ErrClosedPipe
		case <-s.ctx.Done():
			return promptev.AgentEvent{}, s.ctx.Err()
		}
	}
	if st.Err != nil {
		s.i = len(s.steps)
		return promptev.AgentEvent{}, st.Err
	}
	ev := promptev.AgentEvent{Type: st.Type, Output: st.Out, Tool: st.Tool}
	if st.Args != "" {
		ev.Arguments = json.RawMessage(st.Args)
	}
	if ev.Terminal() {
		s.i = len(s.steps)
	}
	return ev, nil
}

func (s *fakeStream) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}
