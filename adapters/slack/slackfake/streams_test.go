package slackfake

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func apiClient(s *Server) *slack.Client {
	return slack.New(BotToken, slack.OptionAPIURL(s.APIURL()))
}

// slackCode is the error code of a refused call, or "".
func slackCode(err error) string {
	if err == nil {
		return ""
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return err.Error()
}

func TestStreamRules(t *testing.T) {
	s := New(t)
	api := apiClient(s)
	ctx := context.Background()

	// A channel stream needs its recipient; a DM stream does not.
	_, _, err := api.StartStreamContext(ctx, "C1", slack.MsgOptionTS("1.1"))
	assert.Equal(t, "invalid_arguments", slackCode(err))
	_, _, err = api.StartStreamContext(ctx, "C1")
	assert.Equal(t, "invalid_arguments", slackCode(err), "a stream needs a thread")
	_, ts, err := api.StartStreamContext(ctx, "C1", slack.MsgOptionTS("1.1"),
		slack.MsgOptionRecipientUserID("U1"), slack.MsgOptionRecipientTeamID(TeamID))
	require.NoError(t, err)
	task := slack.NewTaskUpdateChunk("t1", "Searching")
	task.Status = slack.TaskCardStatusInProgress
	_, _, err = api.AppendStreamContext(ctx, "C1", ts, slack.MsgOptionChunks(task, slack.NewMarkdownTextChunk("Hello ")))
	require.NoError(t, err)

	text, ok := s.VisibleText("C1", ts, "U1")
	assert.True(t, ok)
	assert.Equal(t, "Hello ", text, "the recipient sees the text live")
	_, ok = s.VisibleText("C1", ts, "U2")
	assert.False(t, ok, "others see nothing while it streams")

	// 12,000 characters of markdown per call.
	_, _, err = api.AppendStreamContext(ctx, "C1", ts, slack.MsgOptionMarkdownText(strings.Repeat("é", 12001)))
	assert.Equal(t, "msg_too_long", slackCode(err))
	_, _, err = api.AppendStreamContext(ctx, "C1", ts, slack.MsgOptionChunks(slack.TaskUpdateChunk{Type: slack.StreamChunkTaskUpdate, ID: "t2"}))
	assert.Equal(t, "invalid_chunks", slackCode(err), "a task needs a title")

	done := slack.NewTaskUpdateChunk("t1", "Searching")
	done.Status = slack.TaskCardStatusComplete
	_, _, err = api.StopStreamContext(ctx, "C1", ts, slack.MsgOptionChunks(done, slack.NewMarkdownTextChunk("world")))
	require.NoError(t, err)
	text, ok = s.VisibleText("C1", ts, "U2")
	require.True(t, ok, "everyone sees it once stopped")
	assert.Equal(t, "Hello world", text)
	m, _ := s.Message("C1", ts)
	require.Len(t, m.Stream.Tasks, 1)
	assert.Equal(t, "complete", m.Stream.Tasks[0].Status)

	_, _, err = api.AppendStreamContext(ctx, "C1", ts, slack.MsgOptionMarkdownText("late"))
	assert.Equal(t, "message_not_in_streaming_state", slackCode(err))

	_, dm, err := api.StartStreamContext(ctx, "D1", slack.MsgOptionTS("1.2"))
	require.NoError(t, err, "a DM stream's reader is the DM's member")
	text, ok = s.VisibleText("D1", dm, "U1")
	assert.True(t, ok)
	assert.Empty(t, text)
}

func TestStreamAndStatusTiers(t *testing.T) {
	s := New(t, WithRateLimits())
	api := apiClient(s)
	ctx := context.Background()
	for i := range 20 {
		_, _, err := api.StartStreamContext(ctx, "D1", slack.MsgOptionTS("1."+strings.Repeat("1", i+1)))
		require.NoError(t, err, "start %d within Tier 2", i+1)
	}
	_, _, err := api.StartStreamContext(ctx, "D1", slack.MsgOptionTS("2.1"))
	var rl *slack.RateLimitedError
	require.ErrorAs(t, err, &rl, "the 21st start in a minute")

	status := func(thread string) error {
		return api.SetAssistantThreadsStatusContext(ctx, slack.AssistantThreadsSetStatusParameters{ChannelID: "C1", ThreadTS: thread, Status: "x"})
	}
	require.NoError(t, status("1.1"))
	require.NoError(t, status("1.2"), "another thread has its own limit")
	require.ErrorAs(t, status("1.1"), &rl, "a second status in the same second")
	assert.Equal(t, "x", s.ThreadStatus("C1", "1.1"))
}

func TestAgentSessionsAndStopEvent(t *testing.T) {
	s := New(t)
	api := apiClient(s)
	ctx := context.Background()
	_, err := api.SetAgentSessionStatusContext(ctx, slack.AgentSessionSetStatusParameters{Status: "processing", ChannelID: "C1", ThreadTS: "1.1"})
	require.NoError(t, err)
	_, err = api.SetAgentSessionStatusContext(ctx, slack.AgentSessionSetStatusParameters{Status: "busy", ChannelID: "C1", ThreadTS: "1.1"})
	assert.Equal(t, "invalid_arguments", slackCode(err))
	assert.Equal(t, []string{"processing"}, s.SessionStatuses("C1", "1.1"))

	body := s.EventBody(s.AgentSessionStopped("C1", "1.1", "U1", "1.5"))
	ev, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
	require.NoError(t, err)
	stopped, ok := ev.InnerEvent.Data.(*slackevents.AgentSessionStoppedEvent)
	require.True(t, ok, "%T", ev.InnerEvent.Data)
	assert.Equal(t, "1.1", stopped.ThreadTimestamp)
	assert.Equal(t, "U1", stopped.User)
	assert.Equal(t, []string{"1.5"}, stopped.StreamingMessageTimestamps)

	s.FailMethod("agents.sessions.setStatus", "unknown_method")
	_, err = api.SetAgentSessionStatusContext(ctx, slack.AgentSessionSetStatusParameters{Status: "active", ChannelID: "C1", ThreadTS: "1.1"})
	assert.Equal(t, "unknown_method", slackCode(err))
}

func TestContextActionsChecked(t *testing.T) {
	fb := func(text, value string) string {
		return `{"text":{"type":"plain_text","text":"` + text + `"},"value":"` + value + `"}`
	}
	block := func(pos, neg string) string {
		return `[{"type":"context_actions","elements":[{"type":"feedback_buttons","action_id":"pvb_feedback","positive_button":` + pos + `,"negative_button":` + neg + `}]}]`
	}
	assert.Equal(t, "", checkMessage("x", json.RawMessage(block(fb("👍", "a:up"), fb("👎", "a:down")))))
	assert.Equal(t, "invalid_blocks", checkMessage("x", json.RawMessage(block(fb("👍", ""), fb("👎", "a:down")))), "a value is required")
	assert.Equal(t, "invalid_blocks", checkMessage("x", json.RawMessage(block(fb(strings.Repeat("t", 76), "v"), fb("👎", "a:down")))), "75-character text")
	assert.Equal(t, "invalid_blocks", checkMessage("x", json.RawMessage(`[{"type":"context_actions","elements":[]}]`)))
}
