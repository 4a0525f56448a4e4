package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"text/template"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
)

// FeedbackConfig configures the 👍/👎 buttons of final answers.
type FeedbackConfig struct {
	// Query, when set, is a text/template sent to the agent's session when
	// someone rates an answer (or changes a rating), with .Value ("up" or
	// "down"), .User (the rater's platform id) and .Answer (the answer's
	// id); for example "user feedback on your last answer: {{.Value}}".
	// The agent's reply is not shown. Off (empty) by default.
	Query string `yaml:"query"`
}

// feedbackData is what FeedbackConfig.Query is executed with.
type feedbackData struct {
	Value, User, Answer string
}

// parseFeedbackQuery parses FeedbackConfig.Query (nil when empty).
func parseFeedbackQuery(q string) (*template.Template, error) {
	if q == "" {
		return nil, nil
	}
	return template.New("feedback.query").Option("missingkey=error").Parse(q)
}

// Feedback notices.
const (
	noticeFeedbackThanks  = "Thanks for your feedback."
	noticeFeedbackChanged = "Your feedback was changed."
	noticeFeedbackSame    = "Your feedback was already recorded."
	noticeFeedbackBad     = "This feedback button is not valid; nothing was recorded."
)

// registerFeedback makes feedback a user of the action registry.
func (b *Bridge) registerFeedback() {
	b.onAction(chat.Feedback, b.feedback)
}

// feedback records a press of an answer's 👍/👎: once per user per answer,
// changeable, counted and logged when it changes something.
func (b *Bridge) feedback(ctx context.Context, act chat.Action) (chat.ActionResult, error) {
	answer, value, err := chat.ParseFeedbackTarget(act.Target)
	if err != nil {
		b.log.Info("invalid feedback click", "platform", act.Platform, "target", act.Target, "user", act.User.ID)
		return chat.ActionResult{Notice: noticeFeedbackBad}, nil
	}
	key := act.Card.Key
	prev, changed, err := b.store.PutFeedback(ctx, chat.FeedbackRecord{
		Answer: answer, Key: key, User: act.User.ID, Value: value, At: act.Received,
	})
	if err != nil {
		return chat.ActionResult{}, fmt.Errorf("bridge: record feedback: %w", err)
	}
	if !changed {
		return chat.ActionResult{Notice: noticeFeedbackSame}, nil
	}
	b.metrics.Feedback(act.Platform, string(value))
	b.log.Info("answer feedback", "platform", act.Platform, "conversation", key.String(), "run", answer,
		"user", act.User.ID, "value", value, "previous", prev)
	if b.feedbackQuery != nil && key.Valid() {
		var q bytes.Buffer
		if err := b.feedbackQuery.Execute(&q, feedbackData{Value: string(value), User: act.User.ID, Answer: answer}); err != nil {
			b.log.Warn("feedback query not built", "err", err)
		} else if !b.workers.Go(func() { b.tellAgent(key, q.String()) }) {
			b.log.Debug("feedback query dropped: stopping", "conversation", key.String())
		}
	}
	if prev != "" {
		return chat.ActionResult{Accepted: true, Notice: noticeFeedbackChanged}, nil
	}
	return chat.ActionResult{Accepted: true, Notice: noticeFeedbackThanks}, nil
}

// feedbackQueryTimeout bounds the agent turn that carries feedback.
const feedbackQueryTimeout = time.Minute

// tellAgent sends query to the conversation's agent session and drains the
// turn; the reply is not shown. A conversation without a stream session is
// skipped.
func (b *Bridge) tellAgent(key chat.ConversationKey, query string) {
	log := b.log.With("platform", key.Platform, "conversation", key.String())
	ctx, cancel := context.WithTimeout(b.runs, feedbackQueryTimeout)
	defer cancel()
	conv, err := b.store.GetConversation(ctx, key)
	if err != nil || conv.SessionToken == "" {
		log.Debug("feedback not sent to the agent: no session", "err", err)
		return
	}
	s, err := b.agent.Stream(ctx, conv.AgentID, conv.SessionToken, query)
	if err != nil {
		log.Warn("feedback not sent to the agent", "err", err)
		return
	}
	defer func() { _ = s.Close() }()
	for {
		ev, err := s.Next()
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				log.Debug("feedback turn ended", "err", err)
			}
			return
		}
		switch ev.Type {
		case promptev.EventDone, promptev.EventError, promptev.EventApprovalRequired:
			log.Debug("feedback sent to the agent", "end", ev.Type)
			return
		}
	}
}
