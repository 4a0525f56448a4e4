package bridge_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
)

// TestApprovalCardCutsLongArguments: a tool call with kilobytes of arguments
// gets a card whose arguments are cut (and cannot ping), while the stored
// digest still covers the whole raw value.
func TestApprovalCardCutsLongArguments(t *testing.T) {
	raw, err := json.Marshal(map[string]string{
		"body":   strings.Repeat("é long text <!channel> @everyone ", 200),
		"target": "release",
	})
	require.NoError(t, err)
	require.Greater(t, len(raw), 5000)
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(func(streamCall) []step {
			return []step{{Type: promptev.EventApprovalRequired, Out: "Send this mail?", Tool: "mail.send", Args: string(raw)}}
		})
		r := startRig(t, agent)
		defer r.stop()
		key := engKey("1")
		r.send(key, "U1", "mail the team")
		settle()
		msgs := r.p.Messages(key)
		require.Len(t, msgs, 2, "placeholder and card")
		card := msgs[1].Message.Approval
		require.NotNil(t, card)

		n := utf8.RuneCountInString(card.Arguments)
		assert.LessOrEqual(t, n, 500, "arguments cut to the card limit")
		assert.Greater(t, n, 100, "a useful part of the arguments is shown")
		assert.True(t, strings.HasSuffix(card.Arguments, "…"), "the cut is visible")
		assert.True(t, utf8.ValidString(card.Arguments), "no rune cut in half")
		assert.NotContains(t, card.Arguments, "<!channel>")
		assert.NotContains(t, card.Arguments, "@everyone")
		assert.LessOrEqual(t, utf8.RuneCountInString(r.p.Text(msgs[1].Ref)), bridgetest.WorkspaceLimits().MaxMessageChars)

		a, err := r.store.GetApproval(t.Context(), card.ID)
		require.NoError(t, err)
		sum := sha256.Sum256(raw)
		assert.Equal(t, hex.EncodeToString(sum[:]), a.ArgumentsDigest, "digest over the whole raw arguments")
		assert.Equal(t, chat.ApprovalPending, a.State)
	})
}
