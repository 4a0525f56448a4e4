package slack

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/slack-go/slack"
)

// TestPlatformConformance runs the bridge's platform suite against the
// adapter wired to slackfake through the real slack-go client.
func TestPlatformConformance(t *testing.T) {
	bridgetest.RunPlatformConformance(t, func(t *testing.T) bridgetest.Harness {
		fake := slackfake.New(t)
		a := newFakeAdapter(t, fake, func(c *Config) { c.AssistantStatus = true })
		key := chat.ConversationKey{Platform: Name, Workspace: slackfake.TeamID, Channel: "C0CONF", Thread: fake.NextTS()}
		return bridgetest.Harness{
			Platform: a,
			Key:      key,
			Pings:    slackPings,
			Inject429: func(retryAfter time.Duration) {
				secs := max(1, int(retryAfter/time.Second))
				fake.RateLimit("chat.update", 1, secs)
				fake.RateLimit("chat.postMessage", 1, secs)
			},
			Observed: func(ref chat.MessageRef) (string, bool) {
				m, ok := fake.Message(refChannel(ref), ref.ID)
				if !ok || m.Deleted {
					return "", false
				}
				return m.BlockText(), true
			},
			ObservedButtons: func(ref chat.MessageRef) int {
				m, ok := fake.Message(refChannel(ref), ref.ID)
				require.True(t, ok)
				n := 0
				for _, id := range []string{ActionApprove, ActionDeny} {
					if m.ButtonValue(id) != "" {
						n++
					}
				}
				return n
			},
			ButtonActions: func(ref chat.MessageRef) []chat.Action {
				m, ok := fake.Message(refChannel(ref), ref.ID)
				require.True(t, ok)
				var out []chat.Action
				for _, b := range m.Buttons() {
					click := slackfake.ClickOn(m, "U0CONF", b.ActionID)
					var cb slack.InteractionCallback
					require.NoError(t, json.Unmarshal(fake.ClickBody(click), &cb))
					out = append(out, actionsFromCallback(cb, time.Now())...)
				}
				return out
			},
			ObservedEphemeral: func(userID string) []string {
				var out []string
				for _, c := range fake.Calls("chat.postEphemeral") {
					if c.User == userID && c.Channel == key.Channel && c.Error == "" {
						out = append(out, c.Text)
					}
				}
				return out
			},
		}
	})
}
