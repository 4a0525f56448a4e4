package promptev

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sseEvent is a parsed event for comparisons.
type sseEvent struct {
	Type, Data string
}

// parseAll reads every event until the parser fails and returns them with the error.
func parseAll(r io.Reader, max int) ([]sseEvent, error) {
	p := newSSEParser(r, max)
	var out []sseEvent
	for {
		typ, data, err := p.next()
		if err != nil {
			return out, err
		}
		out = append(out, sseEvent{string(typ), string(data)})
	}
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	data []byte
	n    int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := min(r.n, len(p), len(r.data))
	copy(p, r.data[:k])
	r.data = r.data[k:]
	return k, nil
}

func TestSSEParserCases(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []sseEvent
		err  error
	}{
		{name: "one event", in: "data: hello\n\n", want: []sseEvent{{"", "hello"}}},
		{name: "no space after colon", in: "data:hello\n\n", want: []sseEvent{{"", "hello"}}},
		{name: "only one space stripped", in: "data:  two\n\n", want: []sseEvent{{"", " two"}}},
		{name: "multi-line data", in: "data: a\ndata: b\ndata:\n\n", want: []sseEvent{{"", "a\nb\n"}}},
		{name: "event field", in: "event: done\ndata: x\n\n", want: []sseEvent{{"done", "x"}}},
		{name: "event type resets", in: "event: done\ndata: x\n\ndata: y\n\n", want: []sseEvent{{"done", "x"}, {"", "y"}}},
		{name: "event without data is dropped", in: "event: ping\n\ndata: y\n\n", want: []sseEvent{{"", "y"}}},
		{name: "empty data dispatches", in: "data\n\n", want: []sseEvent{{"", ""}}},
		{name: "comments ignored", in: ": keep-alive\n:\ndata: x\n: mid\n\n", want: []sseEvent{{"", "x"}}},
		{name: "id and retry ignored", in: "id: 7\nretry: 10\ndata: x\n\n", want: []sseEvent{{"", "x"}}},
		{name: "unknown field ignored", in: "foo: bar\ndata: x\n\n", want: []sseEvent{{"", "x"}}},
		{name: "colon in value kept", in: "data: {\"a\":\"b:c\"}\n\n", want: []sseEvent{{"", "{\"a\":\"b:c\"}"}}},
		{name: "leading blank lines", in: "\n\n\ndata: x\n\n", want: []sseEvent{{"", "x"}}},
		{name: "bom", in: "\xEF\xBB\xBFdata: x\n\n", want: []sseEvent{{"", "x"}}},
		{name: "bom only first", in: "\xEF\xBB\xBFdata: x\n\n\xEF\xBB\xBFdata: y\n\ndata: z\n\n", want: []sseEvent{{"", "x"}, {"", "z"}}},
		{name: "crlf", in: "data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n", want: []sseEvent{{"", "a\nb"}, {"", "c"}}},
		{name: "cr", in: "data: a\rdata: b\r\rdata: c\r\r", want: []sseEvent{{"", "a\nb"}, {"", "c"}}},
		{name: "mixed endings", in: "data: a\r\ndata: b\rdata: c\n\r\n", want: []sseEvent{{"", "a\nb\nc"}}},
		{name: "incomplete final event discarded", in: "data: a\n\ndata: b\n", want: []sseEvent{{"", "a"}}},
		{name: "unterminated final line discarded", in: "data: a\n\ndata: b", want: []sseEvent{{"", "a"}}},
		{name: "empty input", in: "", want: nil},
		{name: "binary junk", in: "\x00\xff\xfe\n\n", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAll(strings.NewReader(tt.in), 1<<20)
			assert.ErrorIs(t, err, io.EOF)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestSSEParserChunked parses the same stream delivered in chunks of 1, 2, 3,
// 17 and 4096 bytes with LF, CRLF and CR line endings.
func TestSSEParserChunked(t *testing.T) {
	big := strings.Repeat("x", 70_000) // beyond the initial buffer and go-sse's 64 KB default
	lines := []string{
		"\xEF\xBB\xBF: hello",
		"event: thoughts",
		`data: {"type":"thoughts","output":"hmm"}`,
		"",
		": keep-alive",
		"",
		"data: line one",
		"data: line two",
		"",
		"data: " + big,
		"",
		`data: {"type":"done","output":"bye"}`,
		"",
	}
	want := []sseEvent{
		{"thoughts", `{"type":"thoughts","output":"hmm"}`},
		{"", "line one\nline two"},
		{"", big},
		{"", `{"type":"done","output":"bye"}`},
	}
	for _, eol := range []struct{ name, s string }{{"LF", "\n"}, {"CRLF", "\r\n"}, {"CR", "\r"}} {
		stream := strings.Join(lines, eol.s) + eol.s
		for _, n := range []int{1, 2, 3, 17, 4096} {
			t.Run(eol.name+"/"+itoa(n), func(t *testing.T) {
				got, err := parseAll(&chunkReader{data: []byte(stream), n: n}, 1<<20)
				assert.ErrorIs(t, err, io.EOF)
				require.Len(t, got, len(want))
				for i := range want {
					assert.Equal(t, want[i].Type, got[i].Type, "event %d", i)
					assert.Equal(t, want[i].Data, got[i].Data, "event %d", i)
				}
			})
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestSSEParserLimits(t *testing.T) {
	t.Run("line over the cap", func(t *testing.T) {
		_, err := parseAll(strings.NewReader("data: "+strings.Repeat("a", 200)+"\n\n"), 100)
		assert.ErrorIs(t, err, ErrEventTooLarge)
	})
	t.Run("unterminated line over the cap", func(t *testing.T) {
		_, err := parseAll(iotest.OneByteReader(strings.NewReader(strings.Repeat("a", 1000))), 100)
		assert.ErrorIs(t, err, ErrEventTooLarge)
	})
	t.Run("many lines over the cap", func(t *testing.T) {
		_, err := parseAll(strings.NewReader(strings.Repeat("data: 0123456789\n", 20)+"\n"), 100)
		assert.ErrorIs(t, err, ErrEventTooLarge)
	})
	t.Run("exactly at the cap", func(t *testing.T) {
		got, err := parseAll(strings.NewReader("data:"+strings.Repeat("a", 95)+"\r\n\r\n"), 100)
		assert.ErrorIs(t, err, io.EOF)
		require.Len(t, got, 1)
		assert.Len(t, got[0].Data, 95)
	})
	t.Run("buffer stays bounded", func(t *testing.T) {
		p := newSSEParser(strings.NewReader(strings.Repeat("data: "+strings.Repeat("b", 90)+"\n\n", 1000)), 100)
		for {
			if _, _, err := p.next(); err != nil {
				break
			}
		}
		assert.LessOrEqual(t, len(p.buf), 102)
	})
	t.Run("reader error is returned", func(t *testing.T) {
		boom := errors.New("boom")
		got, err := parseAll(io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(boom)), 100)
		assert.ErrorIs(t, err, boom)
		assert.Equal(t, []sseEvent{{"", "a"}}, got)
	})
	t.Run("no progress", func(t *testing.T) {
		_, err := parseAll(emptyReader{}, 100)
		assert.ErrorIs(t, err, io.ErrNoProgress)
	})
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

// TestSSEParserLargeEventLinear feeds a multi-MiB event in 1 KiB reads; the
// parser must deliver it whole (a quadratic rescan would take minutes).
func TestSSEParserLargeEventLinear(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), (6<<20)/16)
	in := append(append([]byte("data: "), big...), "\r\n\r\n"...)
	got, err := parseAll(&chunkReader{data: in, n: 1024}, DefaultMaxEventSize)
	assert.ErrorIs(t, err, io.EOF)
	require.Len(t, got, 1)
	assert.Equal(t, len(big), len(got[0].Data))
	assert.True(t, got[0].Data == string(big))
}

// FuzzStreamParse feeds arbitrary bytes, in arbitrary chunk sizes, to the
// parser and the event decoder: no panic, no hang, bounded memory, and the
// same events whatever the chunking.
func FuzzStreamParse(f *testing.F) {
	f.Add([]byte("data: {\"type\":\"done\",\"output\":\"x\"}\n\n"), uint8(1))
	f.Add([]byte("\xEF\xBB\xBFevent: done\rdata: a\rdata: b\r\r: c\r\n"), uint8(3))
	f.Add([]byte("data: [DONE]\r\n\r\ndata: {\"type\": 1, \"output\": {\"a\": 2}}\n\n"), uint8(17))
	f.Add([]byte("data: {\"type\":\"approval_required\",\"arguments\":{\"x\":[1,2]},\"approval_id\":5}\n\n"), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		const max = 4096
		n := int(chunk%64) + 1
		whole, errWhole := parseAll(bytes.NewReader(in), max)
		pieces, errPieces := parseAll(&chunkReader{data: in, n: n}, max)
		if !errors.Is(errWhole, io.EOF) && !errors.Is(errWhole, ErrEventTooLarge) {
			t.Fatalf("unexpected error %v", errWhole)
		}
		if errors.Is(errWhole, io.EOF) != errors.Is(errPieces, io.EOF) {
			t.Fatalf("chunking changed the outcome: %v vs %v", errWhole, errPieces)
		}
		if errors.Is(errWhole, io.EOF) {
			require.Equal(t, whole, pieces)
		}
		for _, ev := range whole {
			if len(ev.Data) > max {
				t.Fatalf("event of %d bytes exceeds the cap", len(ev.Data))
			}
			_ = decodeEvent([]byte(ev.Type), []byte(ev.Data))
		}
		s := newStream(t.Context(), io.NopCloser(&chunkReader{data: in, n: n}), func() {}, DefaultIdleTimeout, max)
		for range len(in) + 2 {
			if _, err := s.Next(); err != nil {
				break
			}
		}
		_ = s.Close()
	})
}

// FuzzStreamDecode checks what decodeEvent promises on arbitrary data: a type
// always, and either the whole JSON object as Raw or the data as Output.
func FuzzStreamDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"done","output":"hi"}`,
		`{"type":"approval_required","output":"ok?","tool":"t","arguments":{"a":[1,"]}"]},"approval_id":7}`,
		`{"Type":"done","OUTPUT":"x"}`,
		`{"type":"done","output":"a\nb\u00e9"}`,
		` { "type" : "x" , "output" : null , "arguments" : null } `,
		`{"type":"done","type":"error"}`,
		`{"output":"\xff"}`,
		`{"a\u0074":1}`,
		`[1,2]`,
		`{"type": 1.5e3, "output": true, "tool": {"x": "}"}}`,
		`{"type":"a"}x`, `{"a":1,}`, `{,}`, `{"a" 1}`, `{"a":01}`, `{"output":"tab	here"}`, `{}`, ` {"arguments":[1,{"a":"\"}"}]} `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev := decodeEvent([]byte("status"), data)
		require.NotEmpty(t, ev.Type)
		trimmed := bytes.TrimLeft(data, " \t\r\n")
		if len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(data) {
			require.Equal(t, string(data), string(ev.Raw), "a JSON object is kept whole")
			if ev.Arguments != nil {
				require.True(t, json.Valid(ev.Arguments), "arguments are JSON")
			}
			return
		}
		require.Nil(t, ev.Raw)
		require.Equal(t, string(data), ev.Output, "other data is the output")
		require.Equal(t, "status", ev.Type)
	})
}
