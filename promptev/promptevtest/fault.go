package promptevtest

import "time"

// FaultKind selects how a fault misbehaves.
type FaultKind int

// The fault kinds. Status kinds answer the request with an error; the others
// change how a stream (trigger and start are unaffected) is written and can be
// combined with each other.
const (
	// FaultStatus answers with Fault.Status (default 503) and Fault.Body,
	// with a Retry-After header when Fault.RetryAfter is set.
	FaultStatus FaultKind = iota + 1
	// FaultRateLimit answers 429 with Retry-After: Fault.RetryAfter (rounded
	// up to whole seconds, default 1 s).
	FaultRateLimit
	// FaultSlowDrip writes the stream one byte at a time, flushing each byte
	// and waiting Fault.Delay between bytes.
	FaultSlowDrip
	// FaultStall sends the first Fault.AfterEvents events and then nothing,
	// keeping the connection open until the client goes or the server closes.
	FaultStall
	// FaultDisconnect sends the first Fault.AfterEvents events and half of the
	// next one, then drops the connection.
	FaultDisconnect
	// FaultMalformed inserts a data line that is not valid JSON after the first
	// Fault.AfterEvents events.
	FaultMalformed
	// FaultFraming ends every line with Fault.Framing (LF, CRLF or CR).
	FaultFraming
	// FaultHugeEvent inserts a thoughts event whose output is Fault.Size bytes
	// (default 4 MiB) after the first Fault.AfterEvents events.
	FaultHugeEvent
	// FaultEOFWithoutDone drops the terminal event (done, error,
	// approval_required) and ends the response cleanly.
	FaultEOFWithoutDone
)

// String names the kind.
func (k FaultKind) String() string {
	switch k {
	case FaultStatus:
		return "status"
	case FaultRateLimit:
		return "rate-limit"
	case FaultSlowDrip:
		return "slow-drip"
	case FaultStall:
		return "stall"
	case FaultDisconnect:
		return "disconnect"
	case FaultMalformed:
		return "malformed"
	case FaultFraming:
		return "framing"
	case FaultHugeEvent:
		return "huge-event"
	case FaultEOFWithoutDone:
		return "eof-without-done"
	}
	return "unknown"
}

// Framing is the line ending used in a stream.
type Framing string

// The three line endings allowed by the SSE format.
const (
	FramingLF   Framing = "\n"
	FramingCRLF Framing = "\r\n"
	FramingCR   Framing = "\r"
)

// Call names one of the three API calls.
type Call string

// The API calls a fault can be limited to.
const (
	CallTrigger Call = "trigger"
	CallStart   Call = "start"
	CallStream  Call = "stream"
)

// Fault is an injected misbehaviour. It applies to the next Times requests
// that match Call and Agent; Times <= 0 means every matching request until
// ClearFaults.
type Fault struct {
	Kind FaultKind
	// Times is how many matching requests the fault applies to (<= 0: all).
	Times int
	// Call limits the fault to one call; empty means any call for status
	// faults and the stream call for the others.
	Call Call
	// Agent limits the fault to one agent id; empty means any agent.
	Agent string

	// Status and Body are the answer of FaultStatus.
	Status int
	Body   string
	// RetryAfter is sent as a Retry-After header (FaultStatus, FaultRateLimit).
	RetryAfter time.Duration
	// Delay is the pause between bytes of FaultSlowDrip.
	Delay time.Duration
	// AfterEvents positions FaultStall, FaultDisconnect, FaultMalformed and
	// FaultHugeEvent: that many script events are sent first.
	AfterEvents int
	// Framing is the line ending of FaultFraming.
	Framing Framing
	// Size is the output size of FaultHugeEvent in bytes.
	Size int
}

func (f Fault) isStatus() bool { return f.Kind == FaultStatus || f.Kind == FaultRateLimit }

func (f Fault) matches(call Call, agent string) bool {
	if f.Agent != "" && f.Agent != agent {
		return false
	}
	if f.Call != "" {
		return f.Call == call
	}
	return f.isStatus() || call == CallStream
}

// faultState is an injected fault with its remaining count.
type faultState struct {
	Fault
	remaining int // < 0: unlimited
}
