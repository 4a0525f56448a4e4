package slack_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack"
	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// ephemerals returns the texts shown to user with chat.postEphemeral.
func ephemerals(r *rig, user string) []string {
	var out []string
	for _, c := range r.fake.Calls("chat.postEphemeral") {
		if c.User == user && c.Error == "" {
			out = append(out, c.Text)
		}
	}
	return out
}

func TestE2EFeedbackPressedChangedReplayed(t *testing.T) {
	r := newRig(t, promptevtest.Agent{Script: []promptevtest.Event{{Type: promptevtest.TypeDone, Output: "All green."}}}, nil)
	ev := r.fake.Mention("C1", "U1", "status?")
	_, err := r.fake.SendEvent(ev, 0)
	require.NoError(t, err)
	answer := r.threadShows(t, "C1", ev.TS, "All green.")
	// The feedback buttons are in a context_actions block (the fake checks its shape).
	up := slackfake.FeedbackClickOn(answer, "U1", slack.ActionFeedback, true)
	require.True(t, strings.HasSuffix(up.Value, ":up"), "the 👍 carries its answer and value: %q", up.Value)
	down := slackfake.FeedbackClickOn(answer, "U1", slack.ActionFeedback, false)
	require.True(t, strings.HasSuffix(down.Value, ":down"))

	for i, c := range []slackfake.Click{up, up, down} { // pressed, replayed, changed
		_, err := r.fake.SendClick(c)
		require.NoError(t, err)
		r.fake.Await(t, "the notice of press "+string(rune('1'+i)), func() bool { return len(ephemerals(r, "U1")) == i+1 })
	}
	notices := ephemerals(r, "U1")
	assert.Contains(t, notices[0], "Thanks")
	assert.Contains(t, notices[1], "already")
	assert.Contains(t, notices[2], "changed")
	r.assertNoRejectedCalls(t)
}

func TestE2EStreamEndsWithFeedbackButtons(t *testing.T) {
	r := newRig(t, stepsAgent("Streamed answer.", "Searching"), nil)
	ev := r.fake.DM("D1", "U1", "hi")
	_, err := r.fake.SendEvent(ev, 0)
	require.NoError(t, err)
	done := streamedMessage(t, r, "D1", func(m slackfake.Message) bool { return m.Stream.Stopped })
	up := slackfake.FeedbackClickOn(done, "U1", slack.ActionFeedback, true)
	require.NotEmpty(t, up.Value, "the stream stopped with the feedback buttons")
	_, err = r.fake.SendClick(up)
	require.NoError(t, err)
	r.fake.Await(t, "the thanks", func() bool { return len(ephemerals(r, "U1")) == 1 })
	r.assertNoRejectedCalls(t)
}
