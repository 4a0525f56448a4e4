package consoletest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTerminal(t *testing.T) {
	tests := []struct {
		name, in string
		width    int
		want     []string
	}{
		{"lines", "a\nb\n", 10, []string{"a", "b"}},
		{"wrap at the width", "abcdefghijkl\n", 5, []string{"abcde", "fghij", "kl"}},
		{"exactly the width takes one row", "abcde\nx\n", 5, []string{"abcde", "x"}},
		{"a wide character does not straddle the edge", "abcd測\n", 5, []string{"abcd", "測"}},
		{"emoji are wide", "💭💭x\n", 5, []string{"💭💭x"}},
		{"rewrite: up and clear", "one\ntwo\n\x1b[2F\x1b[Jthree\n", 10, []string{"three"}},
		{"rewrite of the last row only", "one\ntwo\n\x1b[1F\x1b[Jthree\n", 10, []string{"one", "three"}},
		{"carriage return", "abc\rX\n", 10, []string{"Xbc"}},
		{"clear the row", "> \r\x1b[Kanswer\n", 10, []string{"answer"}},
		{"a prompt replaced, then a rewrite from its row", "one\n> \r\x1b[K\x1b[1F\x1b[Jtwo\n> ", 10, []string{"two", ">"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := New(tt.width)
			// Written in pieces, escapes and runes split across writes.
			for _, b := range []byte(tt.in) {
				_, _ = tm.Write([]byte{b})
			}
			assert.Equal(t, tt.want, tm.Lines(), strings.ReplaceAll(tt.in, "\x1b", "ESC"))
		})
	}
}
