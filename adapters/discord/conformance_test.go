package discord

import (
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/adapters/discord/discordfake"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

func TestPlatformConformance(t *testing.T) {
	t.Parallel()
	bridgetest.RunPlatformConformance(t, func(t *testing.T) bridgetest.Harness {
		fake := discordfake.New()
		t.Cleanup(fake.Close)
		fake.AddChannel(discordfake.Channel{ID: testChannel, GuildID: testGuild, Type: discordfake.ChannelTypeGuildText})
		// A mention the conversation's thread will be created on.
		mention, err := fake.SendMessage(discordfake.UserMessage{GuildID: testGuild, ChannelID: testChannel,
			AuthorID: testUser, AuthorName: "ana", Content: "hello", MentionBot: true})
		if err != nil && err != discordfake.ErrNoConnection {
			t.Fatal(err)
		}
		a := newAdapter(t, fake, testConfig(), &bridgetest.SyncBuffer{})
		return bridgetest.Harness{
			Platform: a,
			Key:      chat.ConversationKey{Platform: Name, Workspace: testGuild, Channel: testChannel, Thread: mention},
			Pings:    discordPings,
			Inject429: func(retryAfter time.Duration) {
				fake.RateLimitEdits(1, retryAfter)
				fake.RateLimitPosts(1, retryAfter)
			},
			Observed: func(ref chat.MessageRef) (string, bool) {
				m, ok := fake.Snapshot().Message(ref.ID)
				return m.Content, ok && !m.Deleted
			},
			ObservedButtons: func(ref chat.MessageRef) int {
				m, _ := fake.Snapshot().Message(ref.ID)
				return len(m.Buttons())
			},
			ButtonActions: func(ref chat.MessageRef) []chat.Action {
				m, _ := fake.Snapshot().Message(ref.ID)
				var out []chat.Action
				for _, b := range m.Buttons() {
					if kind, target, ok := parseCustomID(b.CustomID); ok {
						out = append(out, chat.Action{Platform: Name, Kind: kind, Target: target})
					}
				}
				return out
			},
		}
	})
}
