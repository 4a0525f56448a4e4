package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/chat"
)

func newFakeAdapter(t *testing.T, fake *slackfake.Server, edit func(*Config)) *Adapter {
	t.Helper()
	cfg := fakeConfig(fake, ModeSocket)
	if edit != nil {
		edit(&cfg)
	}
	a, err := New(cfg, testLogger(t, nil))
	require.NoError(t, err)
	return a
}

func TestPostAndEdit(t *testing.T) {
	fake := slackfake.New(t)
	a := newFakeAdapter(t, fake, nil)
	ctx := context.Background()
	key := chat.ConversationKey{Platform: "slack", Workspace: slackfake.TeamID, Channel: "C1", Thread: "1700000000.000001"}

	ref, err := a.Post(ctx, key, chat.Message{Kind: chat.KindStatus, Status: "Thinking..."})
	require.NoError(t, err)
	assert.Equal(t, key, ref.Key)
	assert.NotEmpty(t, ref.ID)
	assert.Empty(t, ref.Channel)
	assert.False(t, ref.Posted.IsZero())

	require.NoError(t, a.Edit(ctx, ref, chat.Message{Kind: chat.KindStatus, Status: "Searching Jira..."}))
	require.NoError(t, a.Edit(ctx, ref, chat.Message{Kind: chat.KindAnswer, Body: "**Done**", Final: true}))

	calls := fake.Calls()
	require.Len(t, calls, 3)
	post := calls[0]
	assert.Equal(t, "chat.postMessage", post.Method)
	assert.Equal(t, "C1", post.Channel)
	assert.Equal(t, key.Thread, post.ThreadTS)
	assert.Equal(t, "false", post.UnfurlLinks, "link unfurls off")
	assert.Equal(t, "false", post.UnfurlMedia, "media unfurls off")
	assert.Equal(t, ref.ID, post.TS)
	for _, c := range calls[1:] {
		assert.Equal(t, "chat.update", c.Method)
		assert.Equal(t, ref.ID, c.TS)
		assert.NotEmpty(t, c.Blocks, "blocks are resent on every update")
		assert.NotEmpty(t, c.Text)
	}
	m, ok := fake.Message("C1", ref.ID)
	require.True(t, ok)
	assert.Equal(t, 2, m.Edits)
	assert.Equal(t, "**Done**", m.Text)
	assert.Contains(t, m.BlockText(), "**Done**")

	// A DM conversation has no thread: the message goes inline.
	dm := chat.ConversationKey{Platform: "slack", Workspace: slackfake.TeamID, Channel: "D1"}
	_, err = a.Post(ctx, dm, chat.Message{Kind: chat.KindNotice, Body: "hi"})
	require.NoError(t, err)
	last := fake.Calls("chat.postMessage")
	assert.Empty(t, last[len(last)-1].ThreadTS)

	// Deleting removes it.
	var d chat.Deleter = a
	require.NoError(t, d.Delete(ctx, ref))
	m, ok = fake.Message("C1", ref.ID)
	require.True(t, ok)
	assert.True(t, m.Deleted)
	assert.Empty(t, fake.Thread("C1", key.Thread))
}

func TestEditUsesRefChannel(t *testing.T) {
	fake := slackfake.New(t)
	a := newFakeAdapter(t, fake, nil)
	ctx := context.Background()
	ref, err := a.Post(ctx, chat.ConversationKey{Platform: "slack", Channel: "C2"}, chat.Message{Kind: chat.KindStatus})
	require.NoError(t, err)
	ref.Key.Channel = "CWRONG"
	ref.Channel = "C2"
	require.NoError(t, a.Edit(ctx, ref, chat.Message{Kind: chat.KindStatus, Status: "x"}))
}

func TestEditErrors(t *testing.T) {
	fake := slackfake.New(t)
	a := newFakeAdapter(t, fake, nil)
	err := a.Edit(context.Background(), chat.MessageRef{Key: chat.ConversationKey{Platform: "slack", Channel: "C1"}, ID: "9.9"},
		chat.Message{Kind: chat.KindStatus})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "chat.update")
	assert.Contains(t, err.Error(), "message_not_found")
	assert.NotContains(t, err.Error(), slackfake.BotToken)
}

func TestRateLimitMapping(t *testing.T) {
	fake := slackfake.New(t)
	a := newFakeAdapter(t, fake, nil)
	ctx := context.Background()
	key := chat.ConversationKey{Platform: "slack", Workspace: slackfake.TeamID, Channel: "C1", Thread: "1.1"}
	ref, err := a.Post(ctx, key, chat.Message{Kind: chat.KindStatus})
	require.NoError(t, err)

	fake.RateLimit("chat.update", 2, 7)
	for range 2 {
		err = a.Edit(ctx, ref, chat.Message{Kind: chat.KindStatus, Status: "x"})
		rl, ok := errors.AsType[*chat.RateLimitError](err)
		require.True(t, ok, "got %v", err)
		assert.Equal(t, 7*time.Second, rl.RetryAfter)
		assert.Equal(t, "chat.update", rl.Scope)
	}
	require.NoError(t, a.Edit(ctx, ref, chat.Message{Kind: chat.KindAnswer, Body: "final"}))
	updates := fake.Calls("chat.update")
	require.Len(t, updates, 3, "slack-go did not retry on its own")
	assert.Equal(t, "ratelimited", updates[0].Error)

	fake.RateLimit("chat.postMessage", 1, 1)
	_, err = a.Post(ctx, key, chat.Message{Kind: chat.KindNotice, Body: "x"})
	rl, ok := errors.AsType[*chat.RateLimitError](err)
	require.True(t, ok)
	assert.Equal(t, time.Second, rl.RetryAfter)
}

func TestMapError(t *testing.T) {
	tests := []struct {
		err   error
		retry time.Duration
		text  string
	}{
		{&slack.RateLimitedError{RetryAfter: 3 * time.Second}, 3 * time.Second, ""},
		{&slack.RateLimitedError{}, time.Second, ""},
		{fmt.Errorf("wrapped: %w", &slack.RateLimitedError{RetryAfter: 2 * time.Second}), 2 * time.Second, ""},
		{slack.StatusCodeError{Code: http.StatusTooManyRequests, Status: "429"}, time.Second, ""},
		{slack.SlackErrorResponse{Err: "channel_not_found"}, 0, "slack: chat.update: channel_not_found"},
		{slack.StatusCodeError{Code: 500, Status: "500 Internal Server Error"}, 0, "slack: chat.update: slack server error: 500 Internal Server Error"},
	}
	for _, tt := range tests {
		err := mapError("chat.update", tt.err)
		if tt.retry > 0 {
			rl, ok := errors.AsType[*chat.RateLimitError](err)
			require.True(t, ok)
			assert.Equal(t, tt.retry, rl.RetryAfter)
			continue
		}
		assert.EqualError(t, err, tt.text)
		assert.Equal(t, tt.err, errors.Unwrap(err), "wrapped with %%w")
	}
}

func TestEphemeral(t *testing.T) {
	fake := slackfake.New(t)
	a := newFakeAdapter(t, fake, nil)
	key := chat.ConversationKey{Platform: "slack", Workspace: slackfake.TeamID, Channel: "C1", Thread: "1.1"}
	require.NoError(t, a.Ephemeral(context.Background(), key, "U5", "You are not allowed to approve <this>"))
	calls := fake.Calls("chat.postEphemeral")
	require.Len(t, calls, 1)
	assert.Equal(t, "C1", calls[0].Channel)
	assert.Equal(t, "U5", calls[0].User)
	assert.Equal(t, "1.1", calls[0].ThreadTS)
	assert.Equal(t, "You are not allowed to approve &lt;this&gt;", calls[0].Text)
}

func TestSetStatus(t *testing.T) {
	fake := slackfake.New(t)
	key := chat.ConversationKey{Platform: "slack", Workspace: slackfake.TeamID, Channel: "C1", Thread: "1.1"}
	off := newFakeAdapter(t, fake, func(c *Config) { c.Streaming = StreamingEdit })
	require.NoError(t, off.SetStatus(context.Background(), key, "is searching..."))
	assert.Empty(t, fake.Calls("assistant.threads.setStatus"), "off with streaming: edit")

	on := newFakeAdapter(t, fake, nil) // on by default (streaming: auto)
	require.NoError(t, on.SetStatus(context.Background(), key, "is searching..."))
	require.NoError(t, on.SetStatus(context.Background(), key, ""))
	require.NoError(t, on.SetStatus(context.Background(), chat.ConversationKey{Platform: "slack", Channel: "D1"}, "x"))
	calls := fake.Calls("assistant.threads.setStatus")
	require.Len(t, calls, 2, "threadless conversations have no status")
	assert.Equal(t, "is searching...", calls[0].Status)
	assert.Equal(t, "1.1", calls[0].ThreadTS)
	assert.Empty(t, calls[1].Status)
	assert.Equal(t, "", fake.ThreadStatus("C1", "1.1"), "cleared")
	assert.GreaterOrEqual(t, calls[1].At.Sub(calls[0].At), time.Second, "the clear waited for the thread's budget")
}

func TestSetStatusBudgetPerThread(t *testing.T) {
	fake := slackfake.New(t, slackfake.WithRateLimits())
	a := newFakeAdapter(t, fake, nil)
	k1 := chat.ConversationKey{Platform: "slack", Workspace: slackfake.TeamID, Channel: "C1", Thread: "1.1"}
	k2 := chat.ConversationKey{Platform: "slack", Workspace: slackfake.TeamID, Channel: "C1", Thread: "1.2"}
	ctx := context.Background()
	require.NoError(t, a.SetStatus(ctx, k1, "Searching Jira"))
	require.NoError(t, a.SetStatus(ctx, k2, "Reading wiki"), "each thread has its own budget")
	err := a.SetStatus(ctx, k1, "Reading PROJ-1")
	var rl *chat.RateLimitError
	require.ErrorAs(t, err, &rl, "a second step within the thread's budget waits")
	assert.Greater(t, rl.RetryAfter, time.Second)
	assert.Len(t, fake.Calls("assistant.threads.setStatus"), 2, "the refused step never reached Slack")
	assert.Equal(t, "Searching Jira", fake.ThreadStatus("C1", "1.1"))
	assert.Equal(t, "Reading wiki", fake.ThreadStatus("C1", "1.2"))
}

func TestBlocksArePlainJSON(t *testing.T) {
	// The recorded blocks are what Slack would store; they parse as a JSON array.
	fake := slackfake.New(t)
	a := newFakeAdapter(t, fake, nil)
	_, err := a.Post(context.Background(), chat.ConversationKey{Platform: "slack", Channel: "C1"},
		chat.Message{Kind: chat.KindApproval, Approval: &chat.ApprovalCard{ID: "ap-9", Tool: "x"}})
	require.NoError(t, err)
	var blocks []json.RawMessage
	require.NoError(t, json.Unmarshal(fake.Calls()[0].Blocks, &blocks))
	msg := fake.Messages("C1")[0]
	assert.Equal(t, "ap-9", msg.ButtonValue(ActionApprove))
	assert.Equal(t, "ap-9", msg.ButtonValue(ActionDeny))
}
