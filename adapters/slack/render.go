package slack

import (
	"strings"
	"unicode/utf8"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/slack-go/slack"
)

// Slack's documented size limits, enforced here before sending.
const (
	// maxTextChars is what the bridge may put in one message's text; Slack's
	// chat.update rejects more than 4,000.
	maxTextChars = 3900
	// maxSectionChars is the limit of a section or context text object.
	maxSectionChars = 3000
	// maxMarkdownChars is the total limit of markdown blocks in one message.
	maxMarkdownChars = 12000
	// maxContextElements is the limit of elements in one context block.
	maxContextElements = 10
	// maxStatusSteps is how many recent steps the status shows at most.
	maxStatusSteps = 10
)

// actionIDPrefix starts the action id of every bridge button. A button's
// action id is the prefix and its chat.ActionKind, and its value is the
// action's target (the approval id of a card's buttons): "pvb_approve" with
// value "<approval id>". Buttons posted before actions had kinds used the
// same form, so their clicks still decode.
const actionIDPrefix = "pvb_"

// noBlockID leaves a block's block_id out, so Slack assigns a fresh one on
// every post and update: Slack asks for a new block_id each time a message
// is updated, and the adapter finds clicks by action_id, not block_id.
const noBlockID = ""

// Action ids of the approval card's buttons.
const (
	ActionApprove = actionIDPrefix + string(chat.Approve)
	ActionDeny    = actionIDPrefix + string(chat.Deny)
)

// actionID is the action id of a button of the given kind.
func actionID(kind chat.ActionKind) string { return actionIDPrefix + string(kind) }

// parseActionID reads the kind of a bridge button from its action id; ok is
// false for buttons that are not the bridge's.
func parseActionID(id string) (kind chat.ActionKind, ok bool) {
	rest, found := strings.CutPrefix(id, actionIDPrefix)
	kind = chat.ActionKind(rest)
	return kind, found && kind.Valid()
}

// rendered is a chat.Message in Slack's form: blocks plus the plain-text
// fallback used for notifications and clients without Block Kit.
type rendered struct {
	Blocks []slack.Block
	Text   string
}

// render turns a bridge message into Block Kit. Every text object is cut to
// Slack's limits, so what it returns never triggers msg_too_long or
// invalid_blocks.
func render(m chat.Message) rendered {
	m = neutralize(m)
	var r rendered
	switch m.Kind {
	case chat.KindApproval:
		r = renderApproval(m)
	case chat.KindAnswer, chat.KindNotice:
		r = renderMarkdown(m)
	default:
		r = renderStatus(m)
	}
	if row := messageButtons(m.Buttons); row != nil {
		r.Blocks = append(r.Blocks, row)
	}
	return r
}

// messageButtons renders a message's own buttons (a run's Stop, a failure
// notice's Retry) as one actions block; nil when there are none. Each
// button's action id is the prefix and its kind, its value the target.
func messageButtons(buttons []chat.Button) slack.Block {
	if len(buttons) == 0 {
		return nil
	}
	elems := make([]slack.BlockElement, 0, len(buttons))
	for _, b := range buttons {
		if !b.Kind.Valid() || b.Target == "" {
			continue
		}
		btn := slack.NewButtonBlockElement(actionID(b.Kind), b.Target, plain(chat.TruncateRunes(b.Label, maxButtonLabel)))
		switch b.Kind {
		case chat.Stop:
			btn = btn.WithStyle(slack.StyleDanger)
		case chat.Retry:
			btn = btn.WithStyle(slack.StylePrimary)
		}
		elems = append(elems, btn)
	}
	if len(elems) == 0 {
		return nil
	}
	return slack.NewActionBlock(noBlockID, elems...)
}

// maxButtonLabel is Slack's limit on a button's text.
const maxButtonLabel = 75

// renderStatus renders the placeholder and its live status: the status line
// (with an hourglass while the run works; none once the status is final, such
// as the "✓ 3 steps" summary a placeholder is tidied to), the latest thought
// and the recent steps.
func renderStatus(m chat.Message) rendered {
	status := strings.TrimSpace(m.Status)
	switch {
	case status != "":
	case m.Final:
		status = "Done"
	default:
		status = "Working..."
	}
	line := escape(status, maxSectionChars-30)
	if !m.Final {
		line = ":hourglass_flowing_sand: " + line
	}
	var blocks []slack.Block
	blocks = append(blocks, slack.NewContextBlock(noBlockID, mrkdwn(line)))
	if t := strings.TrimSpace(m.Thought); t != "" {
		blocks = append(blocks, slack.NewContextBlock(noBlockID,
			mrkdwn("_"+escape(chat.OneLine(t), maxSectionChars-10)+"_")))
	}
	if len(m.Steps) > 0 {
		steps := m.Steps
		if len(steps) > maxStatusSteps {
			steps = steps[len(steps)-maxStatusSteps:]
		}
		per := maxSectionChars / len(steps)
		lines := make([]string, 0, len(steps))
		for _, s := range steps {
			mark := ":small_blue_diamond:"
			if s.Done {
				mark = ":white_check_mark:"
			}
			lines = append(lines, mark+" "+escape(chat.OneLine(s.Text), per-len(mark)-2))
		}
		blocks = append(blocks, slack.NewContextBlock(noBlockID, mrkdwn(strings.Join(lines, "\n"))))
	}
	return rendered{Blocks: blocks, Text: plainFallback(status)}
}

func renderApproval(m chat.Message) rendered {
	card := m.Approval
	if card == nil {
		card = &chat.ApprovalCard{}
	}
	head := ":raised_hand: *Approval needed*"
	if card.Tool != "" {
		head += ": `" + escape(chat.OneLine(card.Tool), 200) + "`"
	}
	var blocks []slack.Block
	text := head
	if d := strings.TrimSpace(card.Description); d != "" {
		text += "\n" + escape(d, maxSectionChars-utf8.RuneCountInString(head)-1)
	}
	blocks = append(blocks, slack.NewSectionBlock(mrkdwn(text), nil, nil))
	if a := strings.TrimSpace(card.Arguments); a != "" {
		// Inside a code span the text is shown verbatim; backticks would end it.
		a = strings.ReplaceAll(a, "```", "'''")
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn("```"+escape(a, maxSectionChars-6)+"```"), nil, nil))
	}
	switch card.State {
	case chat.ApprovalPending, "":
		approve := slack.NewButtonBlockElement(actionID(chat.Approve), card.ID, plain("Approve")).WithStyle(slack.StylePrimary)
		deny := slack.NewButtonBlockElement(actionID(chat.Deny), card.ID, plain("Deny")).WithStyle(slack.StyleDanger)
		elems := []slack.BlockElement{approve, deny}
		if card.DenyWithReason {
			elems = append(elems, slack.NewButtonBlockElement(actionID(chat.DenyWithReason), card.ID, plain("Deny with reason…")))
		}
		if card.GrantTool && card.Tool != "" {
			label := "Approve all " + chat.TruncateRunes(chat.OneLine(card.Tool), maxButtonLabel-17) + " here"
			elems = append(elems, slack.NewButtonBlockElement(actionID(chat.ApproveConversation), card.ID, plain(label)))
		}
		blocks = append(blocks, slack.NewActionBlock(noBlockID, elems...))
	default:
		blocks = append(blocks, slack.NewContextBlock(noBlockID, mrkdwn(decidedLine(card))))
	}
	fallback := "Approval needed"
	if card.Tool != "" {
		fallback += ": " + chat.OneLine(card.Tool)
	}
	if card.State != chat.ApprovalPending && card.State != "" {
		fallback += " (" + decidedText(card) + ")"
	}
	return rendered{Blocks: blocks, Text: plainFallback(fallback)}
}

func decidedText(card *chat.ApprovalCard) string {
	by := chat.OneLine(card.DecidedBy)
	switch card.State {
	case chat.ApprovalApproved:
		out := "Approved"
		if card.Granted {
			out += " for this conversation"
		}
		if by != "" {
			out += " by " + by
		}
		return out
	case chat.ApprovalDenied:
		out := "Denied"
		if by != "" {
			out += " by " + by
		}
		if r := chat.OneLine(card.Reason); r != "" {
			out += ": " + r
		}
		return out
	case chat.ApprovalExpired:
		return "Expired"
	case chat.ApprovalStopped:
		if by == "" {
			return "Stopped"
		}
		return "Stopped by " + by
	default:
		return string(card.State)
	}
}

func decidedLine(card *chat.ApprovalCard) string {
	mark := ":grey_question:"
	switch card.State {
	case chat.ApprovalApproved:
		mark = ":white_check_mark:"
	case chat.ApprovalDenied:
		mark = ":no_entry_sign:"
	case chat.ApprovalExpired:
		mark = ":hourglass:"
	case chat.ApprovalStopped:
		mark = ":black_square_for_stop:"
	}
	return mark + " " + escape(decidedText(card), 800)
}

// renderMarkdown renders an answer chunk or a notice as a markdown block, which
// Slack renders as standard Markdown, with a plain-text fallback.
func renderMarkdown(m chat.Message) rendered {
	body := m.Body
	if strings.TrimSpace(body) == "" {
		body = "(empty answer)"
	}
	// The bridge keeps Body within maxTextChars; the markdown block itself
	// allows maxMarkdownChars, which leaves room for neutralised mentions.
	body = chat.TruncateRunes(body, maxMarkdownChars)
	blocks := []slack.Block{slack.NewMarkdownBlock(noBlockID, body)}
	if fb := feedbackBlock(m.Feedback); fb != nil {
		blocks = append(blocks, fb)
	}
	return rendered{Blocks: blocks, Text: plainFallback(body)}
}

// ActionFeedback is the action id of an answer's 👍/👎 (a feedback_buttons
// element); the pressed button's value is chat.FeedbackTarget.
const ActionFeedback = actionIDPrefix + string(chat.Feedback)

// feedbackBlock is the context_actions block with the 👍/👎 feedback
// buttons of answer, or nil without an answer id.
func feedbackBlock(answer string) slack.Block {
	if answer == "" {
		return nil
	}
	up := slack.NewFeedbackButton(plain("👍"), chat.FeedbackTarget(answer, chat.FeedbackUp)).WithAccessibilityLabel("Good answer")
	down := slack.NewFeedbackButton(plain("👎"), chat.FeedbackTarget(answer, chat.FeedbackDown)).WithAccessibilityLabel("Bad answer")
	return slack.NewContextActionsBlock(noBlockID, slack.NewFeedbackButtonsBlockElement(ActionFeedback, up, down))
}

// neutralize makes every text of m unable to ping (mentions, @channel),
// whatever the caller did before.
func neutralize(m chat.Message) chat.Message {
	m.Status = neutralizeMentions(m.Status)
	m.Thought = neutralizeMentions(m.Thought)
	m.Body = neutralizeMentions(m.Body)
	if len(m.Steps) > 0 {
		steps := make([]chat.Step, len(m.Steps))
		for i, st := range m.Steps {
			steps[i] = chat.Step{Text: neutralizeMentions(st.Text), Done: st.Done, Seq: st.Seq}
		}
		m.Steps = steps
	}
	if m.Approval != nil {
		card := *m.Approval
		card.Tool = neutralizeMentions(card.Tool)
		card.Description = neutralizeMentions(card.Description)
		card.Arguments = neutralizeMentions(card.Arguments)
		card.DecidedBy = neutralizeMentions(card.DecidedBy)
		card.Reason = neutralizeMentions(card.Reason)
		m.Approval = &card
	}
	return m
}

// msgOptions are the options that send r: text and blocks always together,
// because chat.update with text and no blocks would remove the blocks.
func (r rendered) msgOptions() []slack.MsgOption {
	return []slack.MsgOption{
		slack.MsgOptionText(r.Text, false),
		slack.MsgOptionBlocks(r.Blocks...),
	}
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, true)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

// escape escapes &, < and > for mrkdwn (so no text can form a mention or a
// link) and cuts the result to at most limit runes, ending with "…" when cut,
// without splitting an entity.
func escape(s string, limit int) string {
	limit = max(limit, 1)
	var b strings.Builder
	n := 0
	for i, r := range s {
		piece := string(r)
		switch r {
		case '&':
			piece = "&amp;"
		case '<':
			piece = "&lt;"
		case '>':
			piece = "&gt;"
		}
		w := utf8.RuneCountInString(piece)
		rest := len(s) - i - utf8.RuneLen(r)
		// Leave room for the ellipsis unless this piece ends the text.
		room := limit
		if rest > 0 {
			room = limit - 1
		}
		if n+w > room {
			b.WriteString("…")
			return b.String()
		}
		b.WriteString(piece)
		n += w
	}
	return b.String()
}

// plainFallback is the message's text field: escaped and at most maxTextChars.
func plainFallback(s string) string { return escape(s, maxTextChars) }
