package promptevtest

import (
	"strings"
	"time"
)

// Event types the fake agents send; any other string is sent as is.
const (
	TypeThoughts         = "thoughts"
	TypeProcessing       = "processing"
	TypeApprovalRequired = "approval_required"
	TypeDone             = "done"
	TypeError            = "error"
)

// Event is one scripted stream event.
type Event struct {
	// Type is the event type ("thoughts", "processing", "approval_required",
	// "done", "error" or anything else).
	Type string
	// Output is the event text; it may contain {{query}} and {{history}}
	// (so may the top-level string values of Arguments).
	Output string
	// Tool, Arguments and ApprovalID are sent with approval_required events when set.
	Tool       string
	Arguments  map[string]any
	ApprovalID string
	// Delay is waited before the event is sent.
	Delay time.Duration
	// Raw, when set, is written to the stream verbatim instead of an encoded
	// event (for example "data: [DONE]\n\n" or ": keep-alive\n").
	Raw string
}

// Terminal reports whether the event ends a turn (done, error or approval_required).
func (e Event) Terminal() bool {
	switch e.Type {
	case TypeDone, TypeError, TypeApprovalRequired:
		return e.Raw == ""
	}
	return false
}

// Turn describes one query to an agent, passed to Agent.Respond.
type Turn struct {
	// AgentID is the agent being asked.
	AgentID string
	// Query is the user's message (the trigger message for Trigger calls).
	Query string
	// History holds the earlier queries of the session (empty when the agent
	// has no memory).
	History []string
	// SessionToken is the stream session token or the trigger session id.
	SessionToken string
	// Visitor is the visitor given when the session was started, if any.
	Visitor string
}

// Agent is a scripted fake agent.
type Agent struct {
	// Name is returned by start.
	Name string
	// MemoryEnabled is returned by start and enables {{history}} and Turn.History.
	MemoryEnabled bool
	// Script is streamed for an ordinary turn; for trigger, the response is
	// the output of its done event. An empty Script answers with a single
	// done event "You said: {{query}}".
	Script []Event
	// OnApprove is streamed when the turn after an approval_required has the
	// approve query (default: a done event "Approved.").
	OnApprove []Event
	// OnDeny is streamed when that turn has the deny query, alone or followed
	// by ": <reason>" (default: a done
	// event "Cancelled.").
	OnDeny []Event
	// Respond, when set, replaces Script: it is called for every ordinary turn.
	Respond func(Turn) []Event
}

// events returns the events of an ordinary turn, with templates expanded.
func (a Agent) events(t Turn) []Event {
	var evs []Event
	switch {
	case a.Respond != nil:
		evs = a.Respond(t)
	case len(a.Script) > 0:
		evs = a.Script
	default:
		evs = []Event{{Type: TypeDone, Output: "You said: {{query}}"}}
	}
	return expand(evs, t)
}

// approvalEvents returns the continuation after an approval decision.
func (a Agent) approvalEvents(approved bool, t Turn) []Event {
	if approved {
		if len(a.OnApprove) == 0 {
			return []Event{{Type: TypeDone, Output: "Approved."}}
		}
		return expand(a.OnApprove, t)
	}
	if len(a.OnDeny) == 0 {
		return []Event{{Type: TypeDone, Output: "Cancelled."}}
	}
	return expand(a.OnDeny, t)
}

// expand returns a copy of evs with {{query}} and {{history}} replaced in
// Output and in the top-level string values of Arguments.
func expand(evs []Event, t Turn) []Event {
	r := strings.NewReplacer("{{query}}", t.Query, "{{history}}", strings.Join(t.History, " | "))
	out := make([]Event, len(evs))
	for i, e := range evs {
		if strings.Contains(e.Output, "{{") {
			e.Output = r.Replace(e.Output)
		}
		if len(e.Arguments) > 0 {
			args := make(map[string]any, len(e.Arguments))
			for k, v := range e.Arguments {
				if s, ok := v.(string); ok && strings.Contains(s, "{{") {
					v = r.Replace(s)
				}
				args[k] = v
			}
			e.Arguments = args
		}
		out[i] = e
	}
	return out
}
