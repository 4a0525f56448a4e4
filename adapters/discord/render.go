package discord

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"
	"github.com/promptev/promptev-bridge/chat"
)

// Message size limits.
const (
	// MaxMessageChars is the most characters of Body the bridge sends in one
	// message (Discord's limit is 2,000; the rest is room for decoration).
	MaxMessageChars = 1900
	// hardContentLimit is Discord's limit on message content.
	hardContentLimit = 2000
	// maxCustomID is Discord's limit on a component custom_id.
	maxCustomID = 100
)

// customIDPrefix starts the custom id of every bridge button:
// "pvb:<kind>:<target>", for example "pvb:approve:<approval id>". It
// carries nothing but the chat.ActionKind and the opaque target, so a click
// still works after a restart.
const customIDPrefix = "pvb:"

// legacyKinds are the one-letter kinds of the buttons posted before actions
// had names ("pvb:a:<approval id>" approves, "pvb:d:<approval id>" denies);
// pending cards survive restarts, so their clicks still decode.
var legacyKinds = map[string]chat.ActionKind{"a": chat.Approve, "d": chat.Deny}

// rendered is a Message in Discord's terms.
type rendered struct {
	content string
	// components is never nil: an empty slice removes buttons on edit.
	components []discordgo.MessageComponent
}

// noMentions allows no mention of any kind to notify anyone.
func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}

// render turns a bridge message into content and components.
func render(msg chat.Message) (rendered, error) {
	r := rendered{components: []discordgo.MessageComponent{}}
	switch msg.Kind {
	case chat.KindStatus:
		r.content = renderStatus(msg)
	case chat.KindApproval:
		if msg.Approval == nil {
			return r, errors.New("approval message without approval card")
		}
		r.content = renderApproval(*msg.Approval)
		if msg.Approval.State == chat.ApprovalPending || msg.Approval.State == "" {
			row, err := approvalButtons(msg.Approval.ID, msg.Approval.DenyWithReason)
			if err == nil && msg.Approval.GrantTool && msg.Approval.Tool != "" {
				err = addGrantButton(&row, msg.Approval.ID, msg.Approval.Tool)
			}
			if err != nil {
				return r, err
			}
			r.components = []discordgo.MessageComponent{row}
		}
	default: // KindAnswer, KindNotice
		r.content = msg.Body
		if msg.Kind == chat.KindAnswer && msg.Feedback != "" {
			row, err := feedbackButtons(msg.Feedback)
			if err != nil {
				return r, err
			}
			r.components = []discordgo.MessageComponent{row}
		}
	}
	row, err := messageButtons(msg.Buttons)
	if err != nil {
		return r, err
	}
	if row != nil {
		r.components = append(r.components, *row)
	}
	// The bridge neutralises agent text already; doing it again here keeps
	// every path (notices, cards, status) unable to ping, whatever the caller.
	r.content = fitContent(neutralizeMentions(r.content))
	return r, nil
}

// renderStatus renders the placeholder / live status: a status line, the
// latest thought as muted subtext, the recent steps with ✓ for finished ones,
// and any body text.
func renderStatus(msg chat.Message) string {
	var b strings.Builder
	line := func(s string) {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(s)
	}
	if s := oneLine(msg.Status, 200); s != "" {
		if msg.Final {
			line("**" + escapeMarkdown(s) + "**")
		} else {
			line("⏳ **" + escapeMarkdown(s) + "**")
		}
	}
	if t := oneLine(msg.Thought, 300); t != "" {
		line("-# 💭 " + escapeMarkdown(t))
	}
	for _, st := range msg.Steps {
		s := oneLine(st.Text, 150)
		if s == "" {
			continue
		}
		if st.Done {
			line("✓ " + escapeMarkdown(s))
		} else {
			line("▸ " + escapeMarkdown(s))
		}
	}
	if body := strings.TrimSpace(msg.Body); body != "" {
		line(body)
	}
	if b.Len() == 0 && msg.Final {
		return "…"
	}
	if b.Len() == 0 {
		return "⏳ Thinking…"
	}
	return b.String()
}

// renderApproval renders an approval card's text; buttons are separate.
func renderApproval(c chat.ApprovalCard) string {
	var b strings.Builder
	b.WriteString("🔐 **Approval needed**")
	if tool := oneLine(c.Tool, 80); tool != "" {
		b.WriteString(" · `" + strings.ReplaceAll(tool, "`", "'") + "`")
	}
	if d := strings.TrimSpace(c.Description); d != "" {
		b.WriteString("\n" + escapeMarkdown(chat.TruncateRunes(d, 1000)))
	}
	if args := strings.TrimSpace(c.Arguments); args != "" {
		b.WriteString("\n```\n" + strings.ReplaceAll(chat.TruncateRunes(args, 500), "```", "`\u200b``") + "\n```")
	}
	by := escapeMarkdown(oneLine(c.DecidedBy, 80))
	switch c.State {
	case chat.ApprovalApproved:
		if c.Granted {
			b.WriteString("\n✅ Approved for this conversation" + suffixBy(by))
		} else {
			b.WriteString("\n✅ Approved" + suffixBy(by))
		}
	case chat.ApprovalDenied:
		if r := strings.TrimSpace(c.Reason); r != "" {
			b.WriteString("\n❌ Denied" + strings.TrimSuffix(suffixBy(by), ".") + ": " + escapeMarkdown(oneLine(r, 500)))
		} else {
			b.WriteString("\n❌ Denied" + suffixBy(by))
		}
	case chat.ApprovalExpired:
		b.WriteString("\n⌛ Expired: no decision was made in time.")
	case chat.ApprovalStopped:
		b.WriteString("\n⏹ Stopped" + suffixBy(by))
	}
	return b.String()
}

func suffixBy(by string) string {
	if by == "" {
		return "."
	}
	return " by **" + by + "**."
}

// approvalButtons is the Approve (success) / Deny (danger) row of a pending
// card, with "Deny with reason…" (secondary) when the card offers it.
func approvalButtons(id string, withReason bool) (discordgo.ActionsRow, error) {
	if id == "" {
		return discordgo.ActionsRow{}, errors.New("approval card without id")
	}
	approve, err := customID(chat.Approve, id)
	if err != nil {
		return discordgo.ActionsRow{}, err
	}
	deny, err := customID(chat.Deny, id)
	if err != nil {
		return discordgo.ActionsRow{}, err
	}
	row := discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		discordgo.Button{Label: "Approve", Style: discordgo.SuccessButton, CustomID: approve},
		discordgo.Button{Label: "Deny", Style: discordgo.DangerButton, CustomID: deny},
	}}
	if withReason {
		reason, err := customID(chat.DenyWithReason, id)
		if err != nil {
			return discordgo.ActionsRow{}, err
		}
		row.Components = append(row.Components,
			discordgo.Button{Label: "Deny with reason…", Style: discordgo.SecondaryButton, CustomID: reason})
	}
	return row, nil
}

// addGrantButton adds "Approve all <tool> here" to a card's row.
func addGrantButton(row *discordgo.ActionsRow, id, tool string) error {
	cid, err := customID(chat.ApproveConversation, id)
	if err != nil {
		return err
	}
	label := "Approve all " + oneLine(tool, 80-17) + " here"
	row.Components = append(row.Components, discordgo.Button{Label: label, Style: discordgo.SecondaryButton, CustomID: cid})
	return nil
}

// maxRowButtons is Discord's limit of buttons in one action row.
const maxRowButtons = 5

// messageButtons renders a message's own buttons (a run's Stop, a failure
// notice's Retry) as one action row; nil when there are none. An edit
// without them sends an empty component list, which removes them: no
// disabled button is left behind.
func messageButtons(buttons []chat.Button) (*discordgo.ActionsRow, error) {
	if len(buttons) == 0 {
		return nil, nil
	}
	if len(buttons) > maxRowButtons {
		return nil, fmt.Errorf("%d buttons do not fit an action row of %d", len(buttons), maxRowButtons)
	}
	row := discordgo.ActionsRow{}
	for _, b := range buttons {
		id, err := customID(b.Kind, b.Target)
		if err != nil {
			return nil, err
		}
		style := discordgo.SecondaryButton
		switch b.Kind {
		case chat.Stop:
			style = discordgo.DangerButton
		case chat.Retry:
			style = discordgo.PrimaryButton
		}
		row.Components = append(row.Components, discordgo.Button{Label: oneLine(b.Label, 80), Style: style, CustomID: id})
	}
	return &row, nil
}

// feedbackButtons is the 👍 / 👎 row of an answer's last part.
func feedbackButtons(answer string) (discordgo.ActionsRow, error) {
	up, err := customID(chat.Feedback, chat.FeedbackTarget(answer, chat.FeedbackUp))
	if err != nil {
		return discordgo.ActionsRow{}, err
	}
	down, err := customID(chat.Feedback, chat.FeedbackTarget(answer, chat.FeedbackDown))
	if err != nil {
		return discordgo.ActionsRow{}, err
	}
	return discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		discordgo.Button{Label: "👍", Style: discordgo.SecondaryButton, CustomID: up},
		discordgo.Button{Label: "👎", Style: discordgo.SecondaryButton, CustomID: down},
	}}, nil
}

// customID is the custom id of a button of the given kind and target; it
// fails when they do not fit Discord's limit.
func customID(kind chat.ActionKind, target string) (string, error) {
	if _, legacy := legacyKinds[string(kind)]; legacy || !kind.Valid() {
		return "", fmt.Errorf("action kind %q cannot be carried in a custom_id", kind)
	}
	id := customIDPrefix + string(kind) + ":" + target
	if len(id) > maxCustomID {
		return "", fmt.Errorf("%s target of %d bytes does not fit a %d-byte custom_id", kind, len(target), maxCustomID)
	}
	return id, nil
}

// parseCustomID reads the kind and target of a bridge button's custom id, in
// today's form or the legacy one. Anything else (another app's button, an
// invalid kind, an empty target, more than maxCustomID bytes) is refused.
func parseCustomID(s string) (chat.ActionKind, string, bool) {
	rest, ok := strings.CutPrefix(s, customIDPrefix)
	if !ok || len(s) > maxCustomID {
		return "", "", false
	}
	k, target, ok := strings.Cut(rest, ":")
	if !ok || target == "" {
		return "", "", false
	}
	kind, legacy := legacyKinds[k]
	if !legacy {
		kind = chat.ActionKind(k)
	}
	if !kind.Valid() {
		return "", "", false
	}
	return kind, target, true
}

// fitContent keeps content within Discord's hard limit (the bridge already
// splits answers; this guards decorated status and card text) and never
// sends an empty message. A cut inside a code fence closes the fence.
func fitContent(s string) string {
	if strings.TrimSpace(s) == "" {
		return "…"
	}
	if utf8.RuneCountInString(s) <= hardContentLimit {
		return s
	}
	cut := chat.TruncateRunes(s, hardContentLimit-5)
	if strings.Count(cut, "```")%2 == 1 {
		return cut + "\n```"
	}
	return cut
}

// oneLine collapses whitespace (including line breaks) and truncates.
func oneLine(s string, n int) string {
	return chat.TruncateRunes(chat.OneLine(s), n)
}

// inlineEscaper escapes Discord Markdown that works anywhere in a line; "<"
// is escaped so no mention, channel or emoji syntax survives.
var inlineEscaper = strings.NewReplacer(
	`\`, `\\`, `*`, `\*`, `_`, `\_`, `~`, `\~`, "`", "\\`", `|`, `\|`,
	`[`, `\[`, `]`, `\]`, `<`, `\<`,
)

// escapeMarkdown makes plain text render literally, including the
// line-start syntax (headings, subtext, lists, quotes).
func escapeMarkdown(s string) string {
	lines := strings.Split(inlineEscaper.Replace(s), "\n")
	for i, l := range lines {
		trimmed := strings.TrimLeft(l, " ")
		if trimmed != "" && strings.ContainsRune("#->+", rune(trimmed[0])) {
			lines[i] = l[:len(l)-len(trimmed)] + `\` + trimmed
		}
	}
	return strings.Join(lines, "\n")
}
