package console

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// lineHandler is a synchronous chat.Handler for the fuzz target: it records
// the last hand-over and accepts every answer.
type lineHandler struct {
	msgs []chat.InboundMessage
	acts []chat.Action
}

func (h *lineHandler) HandleMessage(_ context.Context, m chat.InboundMessage) error {
	h.msgs = append(h.msgs, m)
	return nil
}

func (h *lineHandler) HandleAction(_ context.Context, a chat.Action) (chat.ActionResult, error) {
	h.acts = append(h.acts, a)
	return chat.ActionResult{Accepted: true}, nil
}

// approveWords, denyWords, reasonWords and allWords are the answers
// parseAnswer understands.
var (
	approveWords = map[string]bool{"y": true, "yes": true, "approve": true, "approved": true}
	denyWords    = map[string]bool{"n": true, "no": true, "deny": true, "denied": true}
	reasonWords  = map[string]bool{"r": true, "reason": true}
	allWords     = map[string]bool{"a": true, "all": true}
)

// answerWord reports whether lw (lower case, trimmed) is an answer.
func answerWord(lw string) bool {
	return approveWords[lw] || denyWords[lw] || reasonWords[lw] || allWords[lw]
}

// FuzzConsoleLine types random lines, with and without an approval card
// pending: an approval answer (y/n/approve/deny...) decides the oldest
// pending card; with a card pending, nothing else is handed over (the card
// comes first); without one, an answer word is not sent and everything
// else is a message with the line as its text.
func FuzzConsoleLine(f *testing.F) {
	for _, s := range []string{
		"y", "Y", "yes", " YES ", "approve", "Approved", "n", "No", "deny", "DENIED", "\tn\t",
		"yes please", "nope", "y y", "what is our uptime?", "approve the deploy", "/quit", "",
		"\u0130", "den\u0130ed", "\u212a", "ye\u017f", "\xff", "r", "Reason", "a", " ALL ", "approve all", "deny with reason",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, line string, pending bool) {
		d, ok := parseAnswer(line)
		if ok {
			if d != chat.Approve && d != chat.Deny && d != chat.DenyWithReason && d != chat.ApproveConversation {
				t.Fatalf("parseAnswer(%q) = %q", line, d)
			}
			// A decision is a single short word, never a sentence.
			if w := strings.TrimSpace(line); len(w) > 16 || strings.ContainsAny(w, " \t\n") {
				t.Fatalf("parseAnswer(%q) took a message for an answer", line)
			}
			// ASCII answers map to the decision they spell.
			if lw := strings.ToLower(strings.TrimSpace(line)); isASCII(lw) &&
				((d == chat.Approve) != approveWords[lw] || (d == chat.Deny) != denyWords[lw] ||
					(d == chat.DenyWithReason) != reasonWords[lw] || (d == chat.ApproveConversation) != allWords[lw]) {
				t.Fatalf("parseAnswer(%q) = %q", line, d)
			}
		} else if lw := strings.ToLower(strings.TrimSpace(line)); answerWord(lw) {
			t.Fatalf("parseAnswer(%q) refused an answer", line)
		}

		// The adapter trims lines before handleLine (read does).
		line = strings.TrimSpace(line)
		a := New(Options{In: strings.NewReader(""), Out: io.Discard, Session: "fuzz",
			Now: func() time.Time { return time.Unix(1764331200, 0) }})
		if pending {
			a.pending = []string{"apr_1", "apr_2"}
		}
		h := &lineHandler{}
		a.handleLine(context.Background(), h, line)
		switch {
		case line == "":
			if len(h.msgs)+len(h.acts) > 0 {
				t.Fatalf("empty line handed over: %+v %+v", h.msgs, h.acts)
			}
		case ok && pending:
			if len(h.msgs) != 0 || len(h.acts) != 1 || h.acts[0].Target != "apr_1" || h.acts[0].Kind != d {
				t.Fatalf("answer %q: messages %+v, actions %+v", line, h.msgs, h.acts)
			}
			if len(a.pending) != 1 || a.pending[0] != "apr_2" {
				t.Fatalf("pending after an accepted answer: %v", a.pending)
			}
		case pending || ok:
			if len(h.msgs)+len(h.acts) > 0 {
				t.Fatalf("line %q handed over beside a pending card or as a stray answer: %+v %+v", line, h.msgs, h.acts)
			}
		default:
			if len(h.acts) != 0 || len(h.msgs) != 1 {
				t.Fatalf("line %q: messages %+v, actions %+v", line, h.msgs, h.acts)
			}
			m := h.msgs[0]
			if m.Text != line || m.Key != a.Key() || !m.Key.Valid() || !m.Mentioned || m.MessageID != "fuzz-in1" {
				t.Fatalf("line %q handed over as %+v", line, m)
			}
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
