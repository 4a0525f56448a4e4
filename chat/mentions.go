package chat

import "strings"

// mentionBreaker is inserted to break a mention token: a zero-width space,
// invisible to readers, which neither Slack nor Discord parses as part of a
// mention.
const mentionBreaker = "\u200b"

// massMentionWords are the words that, after an '@', ping a whole channel or
// server on some platform (Discord @everyone/@here, Slack @channel/@here with
// link_names).
var massMentionWords = [...]string{"everyone", "here", "channel"}

// NeutralizeMentions makes text unable to ping anyone on Slack or Discord. It
// is what the bridge applies to agent text; adapters may apply it again to any
// text they send (it is idempotent).
//
// Slack escapes (<!channel>, <!here>, <!everyone>, <!subteam^ID>, <@U123>) and
// Discord mentions (<@123>, <@!123>, <@&123>) get a zero-width space after the
// '<'; the bare words @everyone, @here and @channel (in any letter case) get one
// after the '@'. The visible text is unchanged.
func NeutralizeMentions(s string) string { return neutralizeMentions(s) }

// neutralizeMentions makes agent text unable to ping, for every platform; see
// NeutralizeMentions.
func neutralizeMentions(s string) string {
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
		var breakAfter bool
		if s[i] == '<' {
			breakAfter = i+1 < len(s) && (s[i+1] == '@' || s[i+1] == '!')
		} else {
			breakAfter = isMassMention(s[i+1:])
		}
		if breakAfter {
			b.Grow(len(s) + 8)
			b.WriteString(s[last : i+1])
			b.WriteString(mentionBreaker)
			last = i + 1
		}
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// isMassMention reports whether rest (the text after an '@') starts with a
// mass-mention word, in any letter case.
func isMassMention(rest string) bool {
	for _, w := range massMentionWords {
		if len(rest) >= len(w) && strings.EqualFold(rest[:len(w)], w) {
			return true
		}
	}
	return false
}
