// Package consoletest is a model of a terminal for tests of the console
// adapter and of the commands that draw on a terminal (demo, chat, run with
// the console): what a person would see on the screen.
package consoletest

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// Terminal is a model of a terminal: a grid of rows of the given width, the
// auto-wrap of a real terminal (a character wider than the room left on a
// row moves to the next row whole), "\n" (with the usual output translation
// to a new row at column 0), "\r", and the escapes the console uses:
// ESC[nF (cursor n rows up, to column 0), ESC[J (clear to the end of the
// screen) and ESC[K (clear to the end of the row); any other escape panics,
// so a test cannot pass over output it misreads. Character widths follow Unicode's East Asian Width (wide and
// fullwidth characters, most emoji, take two columns). Everything written
// goes through Write: the console's output, the echo of typed lines and
// other writers' lines. It is safe for concurrent use.
type Terminal struct {
	mu       sync.Mutex
	width    int
	rows     [][]rune // each cell; 0 is the right half of a wide character
	row, col int
	wrapNext bool // the cursor sits past the last column (a real terminal's pending wrap)
	pending  []byte
}

// New returns an empty terminal width columns wide.
func New(width int) *Terminal { return &Terminal{width: width, rows: [][]rune{nil}} }

// Write implements io.Writer.
func (t *Terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := append(t.pending, p...)
	t.pending = nil
	for len(b) > 0 {
		if b[0] == 0x1b {
			// A CSI sequence: ESC [ parameters, then a final byte in @..~.
			end := 2
			for end < len(b) && (b[end] < 0x40 || b[end] > 0x7e) {
				end++
			}
			if end >= len(b) {
				t.pending = append([]byte(nil), b...)
				break
			}
			t.escape(string(b[2:end]), b[end])
			b = b[end+1:]
			continue
		}
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && !utf8.FullRune(b) {
			t.pending = append([]byte(nil), b...)
			break
		}
		b = b[n:]
		t.put(r)
	}
	return len(p), nil
}

func (t *Terminal) escape(arg string, cmd byte) {
	switch cmd {
	case 'F':
		n, _ := strconv.Atoi(arg)
		t.row = max(0, t.row-max(n, 1))
		t.col, t.wrapNext = 0, false
	case 'J':
		t.rows[t.row] = t.rows[t.row][:min(t.col, len(t.rows[t.row]))]
		t.rows = t.rows[:t.row+1]
	case 'K':
		t.rows[t.row] = t.rows[t.row][:min(t.col, len(t.rows[t.row]))]
	default:
		panic(fmt.Sprintf("consoletest: unsupported escape ESC[%s%c", arg, cmd))
	}
}

func (t *Terminal) put(r rune) {
	switch r {
	case '\n':
		t.newRow()
		return
	case '\r':
		t.col, t.wrapNext = 0, false
		return
	}
	w := runeWidth(r)
	if w == 0 {
		return
	}
	if t.wrapNext || t.col+w > t.width {
		t.newRow()
	}
	line := t.rows[t.row]
	for len(line) < t.col+w {
		line = append(line, ' ')
	}
	line[t.col] = r
	if w == 2 {
		line[t.col+1] = 0
	}
	t.rows[t.row] = line
	t.col += w
	if t.col == t.width {
		t.col, t.wrapNext = t.width-1, true
	}
}

func (t *Terminal) newRow() {
	t.row++
	t.col, t.wrapNext = 0, false
	if t.row == len(t.rows) {
		t.rows = append(t.rows, nil)
	}
}

// Lines returns the screen's rows as text, without trailing blanks.
func (t *Terminal) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, row := range t.rows {
		var b strings.Builder
		for _, r := range row {
			if r != 0 {
				b.WriteRune(r)
			}
		}
		out = append(out, strings.TrimRight(b.String(), " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// runeWidth is the columns r takes: 0 for combining marks and zero-width
// characters, 2 for East Asian wide and fullwidth ones, else 1.
func runeWidth(r rune) int {
	switch {
	case r == 0x200B || r == 0x200C || r == 0x200D || r == 0xFE0F || unicode.Is(unicode.Mn, r):
		return 0
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}
