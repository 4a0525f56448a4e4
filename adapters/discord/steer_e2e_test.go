package discord

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/discord/discordfake"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// bareLabel is a label without case, emoji and surrounding punctuation.
func bareLabel(s string) string {
	return strings.ToLower(strings.TrimFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }))
}

// buttonWithPrefix returns m's button whose custom id starts with prefix.
func buttonWithPrefix(m discordfake.Message, prefix string) (discordfake.Button, bool) {
	for _, b := range m.Buttons() {
		if strings.HasPrefix(b.CustomID, prefix) {
			return b, true
		}
	}
	return discordfake.Button{}, false
}

// TestE2EStopButton drives Stop through discordgo against discordfake:
// the live message carries a button labelled Stop with the run id; someone
// else's press is answered with an ephemeral notice and the run goes on;
// the asker's press closes the agent's HTTP stream before done and the
// message ends "Stopped by" with its steps and no component at all (a
// disabled button would count as still there); a replayed press is answered
// ephemerally.
func TestE2EStopButton(t *testing.T) {
	t.Parallel()
	e := startE2E(t, promptevtest.Agent{Script: []promptevtest.Event{
		{Type: promptevtest.TypeProcessing, Output: "Searching Jira..."},
		{Type: promptevtest.TypeDone, Output: "Too late.", Delay: 30 * time.Second},
	}})
	thread := e.ask(t, testUser, "why did the build fail?")
	var live discordfake.Message
	e.waitFor(t, func(s discordfake.Snapshot) bool {
		for _, m := range botMessagesIn(s, thread) {
			if _, ok := buttonWithPrefix(m, "pvb:stop:"); ok && strings.Contains(m.Content, "Searching Jira") {
				live = m
				return true
			}
		}
		return false
	})
	stop, _ := buttonWithPrefix(live, "pvb:stop:")
	assert.Equal(t, "stop", bareLabel(stop.Label))
	assert.Greater(t, len(stop.CustomID), len("pvb:stop:"), "the button carries the run id")

	_, err := e.fake.Click(discordfake.Click{GuildID: testGuild, ChannelID: thread, MessageID: live.ID,
		CustomID: stop.CustomID, UserID: otherUser, UserName: "mallory"})
	require.NoError(t, err)
	s := e.waitFor(t, func(s discordfake.Snapshot) bool { return len(s.InteractionResponses) == 1 })
	assert.True(t, s.InteractionResponses[0].Ephemeral())
	assert.Contains(t, s.InteractionResponses[0].Content, "not allowed")
	after, _ := s.Message(live.ID)
	_, still := buttonWithPrefix(after, "pvb:stop:")
	assert.True(t, still, "the run goes on")

	pressed := time.Now()
	_, err = e.fake.Click(discordfake.Click{GuildID: testGuild, ChannelID: thread, MessageID: live.ID,
		CustomID: stop.CustomID, UserID: testUser, UserName: "ana"})
	require.NoError(t, err)
	s = e.waitFor(t, func(s discordfake.Snapshot) bool {
		m, _ := s.Message(live.ID)
		return strings.Contains(m.Content, "Stopped by")
	})
	assert.Less(t, time.Since(pressed), 2*time.Second)
	stopped, _ := s.Message(live.ID)
	assert.Contains(t, stopped.Content, "Searching Jira", "the steps seen stay")
	assert.Empty(t, stopped.Buttons(), "no Stop, not even a disabled one")
	assert.Equal(t, discordfake.ResponseDeferredUpdate, s.InteractionResponses[1].Type)
	e.waitFor(t, func(discordfake.Snapshot) bool { return e.pv.StreamsClosedByClient() == 1 })

	_, err = e.fake.Click(discordfake.Click{GuildID: testGuild, ChannelID: thread, MessageID: live.ID,
		CustomID: stop.CustomID, UserID: testUser, UserName: "ana"})
	require.NoError(t, err)
	s = e.waitFor(t, func(s discordfake.Snapshot) bool { return len(s.InteractionResponses) == 3 })
	assert.True(t, s.InteractionResponses[2].Ephemeral())
	assert.Contains(t, s.InteractionResponses[2].Content, "Already stopped")
	assert.Len(t, botMessagesIn(s, thread), 1, "no answer was posted")
}

// TestE2ERetryButton: a failed run's notice carries Retry; the asker's
// press runs the query again and the answer follows.
func TestE2ERetryButton(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	e := startE2E(t, promptevtest.Agent{Respond: func(turn promptevtest.Turn) []promptevtest.Event {
		if calls.Add(1) == 1 {
			return []promptevtest.Event{{Type: promptevtest.TypeError, Output: "the tool crashed"}}
		}
		return []promptevtest.Event{{Type: promptevtest.TypeDone, Output: "Answer to {{query}}"}}
	}})
	thread := e.ask(t, testUser, "why?")
	var notice discordfake.Message
	e.waitFor(t, func(s discordfake.Snapshot) bool {
		for _, m := range botMessagesIn(s, thread) {
			if _, ok := buttonWithPrefix(m, "pvb:retry:"); ok {
				notice = m
				return true
			}
		}
		return false
	})
	assert.Contains(t, notice.Content, "the tool crashed")
	retry, _ := buttonWithPrefix(notice, "pvb:retry:")
	assert.Equal(t, "retry", bareLabel(retry.Label))
	_, err := e.fake.Click(discordfake.Click{GuildID: testGuild, ChannelID: thread, MessageID: notice.ID,
		CustomID: retry.CustomID, UserID: testUser, UserName: "ana"})
	require.NoError(t, err)
	s := e.waitFor(t, func(s discordfake.Snapshot) bool {
		for _, m := range botMessagesIn(s, thread) {
			if strings.Contains(m.Content, "Answer to why?") {
				return true
			}
		}
		return false
	})
	retried, _ := s.Message(notice.ID)
	assert.Empty(t, retried.Buttons())
}
