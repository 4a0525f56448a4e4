package bridge

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/promptev/promptev-bridge/promptev"
)

// On a platform, a failure the operator must fix asks to tell them; in a
// terminal session the person chatting is the operator, and the notice
// points at the printed call instead.
func TestAgentErrorTextAddressesTheOperatorAtHand(t *testing.T) {
	for _, status := range []int{401, 403, 404} {
		err := &promptev.Error{StatusCode: status, Message: "refused"}
		assert.Contains(t, agentErrorText(err, false), "Please tell the operator.", status)
		at := agentErrorText(err, true)
		assert.NotContains(t, at, "tell the operator", status)
		assert.Contains(t, at, "printed below", status)
	}
	assert.Equal(t, agentErrorText(&promptev.Error{StatusCode: 503}, false), agentErrorText(&promptev.Error{StatusCode: 503}, true),
		"a failure the operator cannot fix reads the same")
}
