package discord

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/discord/discordfake"
	"github.com/promptev/promptev-bridge/chat"
)

// sentinel is a DM sent after a message that should be dropped: messages are
// handed over in gateway order, so when the sentinel arrives first, the
// message before it was dropped.
func (r *rig) sentinel(t *testing.T) {
	t.Helper()
	_, err := r.fake.SendMessage(discordfake.UserMessage{ChannelID: testDM, AuthorID: testUser, AuthorName: "ana", Content: "sentinel"})
	require.NoError(t, err)
}

func TestInboundMapping(t *testing.T) {
	t.Parallel()
	const thread = "1300000000000000099"
	tests := []struct {
		name       string
		autoThread bool
		msg        discordfake.UserMessage
		// want is the expected message; nil means the message is dropped.
		want func(id string) *chat.InboundMessage
	}{
		{
			name: "mention in a text channel keys a new thread on the message", autoThread: true,
			msg: discordfake.UserMessage{GuildID: testGuild, ChannelID: testChannel, AuthorID: testUser, AuthorName: "ana",
				Nick: "Ana N", Content: "what is our **uptime**?", MentionBot: true},
			want: func(id string) *chat.InboundMessage {
				return &chat.InboundMessage{
					Key:  chat.ConversationKey{Platform: "discord", Workspace: testGuild, Channel: testChannel, Thread: id},
					User: chat.User{ID: testUser, Name: "Ana N"}, Text: "what is our **uptime**?", MessageID: id, Mentioned: true,
				}
			},
		},
		{
			name: "mention with auto_thread off keys the channel", autoThread: false,
			msg: discordfake.UserMessage{GuildID: testGuild, ChannelID: testChannel, AuthorID: testUser, AuthorName: "ana",
				Content: "hi", MentionBot: true},
			want: func(id string) *chat.InboundMessage {
				return &chat.InboundMessage{
					Key:  chat.ConversationKey{Platform: "discord", Workspace: testGuild, Channel: testChannel},
					User: chat.User{ID: testUser, Name: "ana"}, Text: "hi", MessageID: id, Mentioned: true,
				}
			},
		},
		{
			name: "DM replies inline and always addresses the bot", autoThread: true,
			msg: discordfake.UserMessage{ChannelID: "1300000000000000077", AuthorID: testUser, AuthorName: "ana", Content: "hello there"},
			want: func(id string) *chat.InboundMessage {
				return &chat.InboundMessage{
					Key:  chat.ConversationKey{Platform: "discord", Workspace: "dm", Channel: "1300000000000000077"},
					User: chat.User{ID: testUser, Name: "ana"}, Text: "hello there", MessageID: id, Mentioned: true,
				}
			},
		},
		{
			name: "message in a thread continues without a mention", autoThread: true,
			msg: discordfake.UserMessage{GuildID: testGuild, ChannelID: thread, AuthorID: testUser, AuthorName: "ana", Content: "and then?"},
			want: func(id string) *chat.InboundMessage {
				return &chat.InboundMessage{
					Key:  chat.ConversationKey{Platform: "discord", Workspace: testGuild, Channel: testChannel, Thread: thread},
					User: chat.User{ID: testUser, Name: "ana"}, Text: "and then?", MessageID: id,
				}
			},
		},
		{
			name: "legacy nickname mention is stripped", autoThread: true,
			msg: discordfake.UserMessage{GuildID: testGuild, ChannelID: thread, AuthorID: testUser, AuthorName: "ana",
				Content: "<@!" + discordfake.BotID + "> status?"},
			want: func(id string) *chat.InboundMessage {
				return &chat.InboundMessage{
					Key:  chat.ConversationKey{Platform: "discord", Workspace: testGuild, Channel: testChannel, Thread: thread},
					User: chat.User{ID: testUser, Name: "ana"}, Text: "status?", MessageID: id, Mentioned: true,
				}
			},
		},
		{
			name: "channel chatter without a mention is dropped", autoThread: true,
			msg: discordfake.UserMessage{GuildID: testGuild, ChannelID: testChannel, AuthorID: testUser, AuthorName: "ana", Content: "lunch?"},
		},
		{
			name: "other bots are dropped", autoThread: true,
			msg: discordfake.UserMessage{GuildID: testGuild, ChannelID: testChannel, AuthorID: otherUser, AuthorName: "otherbot",
				Bot: true, Content: "beep", MentionBot: true},
		},
		{
			name: "own messages are dropped", autoThread: true,
			msg: discordfake.UserMessage{GuildID: testGuild, ChannelID: thread, AuthorID: discordfake.BotID, AuthorName: discordfake.BotName,
				Content: "my own reply"},
		},
		{
			name: "system messages are dropped", autoThread: true,
			msg: discordfake.UserMessage{GuildID: testGuild, ChannelID: testChannel, AuthorID: testUser, AuthorName: "ana",
				Content: "pinned", MentionBot: true, Type: 6},
		},
		{
			// The bridge answers it with a hint (chat.EmptyQuestionText), as on every platform.
			name: "a bare mention without text is handed over", autoThread: true,
			msg: discordfake.UserMessage{GuildID: testGuild, ChannelID: testChannel, AuthorID: testUser, AuthorName: "ana", MentionBot: true},
			want: func(id string) *chat.InboundMessage {
				return &chat.InboundMessage{
					Key:  chat.ConversationKey{Platform: "discord", Workspace: testGuild, Channel: testChannel, Thread: id},
					User: chat.User{ID: testUser, Name: "ana"}, Text: "", MessageID: id, Mentioned: true,
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := startRig(t, func(c *Config) { c.AutoThread = tt.autoThread })
			r.fake.AddChannel(discordfake.Channel{ID: thread, GuildID: testGuild, ParentID: testChannel, Type: discordfake.ChannelTypePublicThread})
			id, err := r.fake.SendMessage(tt.msg)
			require.NoError(t, err)
			r.sentinel(t)

			got := r.h.nextMessage(t)
			if tt.want == nil {
				assert.Equal(t, "sentinel", got.Text, "the message should have been dropped")
				return
			}
			want := *tt.want(id)
			assert.False(t, got.Received.IsZero())
			got.Received = want.Received
			assert.Equal(t, want, got)
			assert.Equal(t, "sentinel", r.h.nextMessage(t).Text)
		})
	}
}

func TestThreadFoundByREST(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	// A thread created after READY that the gateway never announced: the
	// adapter asks REST once and caches the answer.
	const thread = "1300000000000000098"
	r.fake.AddChannel(discordfake.Channel{ID: thread, GuildID: testGuild, ParentID: testChannel, Type: discordfake.ChannelTypePublicThread})
	for range 2 {
		_, err := r.fake.SendMessage(discordfake.UserMessage{GuildID: testGuild, ChannelID: thread, AuthorID: testUser,
			AuthorName: "ana", Content: "x"})
		require.NoError(t, err)
		got := r.h.nextMessage(t)
		assert.Equal(t, chat.ConversationKey{Platform: "discord", Workspace: testGuild, Channel: testChannel, Thread: thread}, got.Key)
	}
	parent, ok := r.a.threads.Get(thread)
	assert.True(t, ok)
	assert.Equal(t, testChannel, parent)
}

func TestEmptyThreadMessageWarnsAboutMessageContentIntent(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	const thread = "1300000000000000097"
	r.fake.AddChannel(discordfake.Channel{ID: thread, GuildID: testGuild, ParentID: testChannel, Type: discordfake.ChannelTypePublicThread})
	for range 2 {
		// Without the intent, Discord sends guild messages that do not
		// mention the bot with empty content.
		_, err := r.fake.SendMessage(discordfake.UserMessage{GuildID: testGuild, ChannelID: thread, AuthorID: testUser, AuthorName: "ana"})
		require.NoError(t, err)
	}
	r.sentinel(t)
	assert.Equal(t, "sentinel", r.h.nextMessage(t).Text, "empty messages are dropped")
	assert.Equal(t, 1, strings.Count(r.logs.String(), "Message Content intent"), "warned once")
}

// TestRoleMentionAddressesBot: a mention of the bot's managed role (learnt
// from GUILD_CREATE's roles, tags.bot_id) addresses the bot like a mention
// of its user; the author's global_name names them when they have no nick.
func TestRoleMentionAddressesBot(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	id, err := r.fake.SendMessage(discordfake.UserMessage{GuildID: testGuild, ChannelID: testChannel, AuthorID: testUser,
		AuthorName: "ana", GlobalName: "Ana Lima", Content: "what is up?", MentionBotRole: true})
	require.NoError(t, err)
	in := r.h.nextMessage(t)
	assert.True(t, in.Mentioned)
	assert.Equal(t, "what is up?", in.Text)
	assert.Equal(t, "Ana Lima", in.User.Name)
	assert.Equal(t, chat.ConversationKey{Platform: "discord", Workspace: testGuild, Channel: testChannel, Thread: id}, in.Key)

	// Another role's mention does not address the bot.
	_, err = r.fake.SendMessage(discordfake.UserMessage{GuildID: testGuild, ChannelID: testChannel, AuthorID: testUser,
		AuthorName: "ana", Content: "<@&1300000000000000555> not for the bot"})
	require.NoError(t, err)
	r.sentinel(t)
	assert.Equal(t, "sentinel", r.h.nextMessage(t).Text)
}

// TestRoleMentionFixtures replays Discord's documented payloads
// (testdata/wire): a GUILD_ROLE_CREATE of the bot's managed role, then a
// MESSAGE_CREATE mentioning that role.
func TestRoleMentionFixtures(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	for _, f := range []struct{ event, file string }{
		{"GUILD_ROLE_CREATE", "guild_role_create_bot.json"},
		{"MESSAGE_CREATE", "message_create_role_mention.json"},
	} {
		raw, err := os.ReadFile(filepath.Join("testdata", "wire", f.file))
		require.NoError(t, err)
		require.NoError(t, r.fake.Dispatch(f.event, json.RawMessage(raw)))
	}
	in := r.h.nextMessage(t)
	assert.True(t, in.Mentioned)
	assert.Equal(t, "what changed in the last deploy?", in.Text)
	assert.Equal(t, "Ana Lima", in.User.Name)
	assert.Equal(t, "1300000000000000123", in.Key.Thread)
}
