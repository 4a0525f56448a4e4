package slack

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/chat"
)

func TestMentionMatcher(t *testing.T) {
	m := newMentionMatcher("UBOT")
	tests := []struct{ in, out string }{
		{"<@UBOT> hello", "hello"},
		{"hey <@UBOT> do it", "hey do it"},
		{"<@UBOT|promptev>   summarise", "summarise"},
		{"ask <@UBOT>", "ask"},
		{"<@UOTHER> hi", "<@UOTHER> hi"},
		{"<@UBOT><@UBOT> twice", "twice"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.out, m.strip(tt.in), tt.in)
	}
	assert.True(t, m.contains("x <@UBOT> y"))
	assert.False(t, m.contains("x <@UBOTX> y"))
	assert.False(t, mentionMatcher{}.contains("<@UBOT>"))
}

func TestInboundFromEvent(t *testing.T) {
	fake := slackfake.New(t)
	self := &identity{TeamID: slackfake.TeamID, UserID: slackfake.BotUserID, BotID: slackfake.BotID,
		mentionRE: newMentionMatcher(slackfake.BotUserID)}
	now := time.Unix(1700000000, 0)
	mention := fake.Mention("C1", "U1", "what is up?")
	threadMention := mention
	threadMention.ThreadTS = "1699999999.000001"
	twin := fake.Twin(mention)
	reply := fake.Reply("C1", mention.TS, "U2", "and then?")
	replyMention := fake.Reply("C1", mention.TS, "U2", "<@"+slackfake.BotUserID+"> and then?")
	dm := fake.DM("D1", "U1", "private question")
	dmThread := fake.DM("D1", "U1", "in a dm thread")
	dmThread.ThreadTS = "1699999999.000002"
	top := fake.Reply("C1", "", "U1", "chatter without mention")
	ownMsg := fake.Reply("C1", mention.TS, slackfake.BotUserID, "my own reply")
	botMsg := fake.Reply("C1", mention.TS, "U9", "beep")
	botMsg.BotID = "BOTHER"
	edited := fake.Reply("C1", mention.TS, "U2", "edited")
	edited.SubType = "message_changed"
	join := fake.Reply("C1", "", "U3", "<@U3> has joined")
	join.SubType = "channel_join"
	broadcast := fake.Reply("C1", mention.TS, "U2", "also to channel")
	broadcast.SubType = "thread_broadcast"
	botMention := mention
	botMention.BotID = "BOTHER"
	group := fake.Mention("G1", "U1", "private channel")

	key := func(ch, th string) chat.ConversationKey {
		return chat.ConversationKey{Platform: "slack", Workspace: slackfake.TeamID, Channel: ch, Thread: th}
	}
	tests := []struct {
		name string
		ev   slackfake.Event
		want *chat.InboundMessage
	}{
		{"top-level mention roots the thread at itself", mention, &chat.InboundMessage{
			Key: key("C1", mention.TS), User: chat.User{ID: "U1"}, Text: "what is up?",
			MessageID: mention.TS, EventID: mention.EventID, Mentioned: true}},
		{"mention inside a thread uses the thread", threadMention, &chat.InboundMessage{
			Key: key("C1", "1699999999.000001"), User: chat.User{ID: "U1"}, Text: "what is up?",
			MessageID: mention.TS, EventID: mention.EventID, Mentioned: true}},
		{"message twin of a mention has the same key and ts", twin, &chat.InboundMessage{
			Key: key("C1", mention.TS), User: chat.User{ID: "U1"}, Text: "what is up?",
			MessageID: mention.TS, EventID: twin.EventID, Mentioned: true}},
		{"thread reply without mention is passed, not mentioned", reply, &chat.InboundMessage{
			Key: key("C1", mention.TS), User: chat.User{ID: "U2"}, Text: "and then?",
			MessageID: reply.TS, EventID: reply.EventID}},
		{"thread reply with mention", replyMention, &chat.InboundMessage{
			Key: key("C1", mention.TS), User: chat.User{ID: "U2"}, Text: "and then?",
			MessageID: replyMention.TS, EventID: replyMention.EventID, Mentioned: true}},
		{"dm is inline and mentioned", dm, &chat.InboundMessage{
			Key: key("D1", ""), User: chat.User{ID: "U1"}, Text: "private question",
			MessageID: dm.TS, EventID: dm.EventID, Mentioned: true}},
		{"dm thread keeps its thread", dmThread, &chat.InboundMessage{
			Key: key("D1", "1699999999.000002"), User: chat.User{ID: "U1"}, Text: "in a dm thread",
			MessageID: dmThread.TS, EventID: dmThread.EventID, Mentioned: true}},
		{"thread broadcast is a user reply", broadcast, &chat.InboundMessage{
			Key: key("C1", mention.TS), User: chat.User{ID: "U2"}, Text: "also to channel",
			MessageID: broadcast.TS, EventID: broadcast.EventID}},
		{"private channel mention", group, &chat.InboundMessage{
			Key: key("G1", group.TS), User: chat.User{ID: "U1"}, Text: "private channel",
			MessageID: group.TS, EventID: group.EventID, Mentioned: true}},
		{"top-level chatter is ignored", top, nil},
		{"own message is ignored", ownMsg, nil},
		{"other bot is ignored", botMsg, nil},
		{"bot mentioning us is ignored", botMention, nil},
		{"edit is ignored", edited, nil},
		{"join is ignored", join, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := slackevents.ParseEvent(fake.EventBody(tt.ev), slackevents.OptionNoVerifyToken())
			require.NoError(t, err)
			got, ok := inboundFromEvent(self, ev, now)
			if tt.want == nil {
				assert.False(t, ok, "ignored: %+v", got)
				return
			}
			require.True(t, ok)
			want := *tt.want
			want.Received = now
			assert.Equal(t, want, got)
		})
	}
}

func TestInboundIgnoresOtherEvents(t *testing.T) {
	body := []byte(`{"type":"event_callback","team_id":"T1","event_id":"Ev1","event":{"type":"reaction_added","user":"U1","reaction":"+1","item":{"type":"message","channel":"C1","ts":"1.2"}}}`)
	ev, err := slackevents.ParseEvent(body, slackevents.OptionNoVerifyToken())
	require.NoError(t, err)
	_, ok := inboundFromEvent(&identity{}, ev, time.Now())
	assert.False(t, ok)
	_, ok = inboundFromEvent(nil, slackevents.EventsAPIEvent{Type: slackevents.URLVerification}, time.Now())
	assert.False(t, ok)
}

func TestActionsFromCallback(t *testing.T) {
	fake := slackfake.New(t)
	now := time.Unix(1700000000, 0)
	parse := func(c slackfake.Click) slack.InteractionCallback {
		var cb slack.InteractionCallback
		require.NoError(t, json.Unmarshal(fake.ClickBody(c), &cb))
		return cb
	}
	click := slackfake.Click{Channel: "C1", MessageTS: "1.5", ThreadTS: "1.1", User: "U7", UserName: "ana", ActionID: ActionApprove, Value: "ap-123"}
	cb := parse(click)
	wantKey := chat.ConversationKey{Platform: "slack", Workspace: slackfake.TeamID, Channel: "C1", Thread: "1.1"}
	assert.Equal(t, []chat.Action{{Platform: "slack", Kind: chat.Approve, Target: "ap-123",
		User: chat.User{ID: "U7", Name: "ana"}, Received: now,
		Card: chat.MessageRef{Key: wantKey, ID: "1.5", Channel: "C1"}}}, actionsFromCallback(cb, now))
	assert.Equal(t, wantKey, callbackKey(cb))

	click.ActionID = ActionDeny
	acts := actionsFromCallback(parse(click), now)
	require.Len(t, acts, 1)
	assert.Equal(t, chat.Deny, acts[0].Kind)

	// A kind this version has no handler for still reaches the bridge,
	// which answers it with a notice.
	click.ActionID = "pvb_stop"
	acts = actionsFromCallback(parse(click), now)
	require.Len(t, acts, 1)
	assert.Equal(t, chat.ActionKind("stop"), acts[0].Kind)
	assert.Equal(t, "ap-123", acts[0].Target)

	for _, id := range []string{"someone_elses_button", "pvb_", "pvb_Approve", "pvb_approve!"} {
		click.ActionID = id
		assert.Empty(t, actionsFromCallback(parse(click), now), id)
	}
	click.ActionID, click.Value = ActionApprove, ""
	assert.Empty(t, actionsFromCallback(parse(click), now))
	assert.Empty(t, actionsFromCallback(slack.InteractionCallback{Type: slack.InteractionTypeViewSubmission}, now))
}

// TestActionsFromOldCard feeds a click on a card posted by an earlier
// version, as Slack delivers it (pending cards survive restarts): the
// buttons' action ids and values are still what the adapter decodes.
func TestActionsFromOldCard(t *testing.T) {
	payload := `{"type":"block_actions","team":{"id":"T1","domain":"acme"},` +
		`"user":{"id":"U7","username":"ana","name":"ana","team_id":"T1"},` +
		`"container":{"type":"message","message_ts":"1700000000.000200","channel_id":"C1","thread_ts":"1700000000.000100"},` +
		`"channel":{"id":"C1","name":"general"},"message":{"type":"message","ts":"1700000000.000200","thread_ts":"1700000000.000100"},` +
		`"actions":[{"action_id":"pvb_deny","block_id":"pvb_decide","value":"0f3c2a9e","type":"button",` +
		`"text":{"type":"plain_text","text":"Deny"},"action_ts":"1700000001.000001"}]}`
	var cb slack.InteractionCallback
	require.NoError(t, json.Unmarshal([]byte(payload), &cb))
	now := time.Unix(1700000001, 0)
	key := chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: "C1", Thread: "1700000000.000100"}
	assert.Equal(t, []chat.Action{{Platform: "slack", Kind: chat.Deny, Target: "0f3c2a9e",
		User: chat.User{ID: "U7", Name: "ana"}, Received: now,
		Card: chat.MessageRef{Key: key, ID: "1700000000.000200", Channel: "C1"}}}, actionsFromCallback(cb, now))
}
