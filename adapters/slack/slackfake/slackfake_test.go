package slackfake

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckMessage(t *testing.T) {
	section := func(n int) string {
		return `[{"type":"section","text":{"type":"mrkdwn","text":"` + strings.Repeat("a", n) + `"}}]`
	}
	md := func(n int) string { return `{"type":"markdown","text":"` + strings.Repeat("m", n) + `"}` }
	tests := []struct {
		name, text, blocks, want string
	}{
		{"plain text", "hi", "", ""},
		{"empty", " ", "", "no_text"},
		{"4000 chars", strings.Repeat("é", 4000), "", ""},
		{"4001 chars", strings.Repeat("é", 4001), "", "msg_too_long"},
		{"section 3000", "x", section(3000), ""},
		{"section 3001", "x", section(3001), "invalid_blocks"},
		{"markdown 12000", "x", "[" + md(6000) + "," + md(6000) + "]", ""},
		{"markdown 12001", "x", "[" + md(6000) + "," + md(6001) + "]", "invalid_blocks"},
		{"51 blocks", "x", "[" + strings.TrimSuffix(strings.Repeat(md(1)+",", 51), ",") + "]", "invalid_blocks"},
		{"bad json", "x", "[{", "invalid_blocks_format"},
		{"empty context", "x", `[{"type":"context","elements":[]}]`, "invalid_blocks"},
		{"long button value", "x", `[{"type":"actions","elements":[{"type":"button","action_id":"a","value":"` + strings.Repeat("v", 2001) + `"}]}]`, "invalid_blocks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var blocks []byte
			if tt.blocks != "" {
				blocks = []byte(tt.blocks)
			}
			assert.Equal(t, tt.want, checkMessage(tt.text, blocks))
		})
	}
}

func TestWebAPI(t *testing.T) {
	s := New(t)
	api := slack.New(BotToken, slack.OptionAPIURL(s.APIURL()))
	ctx := context.Background()

	res, err := api.AuthTestContext(ctx)
	require.NoError(t, err)
	assert.Equal(t, TeamID, res.TeamID)
	assert.Equal(t, BotUserID, res.UserID)

	_, ts1, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("one", false), slack.MsgOptionTS("1.1"))
	require.NoError(t, err)
	_, ts2, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("two", false), slack.MsgOptionTS("1.1"))
	require.NoError(t, err)
	assert.Less(t, ts1, ts2, "increasing unique ts")

	_, _, _, err = api.UpdateMessageContext(ctx, "C1", ts1, slack.MsgOptionText("one, edited", false))
	require.NoError(t, err)
	thread := s.Thread("C1", "1.1")
	require.Len(t, thread, 2)
	assert.Equal(t, "one, edited", thread[0].Text)
	assert.Equal(t, 1, thread[0].Edits)

	s.RateLimit("chat.update", 1, 4)
	_, _, _, err = api.UpdateMessageContext(ctx, "C1", ts1, slack.MsgOptionText("x", false))
	var rl *slack.RateLimitedError
	require.ErrorAs(t, err, &rl)
	assert.Equal(t, 4*time.Second, rl.RetryAfter)

	_, _, _, err = api.UpdateMessageContext(ctx, "C1", "9.9", slack.MsgOptionText("x", false))
	require.EqualError(t, err, "message_not_found")

	bad := slack.New("xoxb-wrong", slack.OptionAPIURL(s.APIURL()))
	_, err = bad.AuthTestContext(ctx)
	require.EqualError(t, err, "invalid_auth")
	s.FailAuth("auth.test", "account_inactive")
	_, err = api.AuthTestContext(ctx)
	require.EqualError(t, err, "account_inactive")

	calls := s.Calls("chat.update")
	require.Len(t, calls, 3)
	assert.Equal(t, []string{"", "ratelimited", "message_not_found"}, []string{calls[0].Error, calls[1].Error, calls[2].Error})
	assert.Equal(t, []time.Duration{0, 4 * time.Second, 0}, []time.Duration{calls[0].RetryAfter, calls[1].RetryAfter, calls[2].RetryAfter})
	for i, c := range calls {
		assert.False(t, c.At.IsZero(), "call %d has its time", i)
		if i > 0 {
			assert.False(t, c.At.Before(calls[i-1].At), "calls are recorded in time order")
		}
	}
}

func TestSignMatchesSlackGo(t *testing.T) {
	body := []byte(`{"type":"event_callback"}`)
	at := time.Now()
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", strconv.FormatInt(at.Unix(), 10))
	h.Set("X-Slack-Signature", Sign(SigningSecret, at, body))
	sv, err := slack.NewSecretsVerifier(h, SigningSecret)
	require.NoError(t, err)
	_, err = sv.Write(body)
	require.NoError(t, err)
	require.NoError(t, sv.Ensure())

	sv, err = slack.NewSecretsVerifier(h, SigningSecret)
	require.NoError(t, err)
	_, _ = sv.Write(bytes.ToUpper(body))
	require.ErrorIs(t, sv.Ensure(), slack.ErrInvalidSignature)
}

func TestEventBuilders(t *testing.T) {
	s := New(t)
	m := s.Mention("C1", "U1", "hi")
	tw := s.Twin(m)
	assert.Equal(t, "app_mention", m.Type)
	assert.Equal(t, "<@"+BotUserID+"> hi", m.Text)
	assert.Equal(t, m.TS, tw.TS)
	assert.NotEqual(t, m.EventID, tw.EventID)
	assert.Equal(t, "message", tw.Type)
	body := string(s.EventBody(m))
	for _, want := range []string{`"type":"event_callback"`, `"event_id":"` + m.EventID + `"`, `"team_id":"` + TeamID + `"`} {
		assert.Contains(t, body, want)
	}
	msg := Message{Blocks: []byte(`[{"type":"actions","elements":[{"type":"button","action_id":"pvb_approve","value":"ap-1","text":{"type":"plain_text","text":"Approve"}}]}]`)}
	assert.Equal(t, "ap-1", msg.ButtonValue("pvb_approve"))
	assert.Equal(t, "Approve", msg.BlockText())
	c := ClickOn(Message{Channel: "C1", TS: "2.2", ThreadTS: "1.1", Blocks: msg.Blocks}, "U1", "pvb_approve")
	assert.Equal(t, "ap-1", c.Value)
	assert.Contains(t, string(s.ClickBody(c)), `"thread_ts":"1.1"`)
}

func TestReusedBlockIDsAreCounted(t *testing.T) {
	s := New(t)
	api := slack.New(BotToken, slack.OptionAPIURL(s.APIURL()))
	ctx := context.Background()
	block := func(id, text string) slack.MsgOption {
		return slack.MsgOptionBlocks(slack.NewContextBlock(id, slack.NewTextBlockObject(slack.MarkdownType, text, false, false)))
	}
	_, ts, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("v1", false), block("status", "v1"))
	require.NoError(t, err)
	_, _, _, err = api.UpdateMessageContext(ctx, "C1", ts, slack.MsgOptionText("v2", false), block("status-2", "v2"))
	require.NoError(t, err)
	m, _ := s.Message("C1", ts)
	assert.Zero(t, m.ReusedBlockIDs, "a new id each time")
	_, _, _, err = api.UpdateMessageContext(ctx, "C1", ts, slack.MsgOptionText("v3", false), block("status", "v3"))
	require.NoError(t, err)
	_, _, _, err = api.UpdateMessageContext(ctx, "C1", ts, slack.MsgOptionText("v4", false), block("", "v4"))
	require.NoError(t, err)
	m, _ = s.Message("C1", ts)
	assert.Equal(t, 1, m.ReusedBlockIDs, "the first id sent again; no id at all is fine")
	assert.Equal(t, 3, m.Edits)
}

func TestEditShape(t *testing.T) {
	s := New(t)
	reply := s.Reply("C1", "1.1", "U1", "before")
	edit := s.Edit(reply, "after")
	body := string(s.EventBody(edit))
	for _, want := range []string{`"subtype":"message_changed"`, `"hidden":true`, `"previous_message":{`, `"text":"before"`, `"text":"after"`, `"edited":{`} {
		assert.Contains(t, body, want)
	}
	var parsed struct {
		Event map[string]any `json:"event"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &parsed))
	assert.NotContains(t, parsed.Event, "text", "the text is nested in message, not at the top level")
	assert.NotContains(t, parsed.Event, "user")
}
