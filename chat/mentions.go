package chat

import "strings"

// MentionBreaker is inserted to break a mention token: a zero-width space,
// invisible to readers, which no chat platform parses as part of a mention.
const MentionBreaker = "\u200b"

// MentionSyntax describes how a platform's text can ping people, for
// NeutralizeMentions. Each adapter declares its own; the mechanism is shared.
type MentionSyntax struct {
	// Escapes are the openings of mention tokens, such as "<@" or "<!". A
	// MentionBreaker goes after the first byte of each.
	Escapes []string
	// MassWords are the words that ping a whole channel or server when they
	// follow a bare '@' (in any letter case), such as "everyone". A
	// MentionBreaker goes after the '@'.
	MassWords []string
}

// NeutralizeMentions returns s unable to ping anyone under the syntax. The
// visible text is unchanged (only zero-width spaces are added) and applying
// it twice changes nothing more.
func (m MentionSyntax) NeutralizeMentions(s string) string {
	if !strings.ContainsAny(s, "<@") {
		return s
	}
	var b strings.Builder
	last := 0 // s[last:] has not been written yet
	for i := 0; i < len(s); i++ {
		j := strings.IndexAny(s[i:], "<@")
		if j < 0 {
			break
		}
		i += j
		if !m.breaksAt(s, i) {
			continue
		}
		b.Grow(len(s) + 8)
		b.WriteString(s[last : i+1])
		b.WriteString(MentionBreaker)
		last = i + 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// breaksAt reports whether a mention token starts at s[i].
func (m MentionSyntax) breaksAt(s string, i int) bool {
	for _, e := range m.Escapes {
		if strings.HasPrefix(s[i:], e) {
			return true
		}
	}
	if s[i] != '@' {
		return false
	}
	rest := s[i+1:]
	for _, w := range m.MassWords {
		if len(rest) >= len(w) && strings.EqualFold(rest[:len(w)], w) {
			return true
		}
	}
	return false
}
