package bridge

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/promptev/promptev-bridge/chat"
)

// Texts the bridge shows. They are plain enough for every platform.
const (
	thinkingText      = "Thinking…"
	busyText          = "⏳ I'm still working on earlier messages in this conversation. Please wait for them to finish and send this one again."
	interruptedText   = "⚠️ This run was interrupted — send your message again."
	cancelledText     = "⏹ This run was cancelled."
	droppedText       = "⚠️ The bridge is restarting, so your waiting messages were not answered — send them again."
	typedDecisionText = "ℹ️ Approval requests are decided with the buttons on their card; typed messages are never taken as a decision."
	restartNoteText   = "ℹ️ The previous agent session was no longer available, so I started a new one. Earlier context may be lost."
	emptyAnswerText   = "(The agent finished without an answer.)"
	waitingApproval   = "⏸ Waiting for approval"
)

// Caps on agent text shown outside an answer body, in runes.
const (
	maxStatusRunes      = 300
	maxStepRunes        = 200
	maxThoughtRunes     = 500
	maxThoughtsAllRunes = 1500
	maxDescriptionRunes = 1500
	maxArgumentsRunes   = 500
)

// liveView is the part of a run that its live status shows.
type liveView struct {
	status   string
	thought  string
	thoughts []string
	// steps is a window of the most recent steps; total counts all of them.
	steps []chat.Step
	total int
}

// addStep records a processing event: the previous step is done and the new
// one is running. Only the configured number of recent steps is kept.
func (v *liveView) addStep(text string, keep int) {
	if n := len(v.steps); n > 0 {
		v.steps[n-1].Done = true
	}
	v.total++
	v.status = text
	if keep <= 0 {
		return
	}
	if len(v.steps) >= keep {
		copy(v.steps, v.steps[len(v.steps)-keep+1:])
		v.steps = v.steps[:keep-1]
	}
	v.steps = append(v.steps, chat.Step{Text: chat.TruncateRunes(text, maxStepRunes), Seq: v.total})
}

// addThought records a thoughts event according to the show_thoughts mode.
func (v *liveView) addThought(text, mode string) {
	switch mode {
	case ThoughtsLatest:
		v.thought = chat.TruncateRunes(text, maxThoughtRunes)
	case ThoughtsAll:
		v.thoughts = append(v.thoughts, chat.TruncateRunes(text, maxThoughtRunes))
		joined := strings.Join(v.thoughts, "\n")
		for len(v.thoughts) > 1 && utf8.RuneCountInString(joined) > maxThoughtsAllRunes {
			v.thoughts = v.thoughts[1:]
			joined = strings.Join(v.thoughts, "\n")
		}
		v.thought = joined
	}
}

// finishSteps marks every step done (the run has ended).
func (v *liveView) finishSteps() {
	for i := range v.steps {
		v.steps[i].Done = true
	}
}

// message renders the live status so that it fits in max runes in all (the
// oldest steps, then the thought give way). Steps are copied: the outbox may
// hold the message while the run goes on.
func (v *liveView) message(max int) chat.Message {
	m := chat.Message{Kind: chat.KindStatus, Status: v.status, Thought: v.thought}
	if m.Status == "" {
		m.Status = thinkingText
	}
	steps := v.steps
	size := func() int {
		n := utf8.RuneCountInString(m.Status) + utf8.RuneCountInString(m.Thought) + 1
		for _, s := range steps {
			n += utf8.RuneCountInString(s.Text) + 3
		}
		return n
	}
	if max > 0 {
		for len(steps) > 1 && size() > max {
			steps = steps[1:]
		}
		if over := size() - max; over > 0 {
			m.Thought = chat.TruncateRunes(m.Thought, utf8.RuneCountInString(m.Thought)-over)
		}
	}
	if len(steps) > 0 {
		m.Steps = append([]chat.Step(nil), steps...)
	}
	return m
}

// summary is the one-line tidy state of a placeholder whose answer was
// delivered: "✓ 4 steps".
func (v *liveView) summary() chat.Message {
	s := "✓ Done"
	switch v.total {
	case 0:
	case 1:
		s = "✓ 1 step"
	default:
		s = fmt.Sprintf("✓ %d steps", v.total)
	}
	return chat.Message{Kind: chat.KindStatus, Status: s, Final: true}
}

// placeholderMessage is the first state of a run's message.
func placeholderMessage() chat.Message {
	return chat.Message{Kind: chat.KindStatus, Status: thinkingText}
}

// noticeMessage is a short final bridge notice.
func noticeMessage(text string) chat.Message {
	return chat.Message{Kind: chat.KindNotice, Body: text, Final: true}
}

// answerMessages neutralises (with the platform's mentions rule) and splits
// an answer into final messages that fit the platform.
func answerMessages(mentions func(string) string, answer string, max int) []chat.Message {
	answer = strings.TrimSpace(answer)
	if answer == "" {
		return []chat.Message{{Kind: chat.KindAnswer, Body: emptyAnswerText, Final: true}}
	}
	chunks := splitText(mentions(answer), max)
	msgs := make([]chat.Message, 0, len(chunks))
	for _, c := range chunks {
		msgs = append(msgs, chat.Message{Kind: chat.KindAnswer, Body: c, Final: true})
	}
	if len(msgs) == 0 {
		msgs = append(msgs, chat.Message{Kind: chat.KindAnswer, Body: emptyAnswerText, Final: true})
	}
	return msgs
}

// agentText makes agent text safe (with the platform's mentions rule) and
// short for a status line or card field.
func agentText(mentions func(string) string, s string, max int) string {
	return chat.TruncateRunes(mentions(strings.TrimSpace(s)), max)
}

// failureText is the notice for an agent-reported error.
func failureText(mentions func(string) string, output string) string {
	out := agentText(mentions, output, maxDescriptionRunes)
	if out == "" {
		return "⚠️ The agent reported an error. Please try again."
	}
	return "⚠️ The agent reported an error: " + out
}
