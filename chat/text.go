package chat

import (
	"strings"
	"unicode/utf8"
)

// TruncateRunes cuts s to at most max runes, ending with "…" when it cut
// anything; it never splits a rune. Adapters use it to fit native limits.
func TruncateRunes(s string, max int) string {
	if max <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// OneLine collapses every run of white space, line breaks included, into
// one space, for texts shown on a single line (status, steps, arguments).
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
