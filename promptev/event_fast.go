package promptev

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// decodeObject extracts the known fields of a JSON object event without
// reflection. It is the hot path of Stream.Next: the data is checked with
// json.Valid, then scanned once; string values without escapes are copied
// directly and Arguments aliases Raw. It reports false (and the caller falls
// back to encoding/json) for anything unusual: escaped or case-variant keys.
func decodeObject(data []byte) (AgentEvent, bool) {
	if !json.Valid(data) {
		return AgentEvent{}, false
	}
	raw := bytes.Clone(data)
	ev := AgentEvent{Raw: raw}
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return AgentEvent{}, false
	}
	i++
	for {
		i = skipWS(raw, i)
		if raw[i] == '}' {
			return ev, true
		}
		if raw[i] == ',' {
			i = skipWS(raw, i+1)
		}
		kEnd := skipString(raw, i)
		key := raw[i+1 : kEnd-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			return AgentEvent{}, false
		}
		i = skipWS(raw, kEnd)
		i = skipWS(raw, i+1) // the colon
		vStart := i
		i = skipValue(raw, i)
		val := raw[vStart:i:i]
		var ok bool
		switch string(key) {
		case "type":
			ev.Type, ok = fastText(val)
			if ok {
				ev.Type = internType(ev.Type)
			}
		case "output":
			ev.Output, ok = fastText(val)
		case "tool":
			ev.Tool, ok = fastText(val)
		case "approval_id":
			ev.ApprovalID, ok = fastText(val)
		case "arguments":
			ev.Arguments, ok = nullToNil(json.RawMessage(val)), true
		default:
			// encoding/json matches keys case-insensitively; leave such keys to it.
			ok = !isFieldFold(key)
		}
		if !ok {
			return AgentEvent{}, false
		}
	}
}

var knownFields = [...]string{"type", "output", "tool", "approval_id", "arguments"}

func isFieldFold(key []byte) bool {
	for _, f := range knownFields {
		if len(key) == len(f) && bytes.EqualFold(key, []byte(f)) {
			return true
		}
	}
	return false
}

// fastText is jsonText for a valid JSON value; it reports false for strings
// it leaves to encoding/json (escapes, invalid UTF-8).
func fastText(val []byte) (string, bool) {
	switch val[0] {
	case '"':
		inner := val[1 : len(val)-1]
		if bytes.IndexByte(inner, '\\') >= 0 || !utf8.Valid(inner) {
			var s string
			if json.Unmarshal(val, &s) != nil {
				return "", false
			}
			return s, true
		}
		return string(inner), true
	case 'n':
		return "", true
	}
	return string(val), true
}

// internType returns the constant for the usual event types (no allocation
// survives for them).
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

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the valid JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
		i++
	}
	return i
}
