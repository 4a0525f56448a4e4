package bridge_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
)

// feedbackClick presses value on the answer's buttons.
func feedbackClick(t *testing.T, r *rig, key chat.ConversationKey, answer, user string, v chat.FeedbackValue) chat.ActionResult {
	t.Helper()
	res, err := r.b.HandleAction(context.Background(), chat.Action{
		Platform: "slack", Kind: chat.Feedback, Target: chat.FeedbackTarget(answer, v),
		User: chat.User{ID: user}, Received: time.Now(), Card: chat.MessageRef{Key: key, ID: "answer"},
	})
	require.NoError(t, err)
	return res
}

func TestFeedbackPressedChangedReplayed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(func(c streamCall) []step {
			return []step{{Type: promptev.EventDone, Out: "The answer."}}
		})
		r := startRig(t, agent, withConfig(func(c *bridge.Config) {
			c.Feedback.Query = "feedback: {{.Value}} on {{.Answer}}"
		}))
		defer r.stop()
		key := engKey("1")
		r.send(key, "U1", "question")
		time.Sleep(5 * time.Second)
		settle()
		msgs := r.p.Messages(key)
		require.Len(t, msgs, 1)
		answer := r.p.Current(msgs[0].Ref)
		require.NotEmpty(t, answer.Feedback, "the final answer carries its feedback buttons")

		res := feedbackClick(t, r, key, answer.Feedback, "U1", chat.FeedbackUp)
		assert.True(t, res.Accepted)
		assert.Equal(t, 1, r.metrics.count("feedback:up"))
		res = feedbackClick(t, r, key, answer.Feedback, "U1", chat.FeedbackUp) // replayed
		assert.False(t, res.Accepted)
		assert.NotEmpty(t, res.Notice)
		assert.Equal(t, 1, r.metrics.count("feedback:up"), "a replay is not counted")
		res = feedbackClick(t, r, key, answer.Feedback, "U1", chat.FeedbackDown) // changed
		assert.True(t, res.Accepted)
		assert.Equal(t, 1, r.metrics.count("feedback:down"))
		feedbackClick(t, r, key, answer.Feedback, "U2", chat.FeedbackUp)

		list, err := r.store.ListFeedback(context.Background(), answer.Feedback)
		require.NoError(t, err)
		require.Len(t, list, 2, "one per user per answer")
		assert.Equal(t, chat.FeedbackDown, list[0].Value)
		assert.Equal(t, key, list[0].Key)

		settle()
		var queries []string
		for _, c := range agent.Streams() {
			queries = append(queries, c.Query)
		}
		require.NotEmpty(t, queries)
		assert.Equal(t, "question", queries[0])
		assert.ElementsMatch(t, []string{"feedback: up on " + answer.Feedback, "feedback: down on " + answer.Feedback,
			"feedback: up on " + answer.Feedback}, queries[1:], "every change reaches the agent's session; the replay does not")
		assert.Len(t, r.p.Messages(key), 1, "the agent's reply to feedback is not shown")

		bad := feedbackClick(t, r, key, "no-value-here", "U1", chat.FeedbackUp)
		assert.True(t, bad.Accepted, "any answer id is accepted")
		res, err = r.b.HandleAction(context.Background(), chat.Action{Platform: "slack", Kind: chat.Feedback, Target: "x:meh", User: chat.User{ID: "U1"}})
		require.NoError(t, err)
		assert.False(t, res.Accepted)
	})
}

func TestFeedbackQueryOffByDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(func(c streamCall) []step { return []step{{Type: promptev.EventDone, Out: "A."}} })
		r := startRig(t, agent)
		defer r.stop()
		key := engKey("1")
		r.send(key, "U1", "q")
		time.Sleep(5 * time.Second)
		settle()
		answer := r.p.Current(r.p.Messages(key)[0].Ref)
		feedbackClick(t, r, key, answer.Feedback, "U1", chat.FeedbackDown)
		settle()
		assert.Len(t, agent.Streams(), 1)
	})
}
