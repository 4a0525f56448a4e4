package bridge

import (
	"strings"
	"unicode/utf8"
)

// Code fence handling limits of splitText.
const (
	// maxFenceLine is the longest line (in runes) treated as a fence opener or
	// closer; longer lines are text. It bounds the cost of closing and
	// re-opening a fence around a split.
	maxFenceLine = 32
	// minFenceMax is the least chunk size at which splitText closes and
	// re-opens code fences; below it, fences are split like text.
	minFenceMax = 128
)

// fence is an open code fence.
type fence struct {
	char   byte   // '`' or '~'
	n      int    // length of the marker run
	opener string // the opener line as written, without its line break
}

// closer returns the line that closes f.
func (f *fence) closer() string { return strings.Repeat(string(f.char), f.n) }

// fenceMarker parses line as a possible fence line, regardless of context: up to
// three spaces, a run of at least three '`' or '~', then the rest of the line.
// Lines longer than maxFenceLine runes are never fence lines.
func fenceMarker(line string) (char byte, n int, rest string, ok bool) {
	if len(line) > maxFenceLine*utf8.UTFMax || utf8.RuneCountInString(line) > maxFenceLine {
		return 0, 0, "", false
	}
	i := 0
	for i < len(line) && i < 3 && line[i] == ' ' {
		i++
	}
	if i >= len(line) || (line[i] != '`' && line[i] != '~') {
		return 0, 0, "", false
	}
	c := line[i]
	j := i
	for j < len(line) && line[j] == c {
		j++
	}
	if j-i < 3 {
		return 0, 0, "", false
	}
	return c, j - i, line[j:], true
}

// stepFence returns the fence state after line, given the state before it.
func stepFence(open *fence, line string) *fence {
	c, n, rest, ok := fenceMarker(line)
	if !ok {
		return open
	}
	if open == nil {
		if c == '`' && strings.IndexByte(rest, '`') >= 0 {
			return nil // not an opener: a backtick info string has no backticks
		}
		return &fence{char: c, n: n, opener: strings.TrimRight(line, "\r")}
	}
	if c == open.char && n >= open.n && strings.Trim(rest, " \t\r") == "" {
		return nil
	}
	return open
}

// scanFences returns the fence state after text (every line, the last one
// included even without a line break), given the state before it.
func scanFences(open *fence, text string) *fence {
	for len(text) > 0 {
		line := text
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = ""
		}
		open = stepFence(open, line)
	}
	return open
}

// splitText splits Markdown into chunks of at most max runes: on paragraph,
// then line, then sentence, then word boundaries; never inside a UTF-8 rune; a
// chunk that ends inside a ``` fence closes it and the next chunk re-opens it
// with the same info string (so every chunk is valid Markdown).
//
// The separator at a split (a line break or a space) is dropped, as are line
// breaks that would start a chunk outside a fence. Invalid UTF-8 is replaced
// by U+FFFD. Fences are closed and re-opened only when max is at least
// minFenceMax; fence lines longer than maxFenceLine runes are treated as text.
// A text of at most max runes is returned as its only chunk (with a closing
// line added when it ends inside a fence, if that fits).
func splitText(md string, max int) []string {
	md = strings.ToValidUTF8(md, "\uFFFD")
	if max < 1 {
		max = 1
	}
	fences := max >= minFenceMax
	var chunks []string
	var open *fence
	rest := md
	for {
		prefix := ""
		if open != nil {
			prefix = open.opener + "\n"
		}
		budget := max - utf8.RuneCountInString(prefix)
		suffix := ""
		if fitsRunes(rest, budget) {
			if fences {
				if end := scanFences(open, rest); end != nil {
					suffix = "\n" + end.closer()
				}
			}
			if utf8.RuneCountInString(rest)+utf8.RuneCountInString(suffix) <= budget {
				return append(chunks, prefix+rest+suffix)
			}
		}
		room := budget
		if fences {
			room -= maxFenceLine + 1 // for a closing line
		}
		cut, next := chooseCut(rest, room)
		piece := rest[:cut]
		var after *fence
		if fences {
			after = scanFences(open, piece)
		}
		chunk := prefix + piece
		if after != nil {
			chunk += "\n" + after.closer()
		}
		chunks = append(chunks, chunk)
		open = after
		rest = rest[next:]
		if open == nil {
			rest = strings.TrimLeft(rest, "\r\n")
			if strings.TrimSpace(rest) == "" {
				return chunks
			}
		} else if rest == "" {
			return chunks
		}
	}
}

// Boundary classes, in order of preference.
const (
	cutParagraph = iota
	cutLine
	cutSentence
	cutWord
	numCutClasses
)

// chooseCut picks where to end the next chunk of rest, which holds more than
// room runes: the piece is rest[:cut] (at most room runes) and the next chunk
// starts at rest[next:]. It prefers the best boundary class found in the second
// half of the window (where a chunk would not end with a heading), then any
// boundary, then a cut between runes.
func chooseCut(rest string, room int) (cut, next int) {
	w := byteOffset(rest, room)
	for pass, lo := range [...]int{w / 2, 1} {
		for class := range numCutClasses {
			for i := w; i >= lo && i >= 1; i-- {
				if isBoundary(rest, i, class) && safeCut(rest, i, i+1) &&
					(pass > 0 || class > cutLine || !endsWithHeading(rest[:i])) {
					return i, i + 1
				}
			}
		}
	}
	for i := w; i >= 1; i-- {
		if utf8.RuneStart(rest[i]) && safeCut(rest, i, i) {
			return i, i
		}
	}
	return w, w
}

// fitsRunes reports whether s has at most n runes, without counting a long s.
func fitsRunes(s string, n int) bool {
	if len(s) <= n {
		return true
	}
	if len(s) > n*utf8.UTFMax {
		return false
	}
	return utf8.RuneCountInString(s) <= n
}

// byteOffset returns the byte offset after the first n runes of s (len(s) when
// s is shorter).
func byteOffset(s string, n int) int {
	for i := range s {
		if n == 0 {
			return i
		}
		n--
	}
	return len(s)
}

// endsWithHeading reports whether the last line of s is a Markdown ATX heading
// ("## Title"), which should start the next chunk rather than end this one.
func endsWithHeading(s string) bool {
	line := s[strings.LastIndexByte(s, '\n')+1:]
	line = strings.TrimLeft(line, " ")
	n := 0
	for n < len(line) && line[n] == '#' {
		n++
	}
	return n >= 1 && n <= 6 && (n == len(line) || line[n] == ' ' || line[n] == '\t')
}

// isBoundary reports whether a chunk may end before rest[i] (dropping the
// separator rest[i]) at the given class of boundary. A chunk ends at the first
// line break of a run, so it does not end with blank lines. 1 <= i < len(rest).
func isBoundary(rest string, i, class int) bool {
	switch class {
	case cutParagraph:
		return rest[i] == '\n' && rest[i-1] != '\n' && i+1 < len(rest) && rest[i+1] == '\n'
	case cutLine:
		return rest[i] == '\n' && rest[i-1] != '\n'
	case cutSentence:
		return rest[i] == ' ' && strings.IndexByte(".!?:;", rest[i-1]) >= 0
	default:
		return rest[i] == ' ' || rest[i] == '\t'
	}
}

// safeCut reports whether ending a chunk at cut and starting the next at next
// keeps every line's meaning: a fence line is never cut, and the two parts of a
// cut line must not look like fence lines on their own.
func safeCut(rest string, cut, next int) bool {
	if cut >= len(rest) || rest[cut] == '\n' {
		return true
	}
	// Only lines of at most maxFenceLine runes (maxFenceLine*UTFMax bytes) can
	// be fence lines: look no further than that around the cut. A line end
	// beyond the span is as good as far away.
	const span = maxFenceLine*utf8.UTFMax + 2
	lo := max(0, cut-span)
	start := -1 // far before
	if i := strings.LastIndexByte(rest[lo:cut], '\n'); i >= 0 {
		start = lo + i + 1
	} else if lo == 0 {
		start = 0
	}
	hi := min(len(rest), cut+span)
	end := -1 // far after
	if i := strings.IndexByte(rest[cut:hi], '\n'); i >= 0 {
		end = cut + i
	} else if hi == len(rest) {
		end = len(rest)
	}
	looksFence := func(s string) bool {
		_, _, _, ok := fenceMarker(s)
		return ok
	}
	if start >= 0 && end >= 0 && looksFence(rest[start:end]) {
		return false
	}
	if start >= 0 && looksFence(rest[start:cut]) {
		return false
	}
	if end >= 0 && next <= end && looksFence(rest[next:end]) {
		return false
	}
	return true
}
