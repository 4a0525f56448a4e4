package chat

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// testSyntax is a syntax with both kinds of token, to test the mechanism.
var testSyntax = MentionSyntax{Escapes: []string{"<@", "<!"}, MassWords: []string{"everyone", "here"}}

func TestMentionSyntax(t *testing.T) {
	const z = MentionBreaker
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"plain text", "no mentions here, mail me at a.b", "no mentions here, mail me at a.b"},
		{"escape", "hi <!all> and <@U1>", "hi <" + z + "!all> and <" + z + "@U1>"},
		{"mass word any case", "@EveryOne @HERE", "@" + z + "EveryOne @" + z + "HERE"},
		{"word not in the syntax", "@channel", "@channel"},
		{"ordinary @name untouched", "@ana and @bob", "@ana and @bob"},
		{"other brackets untouched", "a < b and <b>bold</b> <#C1>", "a < b and <b>bold</b> <#C1>"},
		{"at end of text", "mail @", "mail @"},
		{"lone bracket", "x <", "x <"},
		{"multibyte around", "世界@everyone世界", "世界@" + z + "everyone世界"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := testSyntax.NeutralizeMentions(tc.in)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, got, testSyntax.NeutralizeMentions(got), "idempotent")
			assert.Equal(t, tc.in, strings.ReplaceAll(got, z, ""), "only zero-width spaces are added")
		})
	}
	assert.Equal(t, "<@U1> @everyone", MentionSyntax{}.NeutralizeMentions("<@U1> @everyone"), "an empty syntax changes nothing")
}

func TestDefaultVisitorID(t *testing.T) {
	assert.Equal(t, "p:42", DefaultVisitorID(ConversationKey{Platform: "p", Workspace: "G", Channel: "C"}, User{ID: "42"}))
}

func BenchmarkNeutralizeMentions(b *testing.B) {
	text := strings.Repeat("Plain answer text with an email a@b.c and <https://example.com|a link>. ", 40) + "@everyone"
	b.ReportAllocs()
	for b.Loop() {
		testSyntax.NeutralizeMentions(text)
	}
}
