package promptevtest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// defaultHugeSize is the output size of FaultHugeEvent when Fault.Size is 0.
const defaultHugeSize = 4 << 20

// wireEvent is the JSON data of one stream event.
type wireEvent struct {
	Type       string         `json:"type,omitempty"`
	Output     string         `json:"output"`
	Tool       string         `json:"tool,omitempty"`
	Arguments  map[string]any `json:"arguments,omitempty"`
	ApprovalID string         `json:"approval_id,omitempty"`
}

// EncodeEvent returns the SSE encoding of e with the given line ending (LF
// when empty); a Raw event is returned as is. It is what the server writes
// for each event.
func EncodeEvent(e Event, eol Framing) []byte {
	if e.Raw != "" {
		return []byte(e.Raw)
	}
	if eol == "" {
		eol = FramingLF
	}
	b, err := json.Marshal(wireEvent{Type: e.Type, Output: e.Output, Tool: e.Tool, Arguments: e.Arguments, ApprovalID: e.ApprovalID})
	if err != nil {
		// Arguments that cannot be encoded are dropped rather than failing the stream.
		b, _ = json.Marshal(wireEvent{Type: e.Type, Output: e.Output, Tool: e.Tool, ApprovalID: e.ApprovalID})
	}
	out := make([]byte, 0, len(b)+len("data: ")+2*len(eol))
	out = append(out, "data: "...)
	out = append(out, b...)
	out = append(out, eol...)
	return append(out, eol...)
}

// hugeOutput returns n bytes of a repeating printable pattern.
func hugeOutput(n int) string {
	const pattern = "0123456789abcdef"
	return strings.Repeat(pattern, n/len(pattern)+1)[:n]
}

// chunk is one piece of a stream: encoded bytes and the delay before them.
type chunk struct {
	delay time.Duration
	data  []byte
}

// plan is how a stream is written once the faults are applied.
type plan struct {
	chunks       []chunk
	drip         bool
	dripDelay    time.Duration
	stallAt      int // index of the chunk before which the stream stalls; -1: none
	disconnectAt int // index of the chunk cut in half before the connection drops; -1: none
}

// makePlan encodes evs and applies the stream faults.
func makePlan(evs []Event, faults []Fault) plan {
	p := plan{stallAt: -1, disconnectAt: -1}
	eol := FramingLF
	type insert struct {
		at int
		c  chunk
	}
	var inserts []insert
	for _, f := range faults {
		switch f.Kind {
		case FaultFraming:
			if f.Framing != "" {
				eol = f.Framing
			}
		case FaultEOFWithoutDone:
			evs = slices.DeleteFunc(slices.Clone(evs), Event.Terminal)
		}
	}
	for _, f := range faults {
		switch f.Kind {
		case FaultSlowDrip:
			p.drip, p.dripDelay = true, f.Delay
		case FaultStall:
			p.stallAt = f.AfterEvents
		case FaultDisconnect:
			p.disconnectAt = f.AfterEvents
		case FaultMalformed:
			bad := "data: {\"type\": \"thoughts\", \"output\": \"unterminated" + string(eol) + string(eol)
			inserts = append(inserts, insert{f.AfterEvents, chunk{data: []byte(bad)}})
		case FaultHugeEvent:
			n := f.Size
			if n <= 0 {
				n = defaultHugeSize
			}
			inserts = append(inserts, insert{f.AfterEvents, chunk{data: EncodeEvent(Event{Type: TypeThoughts, Output: hugeOutput(n)}, eol)}})
		}
	}
	for i, e := range evs {
		for _, in := range inserts {
			if in.at == i {
				p.chunks = append(p.chunks, in.c)
			}
		}
		p.chunks = append(p.chunks, chunk{delay: e.Delay, data: EncodeEvent(e, eol)})
	}
	for _, in := range inserts {
		if in.at >= len(evs) {
			p.chunks = append(p.chunks, in.c)
		}
	}
	p.stallAt = min(p.stallAt, len(p.chunks))
	p.disconnectAt = min(p.disconnectAt, len(p.chunks))
	return p
}

// writeStream writes evs as an SSE response, misbehaving as the faults say.
// A stream that ends before the plan is written (the client went away, or
// the server is closing) is noted by noteStreamCut.
func (s *Server) writeStream(w http.ResponseWriter, r *http.Request, evs []Event, faults []Fault) {
	p := makePlan(evs, faults)
	written := false // the whole plan was written, or cut by a fault
	defer func() {
		if !written {
			s.noteStreamCut()
		}
	}()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()

	for i := 0; ; i++ {
		if i == p.stallAt {
			_ = rc.Flush()
			select {
			case <-r.Context().Done():
			case <-s.quit:
			}
			return
		}
		if i == p.disconnectAt {
			if i < len(p.chunks) {
				d := p.chunks[i].data
				_, _ = w.Write(d[:len(d)/2])
			}
			_ = rc.Flush()
			written = true
			panic(http.ErrAbortHandler)
		}
		if i >= len(p.chunks) {
			written = true
			break
		}
		c := p.chunks[i]
		if c.delay > 0 {
			_ = rc.Flush()
			if !s.sleep(r, c.delay) {
				return
			}
		}
		if !p.drip {
			if _, err := w.Write(c.data); err != nil {
				return
			}
			continue
		}
		for j := range c.data {
			if _, err := w.Write(c.data[j : j+1]); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			if !s.sleep(r, p.dripDelay) {
				return
			}
		}
	}
	_ = rc.Flush()
}
