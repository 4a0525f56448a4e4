package slack

import (
	"strings"
	"testing"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/stretchr/testify/assert"
)

// slackPings are the texts Slack turns into live mentions.
var slackPings = []string{"<!channel>", "<!here>", "<!everyone>", "<!subteam^S123>", "<@U123ABC>", "@channel", "@here", "@everyone"}

func TestNeutralizeMentions(t *testing.T) {
	const z = chat.MentionBreaker
	bridgetest.CheckMentionGuard(t, &Adapter{}, [][3]string{ // name, text, wanted
		{"plain text", "no mentions here, mail me at a.b", "no mentions here, mail me at a.b"},
		{"channel", "hi <!channel> all", "hi <" + z + "!channel> all"},
		{"here", "<!here>", "<" + z + "!here>"},
		{"everyone", "<!everyone>", "<" + z + "!everyone>"},
		{"here with label", "<!here|here>", "<" + z + "!here|here>"},
		{"user group", "<!subteam^S123|@oncall>", "<" + z + "!subteam^S123|@oncall>"},
		{"user", "ask <@U123ABC>", "ask <" + z + "@U123ABC>"},
		{"user with label", "<@U123|ana>", "<" + z + "@U123|ana>"},
		{"bare words in any case", "@EveryOne @HERE @Channel", "@" + z + "EveryOne @" + z + "HERE @" + z + "Channel"},
		{"inside a code fence too", "```\n@channel\n```", "```\n@" + z + "channel\n```"},
		{"channel link untouched", "see <#C123|general>", "see <#C123|general>"},
		{"ordinary @name untouched", "@ana and @bob", "@ana and @bob"},
		{"html and comparisons untouched", "a < b and <b>bold</b>", "a < b and <b>bold</b>"},
		{"multibyte around", "世界@here世界", "世界@" + z + "here世界"},
	}, slackPings)
}

func TestVisitorIDIsPerWorkspace(t *testing.T) {
	a := &Adapter{}
	assert.Equal(t, "slack:T1:U1", a.VisitorID(chat.ConversationKey{Platform: Name, Workspace: "T1", Channel: "C"}, chat.User{ID: "U1"}))
	assert.NotEqual(t, a.VisitorID(chat.ConversationKey{Platform: Name, Workspace: "T1", Channel: "C"}, chat.User{ID: "U1"}),
		a.VisitorID(chat.ConversationKey{Platform: Name, Workspace: "T2", Channel: "C"}, chat.User{ID: "U1"}),
		"the same user id in two workspaces is two visitors")
}

func BenchmarkNeutralizeMentions(b *testing.B) {
	text := strings.Repeat("Plain answer text with an email a@b.c and <https://example.com|a link>. ", 40) + "@everyone"
	b.ReportAllocs()
	for b.Loop() {
		neutralizeMentions(text)
	}
}
