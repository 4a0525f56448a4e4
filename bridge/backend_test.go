package bridge_test

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// Scenario tests run against both agent backends: the in-memory fakeAgent
// (backend=fake) and the real promptev client through bridge.ClientAgent over
// promptevtest's in-memory server (backend=client). Each scenario's steps and
// assertions are written once; the few checks only one backend can make are
// guarded by r.isClient() / r.isFake().

// backend names an agent backend of the scenario tests.
type backend string

const (
	backendFake   backend = "fake"
	backendClient backend = "client"
)

// forEachBackend runs scenario as subtest backend=<name> for every backend,
// each inside its own synctest bubble.
func forEachBackend(t *testing.T, scenario func(t *testing.T, be backend)) {
	t.Helper()
	for _, be := range []backend{backendFake, backendClient} {
		t.Run("backend="+string(be), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { scenario(t, be) })
		})
	}
}

// turnEvent is one backend-neutral scripted agent event: after Delay, an
// event of Type (promptev.Event*) with output Out (and, for
// approval_required, Tool and Args).
type turnEvent struct {
	Delay time.Duration
	Type  string
	Out   string
	Tool  string
	Args  map[string]any
}

// agentScript is a backend-neutral agent: turn gives the events of an
// ordinary query; onApprove and onDeny, when set, answer the approve and deny
// queries after an approval_required.
type agentScript struct {
	turn      func(query string) []turnEvent
	onApprove []turnEvent
	onDeny    []turnEvent
}

// fake is the script as a fakeAgent script.
func (s agentScript) fake() func(streamCall) []step {
	return func(c streamCall) []step {
		evs := s.turn
		switch {
		case c.Query == "approve" && s.onApprove != nil:
			return toSteps(s.onApprove)
		case c.Query == "deny" && s.onDeny != nil:
			return toSteps(s.onDeny)
		}
		return toSteps(evs(c.Query))
	}
}

func toSteps(evs []turnEvent) []step {
	out := make([]step, 0, len(evs))
	for _, e := range evs {
		st := step{Delay: e.Delay, Type: e.Type, Out: e.Out, Tool: e.Tool}
		if e.Args != nil {
			b, err := json.Marshal(e.Args)
			if err != nil {
				panic(err)
			}
			st.Args = string(b)
		}
		out = append(out, st)
	}
	return out
}

// promptev is the script as a promptevtest agent.
func (s agentScript) promptev() promptevtest.Agent {
	return promptevtest.Agent{
		Respond:   func(turn promptevtest.Turn) []promptevtest.Event { return toEvents(s.turn(turn.Query)) },
		OnApprove: toEvents(s.onApprove),
		OnDeny:    toEvents(s.onDeny),
	}
}

func toEvents(evs []turnEvent) []promptevtest.Event {
	if evs == nil {
		return nil
	}
	out := make([]promptevtest.Event, 0, len(evs))
	for _, e := range evs {
		out = append(out, promptevtest.Event{Delay: e.Delay, Type: e.Type, Output: e.Out, Tool: e.Tool, Arguments: e.Args})
	}
	return out
}

// agentWorld is the agent side of a scenario, shared by the bridge processes
// of a restart scenario: one fakeAgent, or one promptevtest server (each
// process then gets a new client of it).
type agentWorld struct {
	be   backend
	fake *fakeAgent           // backend=fake
	srv  *promptevtest.Server // backend=client
}

func newAgentWorld(be backend, s agentScript) *agentWorld {
	w := &agentWorld{be: be}
	switch be {
	case backendFake:
		w.fake = newFakeAgent(s.fake())
	case backendClient:
		w.srv = promptevtest.NewInMemoryServer("pk-test")
		w.srv.AddAgent("agent-1", s.promptev())
	}
	return w
}

// close closes the server (backend=client); a no-op for fake.
func (w *agentWorld) close() {
	if w.srv != nil {
		w.srv.Close()
	}
}

// streams returns the stream calls the agent received, in order.
func (w *agentWorld) streams(t *testing.T) []streamRequest {
	t.Helper()
	if w.fake != nil {
		var out []streamRequest
		for _, c := range w.fake.Streams() {
			require.Equal(t, "agent-1", c.AgentID)
			out = append(out, streamRequest{Token: c.Token, Query: c.Query})
		}
		return out
	}
	return streamRequests(t, w.srv)
}

// starts returns how many sessions the agent was asked to start.
func (w *agentWorld) starts(t *testing.T) int {
	t.Helper()
	if w.fake != nil {
		return len(w.fake.Starts())
	}
	return len(startBodies(t, w.srv))
}

// failStreams makes the next n stream calls fail with HTTP status (404: the
// session is unknown, 401: the session is refused).
func (w *agentWorld) failStreams(status, n int) {
	if w.fake != nil {
		w.fake.mu.Lock()
		defer w.fake.mu.Unlock()
		for range n {
			w.fake.streamErr = append(w.fake.streamErr, &promptev.Error{StatusCode: status, Message: "session gone"})
		}
		return
	}
	w.srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultStatus, Status: status, Call: promptevtest.CallStream, Times: n})
}

// scenarioRig is a bridge process of a scenario on either backend.
type scenarioRig struct {
	*rig
	w      *agentWorld
	client *promptev.Client // backend=client
	// ownsWorld: close closes w too.
	ownsWorld bool
}

// startScenario starts a world for script and a rig on it; close stops both.
func startScenario(t *testing.T, be backend, s agentScript, opts ...rigOption) *scenarioRig {
	t.Helper()
	r := newAgentWorld(be, s).start(t, opts...)
	r.ownsWorld = true
	return r
}

// start starts a bridge process on w (a restart: a new client of the same
// API); close leaves w running.
func (w *agentWorld) start(t *testing.T, opts ...rigOption) *scenarioRig {
	t.Helper()
	if w.fake != nil {
		return &scenarioRig{rig: startRig(t, w.fake, opts...), w: w}
	}
	client, err := promptev.New("pk-test", promptev.WithBaseURL(w.srv.URL), promptev.WithHTTPClient(w.srv.Client()))
	require.NoError(t, err)
	return &scenarioRig{rig: startRig(t, bridge.ClientAgent(client), opts...), w: w, client: client}
}

// close stops the bridge, then the client's connections, then the world
// (when the rig started it), leaving no goroutine in the bubble.
func (r *scenarioRig) close() {
	r.stop()
	if r.client != nil {
		r.client.CloseIdleConnections()
	}
	if r.ownsWorld {
		r.w.close()
	}
}

func (r *scenarioRig) isClient() bool { return r.w.be == backendClient }
func (r *scenarioRig) isFake() bool   { return r.w.be == backendFake }

// streams returns the stream calls the agent received, in order.
func (r *scenarioRig) streams(t *testing.T) []streamRequest { return r.w.streams(t) }

// streamRequest is one stream call: the body of a stream request the server
// received, or a fakeAgent Stream call.
type streamRequest struct {
	Token string `json:"session_token"`
	Query string `json:"query"`
}

// streamRequests returns the bodies of the server's stream requests, in order.
func streamRequests(t *testing.T, srv *promptevtest.Server) []streamRequest {
	t.Helper()
	var out []streamRequest
	for _, req := range srv.Requests() {
		if strings.HasSuffix(req.Path, "/stream") {
			var s streamRequest
			require.NoError(t, json.Unmarshal(req.Body, &s))
			out = append(out, s)
		}
	}
	return out
}
