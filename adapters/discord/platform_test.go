package discord

import (
	"strings"
	"testing"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/stretchr/testify/assert"
)

// discordPings are the texts Discord turns into live mentions.
var discordPings = []string{"<@123456789>", "<@!123456789>", "<@&987654321>", "@everyone", "@here"}

func TestNeutralizeMentions(t *testing.T) {
	const z = chat.MentionBreaker
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"plain text", "no mentions here, mail me at a.b", "no mentions here, mail me at a.b"},
		{"everyone", "@everyone look", "@" + z + "everyone look"},
		{"here", "@here", "@" + z + "here"},
		{"any case", "@EveryOne @HERE", "@" + z + "EveryOne @" + z + "HERE"},
		{"user", "<@123456789>", "<" + z + "@123456789>"},
		{"nickname user", "<@!123456789>", "<" + z + "@!123456789>"},
		{"role", "<@&987654321>", "<" + z + "@&987654321>"},
		{"inside a code fence too", "```\n@everyone\n```", "```\n@" + z + "everyone\n```"},
		{"channel link untouched", "see <#123>", "see <#123>"},
		{"ordinary @name untouched", "@ana and @bob", "@ana and @bob"},
		{"at end of text", "mail @", "mail @"},
		{"multibyte around", "世界@everyone世界", "世界@" + z + "everyone世界"},
	}
	a := &Adapter{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := a.NeutralizeMentions(tc.in)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, got, a.NeutralizeMentions(got), "idempotent")
			assert.Equal(t, tc.in, strings.ReplaceAll(got, z, ""), "only zero-width spaces are added")
			for _, ping := range discordPings {
				assert.NotContains(t, got, ping)
			}
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
