package bolt

import (
	"time"
	"unicode/utf8"

	"github.com/promptev/promptev-bridge/chat"
)

// Conversation lookups are on the path of every inbound message, and
// encoding/json made 14 of a lookup's 31 allocations. Most of the lookup
// tail was the garbage collector catching up with those (docs/bench/store.md). This file
// decodes the conversation records this build writes without encoding/json.
// It takes a single allocation: the record copied out of the transaction as
// one string, whose substrings become the fields.
//
// It is deliberately narrow. It accepts only a JSON object of the current
// version with the exact field names, strings without escapes, integer
// turns, and no field given twice. Anything else returns false, and the
// caller decodes with encoding/json, which also produces the errors. When
// it accepts a record, the result equals encoding/json's; that is fuzzed
// against it in FuzzStoreDecode.

// conversation string fields, in the order of their spans.
const (
	fcPlatform = iota
	fcWorkspace
	fcChannel
	fcThread
	fcAgentID
	fcMode
	fcSessionToken
	fcSessionID
	fcVisitor
	fcStrings // number of string fields
)

// fastConv is the state of one fast decode.
type fastConv struct {
	b    []byte
	i    int
	span [fcStrings][2]int // start and end in b of each string field's text
	seen uint32            // bit per field (strings, then the rest below)
	v    int               // the record's "v"
	c    chat.Conversation
}

// Bits of seen beyond the string fields.
const (
	fcVersion = fcStrings + iota
	fcKey
	fcCreated
	fcLastActive
	fcTurns
)

// decodeConversationFast decodes raw, a conversation record of version
// want, into c. It returns false, leaving c unchanged, when raw is not in
// the form it handles; the caller then decodes it with encoding/json.
func decodeConversationFast(raw []byte, want int, c *chat.Conversation) bool {
	d := fastConv{b: raw}
	d.ws()
	if !d.object(d.topField) || !d.has(fcVersion) || d.v != want {
		return false
	}
	d.ws()
	if d.i != len(d.b) {
		return false
	}
	s := string(raw) // the one allocation; the fields are its substrings
	str := func(f int) string { return s[d.span[f][0]:d.span[f][1]] }
	d.c.Key = chat.ConversationKey{Platform: str(fcPlatform), Workspace: str(fcWorkspace), Channel: str(fcChannel), Thread: str(fcThread)}
	d.c.AgentID = str(fcAgentID)
	d.c.Mode = chat.Mode(str(fcMode))
	d.c.SessionToken = str(fcSessionToken)
	d.c.SessionID = str(fcSessionID)
	d.c.Visitor = str(fcVisitor)
	*c = d.c
	return true
}

// topField parses the value of one member of the record object.
func (d *fastConv) topField(name []byte) bool {
	switch string(name) { // no allocation: the conversion is only compared
	case "v":
		if !d.mark(fcVersion) {
			return false
		}
		v, ok := d.integer()
		d.v = v
		return ok
	case "key":
		return d.mark(fcKey) && d.object(d.keyField)
	case "agent_id":
		return d.strField(fcAgentID)
	case "mode":
		return d.strField(fcMode)
	case "session_token":
		return d.strField(fcSessionToken)
	case "session_id":
		return d.strField(fcSessionID)
	case "visitor":
		return d.strField(fcVisitor)
	case "created":
		return d.mark(fcCreated) && d.time(&d.c.Created)
	case "last_active":
		return d.mark(fcLastActive) && d.time(&d.c.LastActive)
	case "turns":
		if !d.mark(fcTurns) {
			return false
		}
		n, ok := d.integer()
		d.c.Turns = n
		return ok
	}
	return false
}

// keyField parses the value of one member of the "key" object.
func (d *fastConv) keyField(name []byte) bool {
	switch string(name) {
	case "platform":
		return d.strField(fcPlatform)
	case "workspace":
		return d.strField(fcWorkspace)
	case "channel":
		return d.strField(fcChannel)
	case "thread":
		return d.strField(fcThread)
	}
	return false
}

// ws skips JSON whitespace.
func (d *fastConv) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// has reports whether field bit f was seen.
func (d *fastConv) has(f int) bool { return d.seen&(1<<f) != 0 }

// mark records field bit f, failing when it was already seen.
func (d *fastConv) mark(f int) bool {
	if d.has(f) {
		return false
	}
	d.seen |= 1 << f
	return true
}

// object parses a JSON object at the current position, calling field for
// each member once the position is at its value; field parses the value.
func (d *fastConv) object(field func(name []byte) bool) bool {
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return false
	}
	d.i++
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return true
	}
	for {
		d.ws()
		start, end, ok := d.str()
		if !ok {
			return false
		}
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return false
		}
		d.i++
		d.ws()
		if !field(d.b[start:end]) {
			return false
		}
		d.ws()
		if d.i >= len(d.b) {
			return false
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return true
		default:
			return false
		}
	}
}

// str parses a JSON string without escapes and returns the span of its
// text. Escapes, control characters and invalid UTF-8 fail (encoding/json
// would unescape, reject and rewrite them).
func (d *fastConv) str() (start, end int, ok bool) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return 0, 0, false
	}
	d.i++
	start = d.i
	ascii := true
	for ; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			end = d.i
			d.i++
			if !ascii && !utf8.Valid(d.b[start:end]) {
				return 0, 0, false
			}
			return start, end, true
		case c == '\\' || c < 0x20:
			return 0, 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return 0, 0, false
}

// strField parses a string value as string field f.
func (d *fastConv) strField(f int) bool {
	if !d.mark(f) {
		return false
	}
	start, end, ok := d.str()
	d.span[f] = [2]int{start, end}
	return ok
}

// integer parses a JSON integer (no fraction or exponent) that fits an int.
func (d *fastConv) integer() (int, bool) {
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	if n := d.i - digits; n == 0 || n > 18 || (n > 1 && d.b[digits] == '0') {
		return 0, false // longer numbers go to encoding/json (range errors)
	}
	if d.i < len(d.b) {
		switch d.b[d.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	neg := d.b[start] == '-'
	v := 0
	for _, c := range d.b[digits:d.i] {
		v = v*10 + int(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// time parses a time value the way encoding/json does: time.Time's
// UnmarshalJSON on the quoted text.
func (d *fastConv) time(dst *time.Time) bool {
	start := d.i
	if _, _, ok := d.str(); !ok {
		return false
	}
	return dst.UnmarshalJSON(d.b[start:d.i]) == nil
}
