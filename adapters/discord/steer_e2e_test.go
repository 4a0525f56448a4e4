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
		// The edit may land before the press's own response is recorded.
		m, _ := s.Message(live.ID)
		return strings.Contains(m.Content, "Stopped by") && len(s.InteractionResponses) == 2
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

// reasonAgent asks for approval on an ordinary turn and echoes the deny
// query with its reason.
func reasonAgent() promptevtest.Agent {
	return promptevtest.Agent{
		OnDeny: []promptevtest.Event{{Type: promptevtest.TypeDone, Output: "Agent heard: {{query}}"}},
		Script: []promptevtest.Event{
			{Type: promptevtest.TypeProcessing, Output: "Searching Jira..."},
			{Type: promptevtest.TypeApprovalRequired, Output: "Create a Jira issue titled Outage?", Tool: "jira.create_issue"},
		},
	}
}

// TestE2EDenyWithReason: the card's third button is answered with a MODAL
// (9) response; the reason arrives as MODAL_SUBMIT (5); the card shows
// "Denied by X: <reason>" and the agent gets the deny_with_reason_query. A
// modal submitted after the decision changes nothing and tells its
// submitter ephemerally.
func TestE2EDenyWithReason(t *testing.T) {
	t.Parallel()
	e := startE2E(t, reasonAgent())
	thread := e.ask(t, testUser, "open an outage ticket")
	var card discordfake.Message
	e.waitFor(t, func(s discordfake.Snapshot) bool {
		for _, m := range botMessagesIn(s, thread) {
			if _, ok := buttonWithPrefix(m, "pvb:deny_reason:"); ok {
				card = m
				return true
			}
		}
		return false
	})
	reasonBtn, _ := buttonWithPrefix(card, "pvb:deny_reason:")
	assert.Equal(t, "deny with reason", bareLabel(reasonBtn.Label))

	// Someone else gets a notice, not a form.
	_, err := e.fake.Click(discordfake.Click{GuildID: testGuild, ChannelID: thread, MessageID: card.ID,
		CustomID: reasonBtn.CustomID, UserID: otherUser, UserName: "mallory"})
	require.NoError(t, err)
	s := e.waitFor(t, func(s discordfake.Snapshot) bool { return len(s.InteractionResponses) == 1 })
	assert.True(t, s.InteractionResponses[0].Ephemeral())
	assert.Nil(t, s.InteractionResponses[0].Modal)

	// The requester opens the form twice; the first submission decides.
	for i := range 2 {
		_, err = e.fake.Click(discordfake.Click{GuildID: testGuild, ChannelID: thread, MessageID: card.ID,
			CustomID: reasonBtn.CustomID, UserID: testUser, UserName: "ana"})
		require.NoError(t, err)
		e.waitFor(t, func(s discordfake.Snapshot) bool { return len(s.InteractionResponses) == 2+i })
	}
	s = e.fake.Snapshot()
	modal := s.InteractionResponses[1]
	require.Equal(t, discordfake.ResponseModal, modal.Type)
	require.NotNil(t, modal.Modal)
	assert.Equal(t, "pvb:deny:"+strings.TrimPrefix(reasonBtn.CustomID, "pvb:deny_reason:"), modal.Modal.CustomID)
	assert.Equal(t, "Deny with reason", modal.Modal.Title)
	require.Len(t, modal.Modal.Inputs, 1)
	assert.Equal(t, 500, modal.Modal.Inputs[0].MaxLength)
	input := modal.Modal.Inputs[0].CustomID

	_, err = e.fake.SubmitModal(discordfake.ModalSubmit{GuildID: testGuild, ChannelID: thread, MessageID: card.ID,
		CustomID: modal.Modal.CustomID, UserID: testUser, UserName: "ana",
		Values: map[string]string{input: "wrong project @everyone"}})
	require.NoError(t, err)
	s = e.waitFor(t, func(s discordfake.Snapshot) bool {
		// The bridge's edit of the card may land before the interaction's
		// answer, which the adapter sends once HandleAction returned.
		c, _ := s.Message(card.ID)
		return strings.Contains(c.Content, "Denied by **ana**: wrong project") && len(s.InteractionResponses) == 4
	})
	decided, _ := s.Message(card.ID)
	assert.Empty(t, decided.Buttons())
	assert.NotContains(t, decided.Content, "@everyone")
	assert.Equal(t, discordfake.ResponseDeferredUpdate, s.InteractionResponses[3].Type)
	e.waitFor(t, func(s discordfake.Snapshot) bool {
		for _, m := range botMessagesIn(s, thread) {
			if strings.Contains(m.Content, "Agent heard: deny: wrong project") {
				return true
			}
		}
		return false
	})

	_, err = e.fake.SubmitModal(discordfake.ModalSubmit{GuildID: testGuild, ChannelID: thread, MessageID: card.ID,
		CustomID: modal.Modal.CustomID, UserID: testUser, UserName: "ana", Values: map[string]string{input: "late"}})
	require.NoError(t, err)
	s = e.waitFor(t, func(s discordfake.Snapshot) bool { return len(s.InteractionResponses) == 5 })
	assert.True(t, s.InteractionResponses[4].Ephemeral())
	assert.Contains(t, s.InteractionResponses[4].Content, "your reason was not sent")
}
