package chat

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNeutralizeMentions(t *testing.T) {
	const z = mentionBreaker
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"plain text", "no mentions here, mail me at a.b", "no mentions here, mail me at a.b"},
		{"slack channel", "hi <!channel> all", "hi <" + z + "!channel> all"},
		{"slack here", "<!here>", "<" + z + "!here>"},
		{"slack everyone", "<!everyone>", "<" + z + "!everyone>"},
		{"slack here with label", "<!here|here>", "<" + z + "!here|here>"},
		{"slack user group", "<!subteam^S123|@oncall>", "<" + z + "!subteam^S123|@oncall>"},
		{"slack user", "ask <@U123ABC>", "ask <" + z + "@U123ABC>"},
		{"slack user with label", "<@U123|ana>", "<" + z + "@U123|ana>"},
		{"discord everyone", "@everyone look", "@" + z + "everyone look"},
		{"discord here", "@here", "@" + z + "here"},
		{"any case", "@EveryOne @HERE @Channel", "@" + z + "EveryOne @" + z + "HERE @" + z + "Channel"},
		{"discord user", "<@123456789>", "<" + z + "@123456789>"},
		{"discord nickname user", "<@!123456789>", "<" + z + "@!123456789>"},
		{"discord role", "<@&987654321>", "<" + z + "@&987654321>"},
		{"inside a code fence too", "```\n@everyone\n```", "```\n@" + z + "everyone\n```"},
		{"channel link untouched", "see <#C123|general>", "see <#C123|general>"},
		{"ordinary @name untouched", "@ana and @bob", "@ana and @bob"},
		{"html and comparisons untouched", "a < b and <b>bold</b>", "a < b and <b>bold</b>"},
		{"at end of text", "mail @", "mail @"},
		{"lone bracket", "x <", "x <"},
		{"multibyte around", "世界@everyone世界", "世界@" + z + "everyone世界"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := neutralizeMentions(tc.in)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, got, neutralizeMentions(got), "idempotent")
			assert.Equal(t, got, NeutralizeMentions(tc.in))
			assert.Equal(t, tc.in, strings.ReplaceAll(got, z, ""), "only zero-width spaces are added")
			for _, ping := range []string{"<!channel>", "<!here>", "<!everyone>", "<@U123ABC>", "<@123456789>", "<@!123456789>", "<@&987654321>"} {
				assert.NotContains(t, got, ping)
			}
			assert.NotContains(t, strings.ToLower(got), "@everyone")
			assert.NotContains(t, strings.ToLower(got), "@here")
		})
	}
}

func BenchmarkNeutralizeMentions(b *testing.B) {
	text := strings.Repeat("Plain answer text with an email a@b.c and <https://example.com|a link>. ", 40) + "@everyone"
	b.ReportAllocs()
	for b.Loop() {
		neutralizeMentions(text)
	}
}
