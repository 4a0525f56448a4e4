package console

import (
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// term is a model of a terminal for the TTY-mode tests: a grid of rows of
// the given width, the auto-wrap of a real terminal (a character wider than
// the room left on a row moves to the next row whole), "\n" (with the
// usual output translation to a new row at column 0), "\r", and the two
// escapes the console uses: ESC[nF (cursor n rows up, to column 0) and ESC[J
// (clear to the end of the screen). Everything written goes through Write:
// the console's output, the echo of typed lines and other writers' lines.
type term struct {
	mu       sync.Mutex
	width    int
	rows     [][]rune // each cell; 0 is the right half of a wide character
	row, col int
	wrapNext bool // the cursor sits past the last column (a real terminal's pending wrap)
	pending  []byte
}

func newTerm(width int) *term { return &term{width: width, rows: [][]rune{nil}} }

func (t *term) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := append(t.pending, p...)
	t.pending = nil
	for len(b) > 0 {
		if b[0] == 0x1b {
			end := strings.IndexAny(string(b), "FJ")
			if end < 0 {
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

func (t *term) escape(arg string, cmd byte) {
	switch cmd {
	case 'F':
		n, _ := strconv.Atoi(arg)
		t.row = max(0, t.row-max(n, 1))
		t.col, t.wrapNext = 0, false
	case 'J':
		t.rows[t.row] = t.rows[t.row][:min(t.col, len(t.rows[t.row]))]
		t.rows = t.rows[:t.row+1]
	}
}

func (t *term) put(r rune) {
	switch r {
	case '\n':
		t.newRow()
		return
	case '\r':
		t.col, t.wrapNext = 0, false
		return
	}
	w := displayWidth(string(r))
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

func (t *term) newRow() {
	t.row++
	t.col, t.wrapNext = 0, false
	if t.row == len(t.rows) {
		t.rows = append(t.rows, nil)
	}
}

// Lines returns the screen's rows as text, without trailing blanks.
func (t *term) Lines() []string {
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
