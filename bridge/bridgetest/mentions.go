package bridgetest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/promptev/promptev-bridge/chat"
)

// CheckMentionGuard runs a platform's chat.MentionGuard on every case (its
// name, a text, and what the text must become) and
// checks, beside the wanted text, what holds for every rule: it is
// idempotent, it only adds chat.MentionBreaker, and no text of pings (what
// the platform turns into a live mention) is left.
func CheckMentionGuard(t *testing.T, g chat.MentionGuard, cases [][3]string, pings []string) {
	t.Helper()
	for _, tc := range cases {
		name, in, want := tc[0], tc[1], tc[2]
		t.Run(name, func(t *testing.T) {
			got := g.NeutralizeMentions(in)
			assert.Equal(t, want, got)
			assert.Equal(t, got, g.NeutralizeMentions(got), "idempotent")
			assert.Equal(t, in, strings.ReplaceAll(got, chat.MentionBreaker, ""), "only mention breakers are added")
			for _, ping := range pings {
				assert.NotContains(t, got, ping)
			}
		})
	}
}
