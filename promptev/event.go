package promptev

import (
	"bytes"
	"encoding/json"
)

// EventMessage is the Type of an event whose data has no type of its own and
// that came without an SSE "event" field.
const EventMessage = "message"

// wireEvent is the usual JSON data of a stream event.
type wireEvent struct {
	Type       string          `json:"type"`
	Output     string          `json:"output"`
	Tool       string          `json:"tool"`
	Arguments  json.RawMessage `json:"arguments"`
	ApprovalID string          `json:"approval_id"`
}

// looseEvent accepts any JSON type in each field.
type looseEvent struct {
	Type       json.RawMessage `json:"type"`
	Output     json.RawMessage `json:"output"`
	Tool       json.RawMessage `json:"tool"`
	Arguments  json.RawMessage `json:"arguments"`
	ApprovalID json.RawMessage `json:"approval_id"`
}

// decodeEvent turns one SSE event into an AgentEvent. JSON object data gives
// the fields (a missing type falls back to the SSE event name); other data
// (plain text, or malformed JSON) is delivered as Output with the SSE event
// name, or EventMessage, as Type, and no Raw. It decodes with plain
// encoding/json: a hand-written decoder made BenchmarkStream 3 to 6 times
// faster but changed no end-to-end figure (docs/bench/promptev.md).
func decodeEvent(sseType, data []byte) AgentEvent {
	return withType(decodeData(data), sseType)
}

// decodeData decodes event data: the known fields of a JSON object (each of
// any JSON type when they are not the usual ones), or else the data as Output.
func decodeData(data []byte) AgentEvent {
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return AgentEvent{Output: string(data)}
	}
	var w wireEvent
	if json.Unmarshal(data, &w) == nil {
		return AgentEvent{Type: w.Type, Output: w.Output, Tool: w.Tool, Arguments: nullToNil(w.Arguments), ApprovalID: w.ApprovalID, Raw: bytes.Clone(data)}
	}
	var l looseEvent
	if json.Unmarshal(data, &l) == nil {
		return AgentEvent{
			Type: jsonText(l.Type), Output: jsonText(l.Output), Tool: jsonText(l.Tool),
			Arguments: nullToNil(l.Arguments), ApprovalID: jsonText(l.ApprovalID), Raw: bytes.Clone(data),
		}
	}
	return AgentEvent{Output: string(data)}
}

// withType fills a missing Type from the SSE event name, or EventMessage.
func withType(ev AgentEvent, sseType []byte) AgentEvent {
	if ev.Type == "" {
		ev.Type = internType(string(sseType))
		if ev.Type == "" {
			ev.Type = EventMessage
		}
	}
	return ev
}

// internType returns the constant for the usual event types, so that no
// string is kept per event for them.
func internType(t string) string {
	switch t {
	case EventThoughts:
		return EventThoughts
	case EventProcessing:
		return EventProcessing
	case EventDone:
		return EventDone
	case EventError:
		return EventError
	case EventApprovalRequired:
		return EventApprovalRequired
	}
	return t
}

func nullToNil(raw json.RawMessage) json.RawMessage {
	if string(raw) == "null" {
		return nil
	}
	return raw
}

// isDoneSentinel reports whether data is the "[DONE]" end marker.
func isDoneSentinel(data []byte) bool {
	return len(data) >= 6 && string(bytes.TrimSpace(data)) == "[DONE]"
}
