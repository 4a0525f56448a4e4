package slack

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/chat"
)

// loadFixture reads a Socket Mode envelope from testdata (see its README)
// with the documented bot id replaced by the fake workspace's.
func loadFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return bytes.ReplaceAll(data, []byte("U0LAN0Z89"), []byte(slackfake.BotUserID))
}

// envelopeID returns a fixture's envelope id.
func envelopeID(t *testing.T, data []byte) string {
	t.Helper()
	var env slackfake.Envelope
	require.NoError(t, json.Unmarshal(data, &env))
	return env.EnvelopeID
}

func TestWireBareMentionIsHandedOverEmpty(t *testing.T) {
	fake := slackfake.New(t)
	rec := newRecorder()
	startSocketN(t, fake, rec, 1)
	data := loadFixture(t, "app_mention_bare.json")
	require.NoError(t, fake.SendRaw(data))

	m := rec.waitMessages(t, 1)[0]
	assert.True(t, m.Mentioned)
	assert.Empty(t, m.Text, "nothing left once the mention is removed: the bridge answers with a hint")
	assert.Equal(t, "Ev123ABC456", m.EventID)
	assert.Equal(t, "1515449522.000016", m.Key.Thread, "the hint goes in the thread rooted at the mention")
	fake.Await(t, "ack", func() bool { return fake.Acked(envelopeID(t, data)) })
}

func TestWireMessageChangedIsIgnored(t *testing.T) {
	fake := slackfake.New(t)
	rec := newRecorder()
	startSocketN(t, fake, rec, 1) // one connection: the sentinel comes after the edit
	data := loadFixture(t, "message_changed.json")
	require.NoError(t, fake.SendRaw(data))
	// The fake's own edits, of a mention and of a reply in a thread.
	mention := fake.Mention("C1", "U1", "first")
	reply := fake.Reply("C1", mention.TS, "U1", "a reply")
	for _, ev := range []slackfake.Event{fake.Edit(mention, "<@"+slackfake.BotUserID+"> changed"), fake.Edit(reply, "changed reply")} {
		_, err := fake.SendEvent(ev, 0)
		require.NoError(t, err)
	}
	sentinel := fake.Mention("C1", "U1", "sentinel")
	_, err := fake.SendEvent(sentinel, 0)
	require.NoError(t, err)

	msgs := rec.waitMessages(t, 1)
	assert.Equal(t, sentinel.EventID, msgs[0].EventID, "the edits were not handed over")
	fake.Await(t, "the edit acknowledged", func() bool { return fake.Acked(envelopeID(t, data)) })
}

// TestFakeMessageChangedShape checks that slackfake's message_changed has
// the documented shape: the same fields at each level as the fixture.
func TestFakeMessageChangedShape(t *testing.T) {
	fake := slackfake.New(t)
	var fixture struct {
		Payload struct {
			Event map[string]json.RawMessage `json:"event"`
		} `json:"payload"`
	}
	require.NoError(t, json.Unmarshal(loadFixture(t, "message_changed.json"), &fixture))
	var built struct {
		Event map[string]json.RawMessage `json:"event"`
	}
	reply := fake.Reply("C1", "", "U1", "Hello, world!")
	require.NoError(t, json.Unmarshal(fake.EventBody(fake.Edit(reply, "Hello, world!!")), &built))

	keys := func(m map[string]json.RawMessage) []string { return slices.Sorted(maps.Keys(m)) }
	assert.Equal(t, keys(fixture.Payload.Event), keys(built.Event), "event")
	for _, nested := range []string{"message", "previous_message"} {
		var want, got map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(fixture.Payload.Event[nested], &want))
		require.NoError(t, json.Unmarshal(built.Event[nested], &got))
		assert.Equal(t, keys(want), keys(got), nested)
	}
	var now struct {
		Text string `json:"text"`
		TS   string `json:"ts"`
	}
	require.NoError(t, json.Unmarshal(built.Event["message"], &now))
	assert.Equal(t, "Hello, world!!", now.Text)
	assert.Equal(t, reply.TS, now.TS, "the nested message keeps the edited message's ts")
}

// TestRenderLeavesBlockIDsToSlack: no rendered block carries a block_id, so
// Slack assigns a fresh one on every post and update, as it asks.
func TestRenderLeavesBlockIDsToSlack(t *testing.T) {
	msgs := []chat.Message{
		{Kind: chat.KindStatus, Status: "Searching", Thought: "hmm", Steps: []chat.Step{{Text: "a", Done: true}, {Text: "b"}}},
		{Kind: chat.KindStatus, Status: "✓ 2 steps", Final: true},
		{Kind: chat.KindApproval, Approval: &chat.ApprovalCard{ID: "ap-1", Tool: "jira.create", Description: "Create", Arguments: `{"a":1}`}},
		{Kind: chat.KindApproval, Approval: &chat.ApprovalCard{ID: "ap-1", Tool: "jira.create", State: chat.ApprovalApproved, DecidedBy: "ana"}},
		{Kind: chat.KindAnswer, Body: "**done**", Final: true},
		{Kind: chat.KindNotice, Body: chat.EmptyQuestionText, Final: true},
	}
	for _, m := range msgs {
		data, err := json.Marshal(render(m).Blocks)
		require.NoError(t, err)
		assert.NotContains(t, string(data), "block_id", "%s", data)
	}
}
