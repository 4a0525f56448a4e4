package promptev

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"unicode/utf8"
)

// decodeObject extracts the known fields of a JSON object event without
// reflection; it is the hot path of Stream.Next. It scans the object once,
// checking its structure itself and each value's validity (json.Valid on
// values other than plain strings, a control-byte check on those), copies
// string values without escapes directly, and lets Arguments alias Raw. It
// reports false, and the caller falls back to encoding/json, for invalid
// JSON and anything unusual (escaped or case-variant keys). FuzzStreamDecode
// checks it against encoding/json.
func decodeObject(data []byte) (AgentEvent, bool) {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return AgentEvent{}, false
	}
	var ev AgentEvent
	type span struct{ start, end int }
	var args span
	hasArgs := false
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for {
			if i >= len(data) || data[i] != '"' {
				return AgentEvent{}, false
			}
			kEnd := skipString(data, i)
			if kEnd > len(data)-1 || data[kEnd-1] != '"' || kEnd-i < 2 {
				return AgentEvent{}, false
			}
			key := data[i+1 : kEnd-1]
			if !plainString(key) {
				return AgentEvent{}, false
			}
			i = skipWS(data, kEnd)
			if i >= len(data) || data[i] != ':' {
				return AgentEvent{}, false
			}
			i = skipWS(data, i+1)
			if i >= len(data) {
				return AgentEvent{}, false
			}
			vStart := i
			i = skipValue(data, i)
			val := data[vStart:i]
			if !validValue(val) {
				return AgentEvent{}, false
			}
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
				args, hasArgs, ok = span{vStart, i}, string(val) != "null", true
			default:
				// encoding/json matches keys case-insensitively; leave such keys to it.
				ok = !isFieldFold(key)
			}
			if !ok {
				return AgentEvent{}, false
			}
			i = skipWS(data, i)
			if i >= len(data) {
				return AgentEvent{}, false
			}
			if data[i] == '}' {
				i++
				break
			}
			if data[i] != ',' {
				return AgentEvent{}, false
			}
			i = skipWS(data, i+1)
		}
	}
	if skipWS(data, i) != len(data) {
		return AgentEvent{}, false
	}
	ev.Raw = bytes.Clone(data)
	if hasArgs {
		ev.Arguments = json.RawMessage(ev.Raw[args.start:args.end:args.end])
	}
	return ev, true
}

// plainString reports whether the contents of a JSON string (between the
// quotes) are valid without decoding: no escapes and no control bytes.
func plainString(s []byte) bool {
	if bytes.IndexByte(s, '\\') >= 0 {
		return false
	}
	// Eight bytes at a time: a byte below 0x20 makes (x - 0x20..) borrow
	// into its high bit while that bit of x is clear.
	const lo, hi = 0x2020202020202020, 0x8080808080808080
	for len(s) >= 8 {
		x := binary.LittleEndian.Uint64(s)
		if (x-lo)&^x&hi != 0 {
			return false
		}
		s = s[8:]
	}
	for _, c := range s {
		if c < 0x20 {
			return false
		}
	}
	return true
}

// validValue reports whether val is one valid JSON value. Strings without
// escapes are checked directly; everything else goes through json.Valid.
func validValue(val []byte) bool {
	if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' && plainString(val[1:len(val)-1]) {
		return true
	}
	return json.Valid(val)
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

// skipString returns the index after the string starting at b[i] == '"',
// or len(b) when it is not closed.
func skipString(b []byte, i int) int {
	for i++; i < len(b); {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b)
		}
		i += q
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return i + 1
		}
		i++
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
