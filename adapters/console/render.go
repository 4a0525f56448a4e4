package console

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"

	"github.com/promptev/promptev-bridge/chat"
)

// ANSI sequences used on a terminal.
const (
	ansiPrevLines = "\x1b[%dF" // cursor to the start of the line n lines up
	ansiClearDown = "\x1b[J"   // clear from the cursor to the end of the screen
	ansiClearLine = "\x1b[K"   // clear from the cursor to the end of the line
)

// rendered remembers what was last shown of one message, so plain output
// prints only what changed and a terminal knows what to rewrite.
type rendered struct {
	kind     chat.MessageKind
	started  bool
	status   string
	thought  string
	steps    map[string]bool // step text -> shown as done
	body     string
	approval chat.ApprovalState
	// last is the message as last shown (TTY mode redraws it).
	last chat.Message
	// compact is set when a decided card was shown as its outcome line only
	// (it had scrolled away); redraws keep that form.
	compact bool
}

// ttyBlock is the block of msg on a terminal: the whole current state, or
// only the outcome line of a card shown compact.
func (r *rendered) ttyBlock(msg chat.Message) string {
	if r.compact && msg.Kind == chat.KindApproval && msg.Approval != nil && msg.Approval.State != chat.ApprovalPending {
		return decidedLine(msg.Approval)
	}
	return formatBlock(msg)
}

// renderLocked shows msg as the new state of message id. a.mu is held.
func (a *Adapter) renderLocked(id string, r *rendered, msg chat.Message) error {
	if msg.Kind == chat.KindApproval && msg.Approval != nil {
		a.trackApprovalLocked(msg.Approval)
	}
	if !a.opts.TTY {
		out := plainDiff(r, msg)
		r.remember(msg)
		return a.writeLocked(out)
	}
	out, live, rows := a.ttyLocked(id, r, msg)
	r.remember(msg)
	if err := a.writeLocked(out); err != nil {
		return err
	}
	if out != "" {
		a.live, a.liveN = live, rows
	}
	return nil
}

func (a *Adapter) trackApprovalLocked(card *chat.ApprovalCard) {
	if card.State != chat.ApprovalPending {
		a.removePendingLocked(card.ID)
		return
	}
	a.tools[card.ID] = chat.OneLine(card.Tool)
	for _, p := range a.pending {
		if p == card.ID {
			return
		}
	}
	a.pending = append(a.pending, card.ID)
}

func (a *Adapter) writeLocked(s string) error {
	if s == "" {
		return nil
	}
	// The prompt's row is where the output goes; a rewrite's cursor-up
	// counts from there, as from the row below the blocks.
	a.hidePromptLocked()
	if _, err := io.WriteString(a.opts.Out, s); err != nil {
		return fmt.Errorf("console: write: %w", err)
	}
	// Anything written ends the chance to rewrite the blocks above it;
	// renderLocked records the new live blocks after its own writes.
	a.endLiveLocked()
	a.showPromptLocked()
	return nil
}

// endLiveLocked ends the live region: what is on screen now stays.
func (a *Adapter) endLiveLocked() { a.live, a.liveN = nil, 0 }

// maxLiveRows bounds the live region: a taller one might reach above the
// top of the screen, where the cursor cannot go back.
const maxLiveRows = 40

// ttyLocked renders for a terminal. The live region is the blocks printed
// since anything else was written (a typed line, a log line): a change of
// one of them redraws the whole region in place, so a placeholder edited
// after a newer message (its approval card) leaves no stale line behind. A
// message outside the region is printed below it (a decided card that
// scrolled away prints only its outcome). It returns the output and the new
// region with its rows.
func (a *Adapter) ttyLocked(id string, r *rendered, msg chat.Message) (string, []string, int) {
	inLive := slices.Contains(a.live, id)
	if !inLive {
		if r.started && msg.Kind == chat.KindApproval && msg.Approval != nil &&
			msg.Approval.State != chat.ApprovalPending {
			r.compact = true
		}
		block := r.ttyBlock(msg)
		if block == "" {
			return "", nil, 0
		}
		rows := screenRows(block, a.opts.Width)
		if a.liveN+rows > maxLiveRows {
			return block, []string{id}, rows
		}
		return block, append(slices.Clone(a.live), id), a.liveN + rows
	}
	var b strings.Builder
	if a.liveN > 0 {
		fmt.Fprintf(&b, ansiPrevLines, a.liveN)
		b.WriteString(ansiClearDown)
	}
	start := b.Len()
	for _, lid := range a.live {
		if lid == id {
			b.WriteString(r.ttyBlock(msg))
			continue
		}
		if other, ok := a.msgs[lid]; ok { // a forgotten one (keepMessages) is not redrawn
			b.WriteString(other.ttyBlock(other.last))
		}
	}
	rows := screenRows(b.String()[start:], a.opts.Width)
	return b.String(), a.live, rows
}

// defaultWidth is the terminal width assumed when none is known.
const defaultWidth = 80

// screenRows counts the terminal rows block takes once lines longer than
// width wrap, so a rewrite moves the cursor back over all of them.
func screenRows(block string, width int) int {
	if width <= 0 {
		width = defaultWidth
	}
	rows := 0
	for _, line := range strings.SplitAfter(block, "\n") {
		if line == "" {
			continue
		}
		w := displayWidth(strings.TrimSuffix(line, "\n"))
		rows += max(1, (w+width-1)/width)
	}
	return rows
}

// displayWidth approximates the columns s takes on a terminal: wide East
// Asian characters and emoji take two, combining marks and zero-width
// characters none.
func displayWidth(s string) int {
	w := 0
	for _, r := range s {
		switch {
		case r == 0x200B || r == 0x200C || r == 0x200D || r == 0xFE0F || unicode.Is(unicode.Mn, r):
		case r >= 0x1100 && (r <= 0x115F || (r >= 0x2E80 && r <= 0xA4CF) || (r >= 0xAC00 && r <= 0xD7A3) ||
			(r >= 0xF900 && r <= 0xFAFF) || (r >= 0xFE30 && r <= 0xFE4F) || (r >= 0xFF00 && r <= 0xFF60) ||
			(r >= 0xFFE0 && r <= 0xFFE6) || (r >= 0x1F300 && r <= 0x1FAFF) || (r >= 0x20000 && r <= 0x3FFFD)):
			w += 2
		default:
			w++
		}
	}
	return w
}

// remember records msg as the shown state.
func (r *rendered) remember(msg chat.Message) {
	if r.kind != msg.Kind || !r.started {
		r.steps = make(map[string]bool)
	}
	r.started = true
	r.kind = msg.Kind
	r.status = chat.OneLine(msg.Status)
	r.thought = chat.OneLine(msg.Thought)
	for _, s := range msg.Steps {
		r.steps[chat.OneLine(s.Text)] = r.steps[chat.OneLine(s.Text)] || s.Done
	}
	r.body = msg.Body
	r.last = msg
	if msg.Approval != nil {
		r.approval = msg.Approval.State
	}
}

// plainDiff renders only what changed since r, one plain line per change.
func plainDiff(r *rendered, msg chat.Message) string {
	fresh := !r.started || r.kind != msg.Kind
	var b strings.Builder
	switch msg.Kind {
	case chat.KindStatus:
		for _, s := range msg.Steps {
			text := chat.OneLine(s.Text)
			if s.Done && text != "" && (fresh || !r.steps[text]) {
				fmt.Fprintf(&b, "✓ %s\n", text)
			}
		}
		if t := chat.OneLine(msg.Thought); t != "" && (fresh || t != r.thought) {
			fmt.Fprintf(&b, "💭 %s\n", t)
		}
		if s := chat.OneLine(msg.Status); s != "" && (fresh || s != r.status) {
			b.WriteString(statusLine(msg, s))
		}
	case chat.KindApproval:
		if msg.Approval == nil {
			return ""
		}
		if fresh || msg.Approval.State != r.approval {
			if msg.Approval.State == chat.ApprovalPending {
				b.WriteString(formatCard(msg.Approval))
			} else {
				b.WriteString(decidedLine(msg.Approval))
			}
		}
	default:
		if fresh || msg.Body != r.body {
			b.WriteString(formatBody(msg))
		}
	}
	return b.String()
}

// formatBlock renders the whole current state of a message.
func formatBlock(msg chat.Message) string {
	var b strings.Builder
	switch msg.Kind {
	case chat.KindStatus:
		status := chat.OneLine(msg.Status)
		if status == "" {
			status = "Working..."
		}
		b.WriteString(statusLine(msg, status))
		if t := chat.OneLine(msg.Thought); t != "" {
			fmt.Fprintf(&b, "  💭 %s\n", t)
		}
		for _, s := range msg.Steps {
			mark := "•"
			if s.Done {
				mark = "✓"
			}
			fmt.Fprintf(&b, "  %s %s\n", mark, chat.OneLine(s.Text))
		}
	case chat.KindApproval:
		if msg.Approval == nil {
			return ""
		}
		if msg.Approval.State == chat.ApprovalPending {
			return formatCard(msg.Approval)
		}
		return formatCard(msg.Approval) + decidedLine(msg.Approval)
	default:
		return formatBody(msg)
	}
	return b.String()
}

// statusLine renders the status line: "… " marks work in progress; a final
// status (the tidied placeholder, "✓ 3 steps") is shown as it is.
func statusLine(msg chat.Message, s string) string {
	if msg.Final {
		return s + "\n"
	}
	return "… " + s + "\n"
}

func formatCard(c *chat.ApprovalCard) string {
	var b strings.Builder
	b.WriteString("? Approval needed")
	if c.Tool != "" {
		b.WriteString(": " + chat.OneLine(c.Tool))
	}
	b.WriteString("\n")
	if d := strings.TrimSpace(c.Description); d != "" {
		b.WriteString(indent(d, "  ") + "\n")
	}
	if c.Arguments != "" {
		b.WriteString(indent("arguments: "+c.Arguments, "  ") + "\n")
	}
	if c.State == chat.ApprovalPending {
		b.WriteString("  Type y to approve or n to deny.\n")
	}
	return b.String()
}

func decidedLine(c *chat.ApprovalCard) string {
	by := ""
	if c.DecidedBy != "" {
		by = " by " + c.DecidedBy
	}
	switch c.State {
	case chat.ApprovalApproved:
		return "✓ Approved" + by + "\n"
	case chat.ApprovalDenied:
		return "✗ Denied" + by + "\n"
	case chat.ApprovalExpired:
		return "⌛ Approval expired\n"
	}
	return ""
}

func formatBody(msg chat.Message) string {
	body := strings.TrimRight(msg.Body, "\n")
	if body == "" {
		return ""
	}
	if msg.Kind == chat.KindNotice {
		return "! " + indent(body, "  ")[2:] + "\n"
	}
	return body + "\n"
}

func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}
