package slack_test

import (
	"encoding/json"
	"fmt"
	"net/http"
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

// reasonAgent asks for approval on an ordinary turn and echoes the deny
// query with its reason.
func reasonAgent() promptevtest.Agent {
	return promptevtest.Agent{
		OnDeny: []promptevtest.Event{{Type: promptevtest.TypeDone, Output: "Agent heard: {{query}}"}},
		Respond: func(promptevtest.Turn) []promptevtest.Event {
			return []promptevtest.Event{
				{Type: promptevtest.TypeProcessing, Output: "Searching Jira..."},
				{Type: promptevtest.TypeApprovalRequired, Output: "Create issue 'Printer on fire'?", Tool: "jira.create_issue"},
			}
		}}
}

// TestE2EDenyWithReason: the card's third button opens a modal through
// views.open with the click's trigger_id; the reason arrives as
// view_submission; the card shows "Denied by X: <reason>" and the agent
// gets the deny_with_reason_query. A second modal submitted after the
// decision changes nothing and tells its submitter.
func TestE2EDenyWithReason(t *testing.T) {
	for _, mode := range []string{slack.ModeSocket, slack.ModeHTTP} {
		t.Run(mode, func(t *testing.T) {
			r := newRig(t, reasonAgent(), func(c *slack.Config) { c.Mode = mode })
			ev := r.fake.Mention("C1", "U1", "file a ticket")
			require.NoError(t, r.send(ev))
			var card slackfake.Message
			r.fake.Await(t, "approval card", func() bool {
				for _, m := range r.fake.Thread("C1", ev.TS) {
					if m.ButtonValue("pvb_deny_reason") != "" {
						card = m
						return true
					}
				}
				return false
			})
			assert.Equal(t, "deny with reason", bareLabel(buttonLabel(card, "pvb_deny_reason")))

			// Two forms opened by the requester; the first one decides.
			for range 2 {
				require.NoError(t, r.click(slackfake.ClickOn(card, "U1", "pvb_deny_reason")))
			}
			r.fake.Await(t, "two modals", func() bool { return len(r.fake.Views()) == 2 })
			views := r.fake.Views()
			assert.Equal(t, "pvb_prompt", views[0].CallbackID)
			assert.Equal(t, "Deny with reason", views[0].Title)
			for _, c := range r.fake.Calls("views.open") {
				assert.Empty(t, c.Error, "views.open answered with the click's fresh trigger_id")
			}
			_, still := r.fake.Message("C1", card.TS)
			require.True(t, still)
			assert.NotEmpty(t, card.ButtonValue("pvb_approve"), "opening the form decides nothing")

			require.NoError(t, r.submit(views[0].ID, "U1", "wrong project <!here>"))
			r.fake.Await(t, "denied card", func() bool {
				m, _ := r.fake.Message("C1", card.TS)
				return strings.Contains(m.BlockText(), "Denied by U1: wrong project")
			})
			decided, _ := r.fake.Message("C1", card.TS)
			assert.Empty(t, decided.Buttons())
			assert.NotContains(t, decided.BlockText(), "<!here>")
			r.threadShows(t, "C1", ev.TS, "Agent heard: deny: wrong project")

			require.NoError(t, r.submit(views[1].ID, "U1", "another reason"))
			r.fake.Await(t, "late-submission notice", func() bool { return len(r.ephemeralsTo("U1")) == 1 })
			assert.Contains(t, r.ephemeralsTo("U1")[0], "your reason was not sent")
			assert.Equal(t, 2, r.streams(), "the run and one continuation")
			r.assertNoRejectedCalls(t)
		})
	}
}

// send delivers ev over the rig's connection mode (Socket Mode or signed HTTP).
func (r *rig) send(ev slackfake.Event) error {
	if r.eventsURL == "" {
		_, err := r.fake.SendEvent(ev, 0)
		return err
	}
	return okResponse(r.fake.PostEvent(r.eventsURL, ev, slackfake.PostOptions{}))
}

// click delivers a block_actions click over the rig's connection mode.
func (r *rig) click(c slackfake.Click) error {
	if r.clicksURL == "" {
		_, err := r.fake.SendClick(c)
		return err
	}
	return okResponse(r.fake.PostClick(r.clicksURL, c, slackfake.PostOptions{}))
}

// submit delivers the view_submission of view id with text in the prompt's
// field over the rig's connection mode.
func (r *rig) submit(id, user, text string) error {
	values := map[string]map[string]string{"pvb_prompt_text": {"text": text}}
	if r.clicksURL == "" {
		_, err := r.fake.SubmitView(id, user, values)
		return err
	}
	return okResponse(r.fake.PostViewSubmission(r.clicksURL, id, user, values, slackfake.PostOptions{}))
}

func okResponse(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// TestE2EAgentSessionStopped: Slack's native stop (agent_session_stopped
// for the thread) stops the run under way like the button, within 2 s,
// and moves the agent session out of processing (agents.sessions.setStatus
// active). Someone else's native stop is refused and the session stays in
// processing.
func TestE2EAgentSessionStopped(t *testing.T) {
	for _, mode := range []string{slack.ModeSocket, slack.ModeHTTP} {
		t.Run(mode, func(t *testing.T) {
			r := newRig(t, promptevtest.Agent{Script: []promptevtest.Event{
				{Type: promptevtest.TypeProcessing, Output: "Searching Jira..."},
				{Type: promptevtest.TypeDone, Output: "Too late.", Delay: 30 * time.Second},
			}}, func(c *slack.Config) { c.AssistantStatus = true; c.Mode = mode })
			ev := r.fake.Mention("C1", "U1", "why did the build fail?")
			require.NoError(t, r.send(ev))
			placeholder := r.threadShows(t, "C1", ev.TS, "Searching Jira...")
			r.fake.Await(t, "processing status", func() bool { return len(r.fake.Calls("assistant.threads.setStatus")) > 0 })

			stopped := slackfake.AgentSessionStopped{Channel: "C1", Thread: ev.TS, User: "U2", StreamingTS: []string{}}
			require.NoError(t, r.agentStop(stopped))
			r.fake.Await(t, "not-allowed notice", func() bool { return len(r.ephemeralsTo("U2")) == 1 })
			assert.Contains(t, r.ephemeralsTo("U2")[0], "not allowed")
			assert.Empty(t, r.fake.Calls("agents.sessions.setStatus"), "a refused stop leaves the session processing")
			still, _ := r.fake.Message("C1", placeholder.TS)
			assert.NotEmpty(t, still.ButtonValue(actionStop), "the run goes on")

			stopped.User = "U1"
			pressed := time.Now()
			require.NoError(t, r.agentStop(stopped))
			r.threadShows(t, "C1", ev.TS, "Stopped by U1")
			assert.Less(t, time.Since(pressed), 2*time.Second)
			r.fake.Await(t, "session out of processing", func() bool {
				calls := r.fake.Calls("agents.sessions.setStatus")
				return len(calls) == 1 && calls[0].Status == "active" && calls[0].Channel == "C1" && calls[0].Error == ""
			})
			r.fake.Await(t, "stream closed by the client", func() bool { return r.api.StreamsClosedByClient() == 1 })
			r.fake.Await(t, "thread status cleared", func() bool {
				calls := r.fake.Calls("assistant.threads.setStatus")
				return calls[len(calls)-1].Status == ""
			})
			assert.Len(t, r.fake.Thread("C1", ev.TS), 1, "no answer was posted")
			r.assertNoRejectedCalls(t)
		})
	}
}

// agentStop delivers an agent_session_stopped event over the rig's mode.
func (r *rig) agentStop(ev slackfake.AgentSessionStopped) error {
	if r.eventsURL == "" {
		_, err := r.fake.SendAgentSessionStopped(ev)
		return err
	}
	return okResponse(r.fake.PostAgentSessionStopped(r.eventsURL, ev, slackfake.PostOptions{}))
}
