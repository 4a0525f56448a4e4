package discord

import (
	"strings"
	"testing"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

// discordPings are the texts Discord turns into live mentions.
var discordPings = []string{"<@123456789>", "<@!123456789>", "<@&987654321>", "@everyone", "@here"}

func TestNeutralizeMentions(t *testing.T) {
	const z = chat.MentionBreaker
	bridgetest.CheckMentionGuard(t, &Adapter{}, [][3]string{ // name, text, wanted
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
	}, discordPings)
}

func BenchmarkNeutralizeMentions(b *testing.B) {
	text := strings.Repeat("Plain answer text with an email a@b.c and <https://example.com|a link>. ", 40) + "@everyone"
	b.ReportAllocs()
	for b.Loop() {
		neutralizeMentions(text)
	}
}
