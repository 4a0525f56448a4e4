package promptev

import (
	"bytes"
	"io"
)

// sseInitialBuffer is the parser's first buffer size; it doubles as needed up to the
// event cap. It is small because every open stream holds one (a bridge keeps
// thousands open), and most events are a few hundred bytes.
const sseInitialBuffer = 4 << 10

// maxEmptyReads is how many (0, nil) reads in a row are tolerated.
const maxEmptyReads = 100

var utf8BOM = []byte("\xEF\xBB\xBF")

// sseParser reads Server-Sent Events (the WHATWG event-stream format) from a
// reader, pull style. It handles LF, CRLF and lone-CR line endings (also when
// a CRLF is split across reads), comments, multi-line data and a leading
// UTF-8 BOM. id and retry fields are ignored: the client never reconnects.
// Lines and events are bounded by max bytes; memory stays below about 2*max.
// Each byte is examined a bounded number of times, so a large event that
// arrives in small pieces costs linear time.
type sseParser struct {
	r   io.Reader
	max int

	buf   []byte
	start int // buf[start:end] is unconsumed input
	end   int
	scan  int // buf[start:scan] holds no line ending
	rerr  error

	skipLF     bool // the last line ended with CR: drop a following LF
	bomChecked bool

	data       []byte
	typ        []byte
	hasData    bool
	dispatched bool
}

func newSSEParser(r io.Reader, max int) *sseParser {
	return &sseParser{r: r, max: max, buf: make([]byte, min(sseInitialBuffer, max+2))}
}

// next returns the next event's type (the "event" field) and data. The
// slices are valid until the following call. At the end of input it returns
// the reader's error (io.EOF for a clean end); an unfinished final event is
// discarded, as in the SSE specification.
func (p *sseParser) next() (typ, data []byte, err error) {
	if p.dispatched {
		p.data, p.typ, p.hasData, p.dispatched = p.data[:0], p.typ[:0], false, false
	}
	for {
		line, err := p.readLine()
		if err != nil {
			return nil, nil, err
		}
		if len(line) > p.max {
			return nil, nil, ErrEventTooLarge
		}
		if len(line) == 0 {
			if !p.hasData {
				p.typ = p.typ[:0]
				continue
			}
			p.dispatched = true
			return p.typ, p.data, nil
		}
		if line[0] == ':' {
			continue // comment or keep-alive
		}
		name, value := line, line[len(line):]
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			name, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(name) {
		case "data":
			if p.hasData {
				if len(p.data)+1+len(value) > p.max {
					return nil, nil, ErrEventTooLarge
				}
				p.data = append(p.data, '\n')
			}
			p.data = append(p.data, value...)
			p.hasData = true
		case "event":
			p.typ = append(p.typ[:0], value...)
		}
	}
}

// readLine returns the next line without its ending, valid until the next call.
func (p *sseParser) readLine() ([]byte, error) {
	for empty := 0; ; {
		if p.skipLF && p.start < p.end {
			if p.buf[p.start] == '\n' {
				p.start++
			}
			p.skipLF = false
			p.scan = max(p.scan, p.start)
		}
		if !p.skipLF {
			seg := p.buf[p.scan:p.end]
			nl := bytes.IndexByte(seg, '\n')
			crIn := seg
			if nl >= 0 {
				crIn = seg[:nl]
			}
			if cr := bytes.IndexByte(crIn, '\r'); cr >= 0 {
				i := p.scan + cr
				line := p.buf[p.start:i]
				switch {
				case i+1 == p.end:
					p.start, p.skipLF = i+1, true
				case p.buf[i+1] == '\n':
					p.start = i + 2
				default:
					p.start = i + 1
				}
				p.scan = p.start
				return p.stripBOM(line), nil
			}
			if nl >= 0 {
				i := p.scan + nl
				line := p.buf[p.start:i]
				p.start, p.scan = i+1, i+1
				return p.stripBOM(line), nil
			}
			p.scan = p.end
		}
		if p.rerr != nil {
			return nil, p.rerr
		}
		if p.end-p.start > p.max {
			return nil, ErrEventTooLarge
		}
		n := p.fill()
		if n > 0 {
			empty = 0
		} else if empty++; empty >= maxEmptyReads && p.rerr == nil {
			p.rerr = io.ErrNoProgress
		}
	}
}

// fill reads more input, compacting or growing the buffer when it is full.
func (p *sseParser) fill() int {
	if p.start == p.end {
		p.start, p.end, p.scan = 0, 0, 0
	}
	if p.end == len(p.buf) {
		if p.start > 0 {
			copy(p.buf, p.buf[p.start:p.end])
			p.end -= p.start
			p.scan -= p.start
			p.start = 0
		}
		if p.end == len(p.buf) {
			nb := make([]byte, min(max(2*len(p.buf), sseInitialBuffer), p.max+2))
			copy(nb, p.buf[:p.end])
			p.buf = nb
		}
	}
	n, err := p.r.Read(p.buf[p.end:])
	if n < 0 || n > len(p.buf)-p.end {
		n, err = 0, io.ErrShortBuffer
	}
	p.end += n
	if err != nil {
		p.rerr = err
	}
	return n
}

// stripBOM removes a UTF-8 byte order mark from the first line.
func (p *sseParser) stripBOM(line []byte) []byte {
	if !p.bomChecked {
		p.bomChecked = true
		return bytes.TrimPrefix(line, utf8BOM)
	}
	return line
}
