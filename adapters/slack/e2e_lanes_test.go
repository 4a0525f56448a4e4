package slack_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack"
	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// stepsAgent sends the processing steps 400 ms apart, then answer.
func stepsAgent(answer string, steps ...string) promptevtest.Agent {
	var script []promptevtest.Event
	for _, s := range steps {
		script = append(script, promptevtest.Event{Type: promptevtest.TypeProcessing, Output: s, Delay: 400 * time.Millisecond})
	}
	script = append(script, promptevtest.Event{Type: promptevtest.TypeDone, Output: answer, Delay: 400 * time.Millisecond})
	return promptevtest.Agent{Script: script}
}

// streamedMessage waits for the bot's streamed message in channel and returns it.
func streamedMessage(t *testing.T, r *rig, channel string, cond func(slackfake.Message) bool) slackfake.Message {
	t.Helper()
	var found slackfake.Message
	r.fake.Await(t, "a streamed message in "+channel, func() bool {
		for _, m := range r.fake.Messages(channel) {
			if full, ok := r.fake.Message(m.Channel, m.TS); ok && full.Stream != nil && cond(full) {
				found = full
				return true
			}
		}
		return false
	})
	return found
}

func TestE2EDMStreamedNativelyWithTaskCards(t *testing.T) {
	r := newRig(t, stepsAgent("The build failed on a flaky test.", "Searching Jira", "Reading CI logs"), nil)
	ev := r.fake.DM("D1", "U1", "why did the build fail?")
	_, err := r.fake.SendEvent(ev, 0)
	require.NoError(t, err)

	live := streamedMessage(t, r, "D1", func(m slackfake.Message) bool { return len(m.Stream.Tasks) > 0 && !m.Stream.Stopped })
	assert.Equal(t, ev.TS, live.ThreadTS, "streamed under the asker's message")
	assert.Equal(t, "step-1", live.Stream.Tasks[0].ID)
	assert.Equal(t, "Searching Jira", live.Stream.Tasks[0].Title)

	done := streamedMessage(t, r, "D1", func(m slackfake.Message) bool { return m.Stream.Stopped })
	assert.Contains(t, done.Stream.Markdown, "The build failed on a flaky test.")
	require.Len(t, done.Stream.Tasks, 2)
	for _, task := range done.Stream.Tasks {
		assert.Equal(t, "complete", task.Status, "no task card is left in progress: %s", task.Title)
	}
	text, ok := r.fake.VisibleText("D1", done.TS, "U1")
	require.True(t, ok)
	assert.Contains(t, text, "flaky test")
	assert.Empty(t, r.fake.Calls("chat.update"), "the stream replaces the edited placeholder")
	assert.Empty(t, r.fake.Calls("chat.postMessage"), "the whole answer fits in the stream")
	r.assertNoRejectedCalls(t)
}

func TestE2EChannelThreadAutoEditsAndStatusLine(t *testing.T) {
	r := newRig(t, stepsAgent("Fixed.", "Searching Jira", "Reading CI logs", "Reading PROJ-1", "Writing"), nil)
	ev := r.fake.Mention("C1", "U1", "status?")
	_, err := r.fake.SendEvent(ev, 0)
	require.NoError(t, err)
	defer dumpCalls(t, r, "assistant.threads.setStatus")
	r.fake.Await(t, "the step in the thread's status line", func() bool {
		st := r.fake.ThreadStatus("C1", ev.TS)
		return st != "" && st != "is working on it…"
	})
	r.threadShows(t, "C1", ev.TS, "Fixed.")
	r.fake.Await(t, "the status line cleared", func() bool { return r.fake.ThreadStatus("C1", ev.TS) == "" })
	assert.Empty(t, r.fake.Calls("chat.startStream"), "auto never streams in a channel: everyone sees the same progress")
	msgs := r.fake.Thread("C1", ev.TS)
	require.NotEmpty(t, msgs)
	for _, m := range msgs {
		_, ok := r.fake.VisibleText("C1", m.TS, "U2")
		assert.True(t, ok, "another member sees every bot message")
	}
	r.assertNoRejectedCalls(t)
}

func TestE2ENativeStreamInChannelNamesTheRecipient(t *testing.T) {
	agent := stepsAgent("Here.", "Searching Jira")
	r := newRig(t, agent, func(c *slack.Config) { c.Streaming = slack.StreamingNative })
	ev := r.fake.Mention("C1", "U1", "go")
	_, err := r.fake.SendEvent(ev, 0)
	require.NoError(t, err)
	live := streamedMessage(t, r, "C1", func(m slackfake.Message) bool { return len(m.Stream.Tasks) > 0 })
	assert.Equal(t, "U1", live.Stream.Recipient)
	assert.Equal(t, slackfake.TeamID, live.Stream.RecipientTeam)
	if !live.Stream.Stopped {
		_, others := r.fake.VisibleText("C1", live.TS, "U2")
		assert.False(t, others, "only the recipient sees a live stream in a channel")
	}
	done := streamedMessage(t, r, "C1", func(m slackfake.Message) bool { return m.Stream.Stopped })
	text, ok := r.fake.VisibleText("C1", done.TS, "U2")
	require.True(t, ok, "everyone sees the message once stopped")
	assert.Contains(t, text, "Here.")
}

func TestE2EStreamFallsBackOnUnknownMethod(t *testing.T) {
	r := newRig(t, stepsAgent("Answer one.", "Searching"), nil)
	r.fake.FailMethod("chat.startStream", "unknown_method") // a GovSlack-like workspace
	for i, text := range []string{"one", "two"} {
		ev := r.fake.DM("D1", "U1", text)
		_, err := r.fake.SendEvent(ev, 0)
		require.NoError(t, err)
		r.fake.Await(t, "answer "+text, func() bool {
			n := 0
			for _, m := range r.fake.Messages("D1") {
				if strings.Contains(m.BlockText(), "Answer one.") {
					n++
				}
			}
			return n == i+1
		})
	}
	assert.Len(t, r.fake.Calls("chat.startStream"), 1, "the missing lane is remembered for the workspace")
	fb := r.adapter.LaneFallbacks()
	require.Len(t, fb, 1)
	assert.Equal(t, slack.LaneFallback{Workspace: slackfake.TeamID, Lane: "stream", Error: "unknown_method"}, fb[0])
	r.assertNoRejectedCallsExcept(t, "unknown_method")
}

func TestE2EStreamStartBudgetRunsOutMidLoad(t *testing.T) {
	r := newRigFake(t, []slackfake.Option{slackfake.WithRateLimits()}, stepsAgent("Done.", "Working"),
		func(c *slack.Config) { c.PostPerSec, c.PostBurst = 5, 5 }, nil)
	const n = 8
	for i := range n {
		ev := r.fake.DM("D"+string(rune('A'+i)), "U1", "go")
		_, err := r.fake.SendEvent(ev, 0)
		require.NoError(t, err)
	}
	r.fake.Await(t, "every answer", func() bool {
		got := 0
		for i := range n {
			ch := "D" + string(rune('A'+i))
			for _, m := range r.fake.Messages(ch) {
				if strings.Contains(m.BlockText(), "Done.") || strings.Contains(m.Text, "Done.") {
					got++
					break
				}
			}
		}
		return got == n
	})
	starts := r.fake.Calls("chat.startStream")
	assert.Len(t, starts, 4, "the start budget's burst streams the first four")
	assert.NotEmpty(t, r.fake.Calls("chat.postMessage"), "the others fell back to a placeholder")
	for _, c := range r.fake.Calls() {
		assert.NotEqual(t, "ratelimited", c.Error, "%s drew a 429", c.Method)
	}
}

// assertNoRejectedCallsExcept is assertNoRejectedCalls allowing one error code.
func (r *rig) assertNoRejectedCallsExcept(t testing.TB, code string) {
	t.Helper()
	for _, c := range r.fake.Calls() {
		if c.Error != "" && c.Error != "ratelimited" && c.Error != code {
			t.Errorf("%s on %s %s was rejected: %s", c.Method, c.Channel, c.TS, c.Error)
		}
	}
}

func dumpCalls(t *testing.T, r *rig, methods ...string) {
	for _, c := range r.fake.Calls(methods...) {
		t.Logf("%s %s %s %q %q err=%s", c.At.Format("05.000"), c.Method, c.ThreadTS, c.Status, c.Chunks, c.Error)
	}
}
