package discord

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/discord/discordfake"
	"github.com/promptev/promptev-bridge/chat"
)

func TestButtonClicks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		customID string
		dm       bool
		result   chat.ActionResult
		err      error
		// wantAction is false when the click must not reach the bridge.
		wantAction   bool
		wantDecision chat.ActionKind
		wantType     int
		wantNotice   string
		wantFollowup string
	}{
		{name: "accepted approve is a deferred update", customID: "pvb:approve:apr1", result: chat.ActionResult{Accepted: true},
			wantAction: true, wantDecision: chat.Approve, wantType: discordfake.ResponseDeferredUpdate},
		{name: "accepted deny is a deferred update", customID: "pvb:deny:apr1", result: chat.ActionResult{Accepted: true},
			wantAction: true, wantDecision: chat.Deny, wantType: discordfake.ResponseDeferredUpdate},
		{name: "legacy approve button of an earlier version", customID: "pvb:a:apr1", result: chat.ActionResult{Accepted: true},
			wantAction: true, wantDecision: chat.Approve, wantType: discordfake.ResponseDeferredUpdate},
		{name: "unknown kind reaches the bridge, whose notice is shown", customID: "pvb:stop:apr1",
			result:     chat.ActionResult{Notice: "This button is not supported."},
			wantAction: true, wantDecision: "stop", wantType: discordfake.ResponseChannelMessage, wantNotice: "This button is not supported."},
		{name: "accepted deny in a DM", customID: "pvb:d:apr1", dm: true, result: chat.ActionResult{Accepted: true},
			wantAction: true, wantDecision: chat.Deny, wantType: discordfake.ResponseDeferredUpdate},
		{name: "unauthorised clicker gets an ephemeral notice", customID: "pvb:a:apr1",
			result:     chat.ActionResult{Notice: "Only Ana can decide this."},
			wantAction: true, wantDecision: chat.Approve, wantType: discordfake.ResponseChannelMessage, wantNotice: "Only Ana can decide this."},
		{name: "accepted with a notice adds an ephemeral follow-up", customID: "pvb:d:apr1",
			result:     chat.ActionResult{Accepted: true, Notice: "Denied. The agent was told."},
			wantAction: true, wantDecision: chat.Deny, wantType: discordfake.ResponseDeferredUpdate, wantFollowup: "Denied. The agent was told."},
		{name: "bridge error gets a generic ephemeral notice", customID: "pvb:a:apr1", err: errors.New("store down"),
			wantAction: true, wantDecision: chat.Approve, wantType: discordfake.ResponseChannelMessage, wantNotice: noticeFailed},
		{name: "foreign button is only acknowledged", customID: "other:thing",
			wantType: discordfake.ResponseDeferredUpdate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := startRig(t, nil)
			r.h.setResult(tt.result, tt.err)
			click := discordfake.Click{GuildID: testGuild, ChannelID: testChannel, MessageID: "1300000000000000060",
				CustomID: tt.customID, UserID: otherUser, UserName: "bob"}
			if tt.dm {
				click.GuildID, click.ChannelID = "", testDM
			}
			iid, err := r.fake.Click(click)
			require.NoError(t, err)
			if tt.wantAction {
				act := r.h.nextAction(t)
				assert.Equal(t, chat.Action{Platform: "discord", Kind: tt.wantDecision, Target: "apr1",
					User: chat.User{ID: otherUser, Name: "bob"}, Received: act.Received,
					Card: chat.MessageRef{ID: "1300000000000000060", Channel: click.ChannelID, Posted: act.Card.Posted}}, act)
				assert.False(t, act.Card.Posted.IsZero(), "the card's post time comes from the message")
				assert.False(t, act.Received.IsZero())
			}
			s := r.waitFor(t, func(s discordfake.Snapshot) bool {
				return len(s.InteractionResponses) == 1 && (tt.wantFollowup == "" || len(s.Followups) == 1)
			})
			resp := s.InteractionResponses[0]
			assert.Equal(t, iid, resp.InteractionID)
			assert.Equal(t, tt.wantType, resp.Type)
			if tt.wantNotice != "" {
				assert.Equal(t, tt.wantNotice, resp.Content)
				assert.True(t, resp.Ephemeral())
				assert.True(t, resp.AllowedMentions.None())
			}
			if tt.wantFollowup != "" {
				assert.Equal(t, tt.wantFollowup, s.Followups[0].Content)
				assert.Equal(t, discordfake.FlagEphemeral, s.Followups[0].Flags&discordfake.FlagEphemeral)
			}
			assert.Empty(t, s.BotMessages(), "nothing posted in the channel")
			assert.NotContains(t, r.logs.String(), r.fake.InteractionToken(iid), "interaction token in logs")
			if !tt.wantAction {
				assert.Empty(t, r.h.acts)
			}
		})
	}
}

func TestSlashAskStartsConversationInThread(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	r.waitFor(t, func(s discordfake.Snapshot) bool { return len(s.Commands) == 1 })
	iid, err := r.fake.Slash(discordfake.Slash{GuildID: testGuild, ChannelID: testChannel, UserID: testUser, UserName: "ana",
		Name: "ask", Options: map[string]string{"question": "How many open incidents?"}})
	require.NoError(t, err)

	in := r.h.nextMessage(t)
	s := r.fake.Snapshot()
	require.Len(t, s.InteractionResponses, 1)
	resp := s.InteractionResponses[0]
	assert.Equal(t, iid, resp.InteractionID)
	assert.Equal(t, discordfake.ResponseChannelMessage, resp.Type)
	assert.False(t, resp.Ephemeral())
	assert.Equal(t, "**ana** asked: How many open incidents?", resp.Content)
	orig := s.BotMessages()[0]
	assert.Equal(t, chat.InboundMessage{
		Key:  chat.ConversationKey{Platform: "discord", Workspace: testGuild, Channel: testChannel, Thread: orig.ID},
		User: chat.User{ID: testUser, Name: "ana"}, Text: "How many open incidents?", MessageID: orig.ID,
		Mentioned: true, Received: in.Received,
	}, in)

	ref, err := r.a.Post(ctxT(t), in.Key, chat.Message{Kind: chat.KindStatus})
	require.NoError(t, err)
	s = r.fake.Snapshot()
	require.Len(t, s.Threads, 1)
	assert.Equal(t, orig.ID, s.Threads[0].ID)
	assert.Equal(t, "How many open incidents?", s.Threads[0].Name)
	assert.Equal(t, orig.ID, ref.Channel)
}

func TestSlashAskInDMAndWithoutQuestion(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	_, err := r.fake.Slash(discordfake.Slash{ChannelID: testDM, UserID: testUser, UserName: "ana", Name: "ask",
		Options: map[string]string{"question": "hi"}})
	require.NoError(t, err)
	in := r.h.nextMessage(t)
	assert.Equal(t, dmKey, in.Key)

	_, err = r.fake.Slash(discordfake.Slash{ChannelID: testDM, UserID: testUser, UserName: "ana", Name: "ask"})
	require.NoError(t, err)
	s := r.waitFor(t, func(s discordfake.Snapshot) bool { return len(s.InteractionResponses) == 2 })
	assert.Equal(t, noticeEmptyQuestion, s.InteractionResponses[1].Content)
	assert.True(t, s.InteractionResponses[1].Ephemeral())

	// Another application's command is not answered.
	_, err = r.fake.Slash(discordfake.Slash{ChannelID: testDM, UserID: testUser, UserName: "ana", Name: "other"})
	require.NoError(t, err)
	r.sentinel(t)
	assert.Equal(t, "sentinel", r.h.nextMessage(t).Text)
	assert.Len(t, r.fake.Snapshot().InteractionResponses, 2)
}
