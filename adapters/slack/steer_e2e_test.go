package slack_test

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack"
	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

const (
	actionStop  = "pvb_stop"
	actionRetry = "pvb_retry"
)

// buttonLabel returns the text of the button with actionID in m's blocks.
func buttonLabel(m slackfake.Message, actionID string) string {
	var blocks []struct {
		Elements []struct {
			Type     string          `json:"type"`
			ActionID string          `json:"action_id"`
			Text     json.RawMessage `json:"text"`
		} `json:"elements"`
	}
	if json.Unmarshal(m.Blocks, &blocks) != nil {
		return ""
	}
	for _, b := range blocks {
		for _, e := range b.Elements {
			if e.Type != "button" || e.ActionID != actionID {
				continue
			}
			var text struct {
				Text string `json:"text"`
			}
			if json.Unmarshal(e.Text, &text) != nil {
				return ""
			}
			return text.Text
		}
	}
	return ""
}

// bareLabel is a label without case, emoji and surrounding punctuation.
func bareLabel(s string) string {
	return strings.ToLower(strings.TrimFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }))
}

// ephemeralsTo returns the ephemeral notices user got.
func (r *rig) ephemeralsTo(user string) []string {
	var out []string
	for _, c := range r.fake.Calls("chat.postEphemeral") {
		if c.User == user {
			out = append(out, c.Text)
		}
	}
	return out
}

// TestE2EStopButton drives Stop through slack-go against slackfake: the
// placeholder's first post carries a button labelled Stop with the run id;
// someone else's press gets an ephemeral "not allowed"; the asker's press
// closes the agent's HTTP stream before done, edits the message to
// "Stopped by" with its steps and no buttons, clears the thread status,
// and no answer follows; a second press is answered ephemerally.
func TestE2EStopButton(t *testing.T) {
	r := newRig(t, promptevtest.Agent{Script: []promptevtest.Event{
		{Type: promptevtest.TypeProcessing, Output: "Searching Jira..."},
		{Type: promptevtest.TypeDone, Output: "Too late.", Delay: 30 * time.Second},
	}}, func(c *slack.Config) { c.AssistantStatus = true })

	ev := r.fake.Mention("C1", "U1", "why did the build fail?")
	_, err := r.fake.SendEvent(ev, 0)
	require.NoError(t, err)
	r.fake.Await(t, "placeholder", func() bool { return len(r.fake.Thread("C1", ev.TS)) > 0 })
	posts := r.fake.Calls("chat.postMessage")
	require.NotEmpty(t, posts)
	first := slackfake.Message{Blocks: posts[0].Blocks}
	assert.Equal(t, "stop", bareLabel(buttonLabel(first, actionStop)), "Stop is on the first post")
	runID := first.ButtonValue(actionStop)
	require.NotEmpty(t, runID)
	placeholder := r.threadShows(t, "C1", ev.TS, "Searching Jira...")
	assert.Equal(t, runID, placeholder.ButtonValue(actionStop), "live edits keep Stop")

	_, err = r.fake.SendClick(slackfake.ClickOn(placeholder, "U2", actionStop))
	require.NoError(t, err)
	r.fake.Await(t, "not-allowed notice", func() bool { return len(r.ephemeralsTo("U2")) == 1 })
	assert.Contains(t, r.ephemeralsTo("U2")[0], "not allowed")
	still, _ := r.fake.Message("C1", placeholder.TS)
	assert.Equal(t, runID, still.ButtonValue(actionStop), "the run goes on")

	pressed := time.Now()
	_, err = r.fake.SendClick(slackfake.ClickOn(placeholder, "U1", actionStop))
	require.NoError(t, err)
	stopped := r.threadShows(t, "C1", ev.TS, "Stopped by")
	assert.Less(t, time.Since(pressed), 2*time.Second)
	assert.Contains(t, stopped.BlockText(), "Searching Jira...", "the steps seen stay")
	assert.Empty(t, stopped.Buttons(), "no Stop left")
	r.fake.Await(t, "stream closed by the client", func() bool { return r.api.StreamsClosedByClient() == 1 })
	r.fake.Await(t, "status cleared", func() bool {
		calls := r.fake.Calls("assistant.threads.setStatus")
		return len(calls) > 0 && calls[len(calls)-1].Status == ""
	})

	_, err = r.fake.SendClick(slackfake.ClickOn(placeholder, "U1", actionStop))
	require.NoError(t, err)
	r.fake.Await(t, "already-stopped notice", func() bool { return len(r.ephemeralsTo("U1")) == 1 })
	assert.Contains(t, r.ephemeralsTo("U1")[0], "Already stopped")
	assert.Len(t, r.fake.Thread("C1", ev.TS), 1, "no answer was posted")
	assert.Equal(t, 1, r.streams())
	r.assertNoRejectedCalls(t)
}

// TestE2ERetryButton: an agent error ends in a notice with Retry; the
// asker's press runs the query again and the answer follows.
func TestE2ERetryButton(t *testing.T) {
	var calls atomic.Int32
	r := newRig(t, promptevtest.Agent{Respond: func(turn promptevtest.Turn) []promptevtest.Event {
		if calls.Add(1) == 1 {
			return []promptevtest.Event{{Type: promptevtest.TypeError, Output: "the tool crashed"}}
		}
		return []promptevtest.Event{{Type: promptevtest.TypeDone, Output: "Answer to {{query}}"}}
	}}, nil)
	ev := r.fake.Mention("C1", "U1", "why?")
	_, err := r.fake.SendEvent(ev, 0)
	require.NoError(t, err)
	notice := r.threadShows(t, "C1", ev.TS, "the tool crashed")
	r.fake.Await(t, "retry button", func() bool {
		m, _ := r.fake.Message("C1", notice.TS)
		notice = m
		return m.ButtonValue(actionRetry) != ""
	})
	assert.Equal(t, "retry", bareLabel(buttonLabel(notice, actionRetry)))
	_, err = r.fake.SendClick(slackfake.ClickOn(notice, "U1", actionRetry))
	require.NoError(t, err)
	r.threadShows(t, "C1", ev.TS, "Answer to why?")
	r.threadShows(t, "C1", ev.TS, "Retried by")
	assert.Equal(t, 2, r.streams())
	r.assertNoRejectedCalls(t)
}
