package promptev

import "encoding/json"

// Event types sent by a Promptev agent stream. Unknown types are passed through
// unchanged in AgentEvent.Type.
const (
	EventThoughts         = "thoughts"
	EventProcessing       = "processing"
	EventApprovalRequired = "approval_required"
	EventDone             = "done"
	EventError            = "error"
)

// TriggerOptions are the optional arguments of Client.Trigger.
type TriggerOptions struct {
	// SessionID continues an earlier trigger conversation when set.
	SessionID string
	// Variables are passed to the agent's prompt template.
	Variables map[string]any
	// Visitor identifies the end user (for example "slack:T1:U1").
	Visitor string
}

// AgentResult is the answer of a blocking Trigger call.
type AgentResult struct {
	// Response is the agent's final text.
	Response string
	// SessionID identifies the conversation for a follow-up Trigger.
	SessionID string
	// Raw is the whole JSON response, including fields this package does not know.
	Raw json.RawMessage
}

// StartOptions are the optional arguments of Client.Start.
type StartOptions struct {
	// Visitor identifies the end user (for example "discord:123").
	Visitor string
	// Platform names where the conversation happens ("slack", "discord", "console").
	Platform string
}

// AgentSession is a started agent conversation.
type AgentSession struct {
	// SessionToken is passed to Stream for every turn of the conversation.
	SessionToken string
	// AgentID is the agent the session belongs to ("chatbot_id" is accepted as an alias).
	AgentID string
	// Name is the agent's display name.
	Name string
	// MemoryEnabled tells whether the agent remembers earlier turns.
	MemoryEnabled bool
	// Messages are earlier messages of the session, as sent by the API.
	Messages []json.RawMessage
	// Raw is the whole JSON response, including fields this package does not know.
	Raw json.RawMessage
}

// AgentEvent is one event of an agent stream.
type AgentEvent struct {
	// Type is the event type (see the Event* constants); unknown types pass through.
	Type string
	// Output is the human-readable payload: a thought, a tool status, an approval
	// request, the final answer or an error message.
	Output string
	// Tool names the tool an approval_required event asks for, when the API sends it.
	Tool string
	// Arguments are the tool arguments of an approval_required event, when sent.
	Arguments json.RawMessage
	// ApprovalID is the API's id for an approval request, when sent.
	ApprovalID string
	// Raw is the event's whole JSON data.
	Raw json.RawMessage
}

// Terminal reports whether the event ends its stream (done, error or approval_required).
func (e AgentEvent) Terminal() bool {
	switch e.Type {
	case EventDone, EventError, EventApprovalRequired:
		return true
	}
	return false
}
