package console

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/console/consoletest"
	"github.com/promptev/promptev-bridge/chat"
)

// ttyWidth is the terminal width of the TTY-mode tests.
const ttyWidth = 120

// typeLine is what the terminal shows when the person types line and
// presses Enter: the terminal's own echo.
func typeLine(tm *consoletest.Terminal, line string) { _, _ = tm.Write([]byte(line + "\n")) }

// A long question, repeated in the agent's thought, wraps over several rows:
// each rewrite of the status block must move back over all of them, or the
// previous state ("… Thinking…") stays on the screen.
func TestTTYRewriteLeavesNoStrayLines(t *testing.T) {
	tests := []struct{ name, question string }{
		{"200 characters", strings.Repeat("abcdefghij", 20)},
		{"105 CJK characters", strings.Repeat("夜间构建为什么失败了", 10) + "请告诉我们"},
		{"CJK after an odd prefix", "x" + strings.Repeat("测", 130)},
		{"exactly the width", strings.Repeat("w", ttyWidth-len("  💭 The user asks: ")-1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := consoletest.New(ttyWidth)
			a := New(Options{In: strings.NewReader(""), Out: tm, TTY: true, Width: ttyWidth, Session: "s"})
			typeLine(tm, tt.question)
			thought := "The user asks: " + tt.question + " Let me look at the failing build."
			runScript(t, a,
				status("Thinking…", ""),
				status("Thinking…", thought),
				status("Searching Jira...", thought, chat.Step{Text: "Searching Jira..."}),
				status("Reading CI logs...", thought, chat.Step{Text: "Searching Jira...", Done: true}, chat.Step{Text: "Reading CI logs..."}),
			)
			lines := tm.Lines()
			var statusLines []string
			for _, l := range lines {
				if strings.HasPrefix(l, "… ") {
					statusLines = append(statusLines, l)
				}
			}
			assert.Equal(t, []string{"… Reading CI logs..."}, statusLines, "screen:\n%s", strings.Join(lines, "\n"))
			require.NotEmpty(t, lines)
			assert.True(t, strings.HasPrefix(lines[0], tt.question[:min(len(tt.question), 10)]), "the typed question stays: %s", lines[0])
		})
	}
}

// Another writer on the same terminal (the daemon's log lines on stderr)
// must not be overwritten by the next rewrite of the status block.
func TestTTYRewriteKeepsOtherWritersLines(t *testing.T) {
	tm := consoletest.New(ttyWidth)
	a := New(Options{In: strings.NewReader(""), Out: tm, TTY: true, Width: ttyWidth, Session: "s"})
	logs := a.Interleave(tm)
	ctx := context.Background()
	ref, err := a.Post(ctx, a.Key(), status("Thinking…", ""))
	require.NoError(t, err)
	_, err = logs.Write([]byte("time=... level=WARN msg=\"slack: reconnecting\"\n"))
	require.NoError(t, err)
	require.NoError(t, a.Edit(ctx, ref, status("Searching Jira...", "")))
	assert.Equal(t, []string{"… Thinking…", `time=... level=WARN msg="slack: reconnecting"`, "… Searching Jira..."}, tm.Lines())
}

// The approval card is often posted before the placeholder's pending edit
// is shown (the demo with --fast, a long question). The placeholder's next
// state must replace "… Thinking…", not be printed below the card with the
// old line left standing.
func TestTTYEditAboveANewerMessageRewritesBoth(t *testing.T) {
	tm := consoletest.New(ttyWidth)
	a := New(Options{In: strings.NewReader(""), Out: tm, TTY: true, Width: ttyWidth, Session: "s"})
	typeLine(tm, strings.Repeat("夜间构建为什么失败了", 10)+"请告诉我们")
	ctx := context.Background()
	ref, err := a.Post(ctx, a.Key(), status("Thinking…", ""))
	require.NoError(t, err)
	c := card("ap1", chat.ApprovalPending, "")
	cref, err := a.Post(ctx, a.Key(), c)
	require.NoError(t, err)
	require.NoError(t, a.Edit(ctx, ref, chat.Message{Kind: chat.KindStatus, Status: "⏸ Waiting for approval", Final: true,
		Steps: []chat.Step{{Text: "Searching Jira...", Done: true}}}))
	require.NoError(t, a.Edit(ctx, cref, card("ap1", chat.ApprovalApproved, "you")))
	lines := tm.Lines()
	screen := strings.Join(lines, "\n")
	assert.NotContains(t, screen, "Thinking", "screen:\n%s", screen)
	assert.Equal(t, 1, strings.Count(screen, "? Approval needed"), "screen:\n%s", screen)
	assert.Equal(t, 1, strings.Count(screen, "⏸ Waiting for approval"), "screen:\n%s", screen)
	assert.Contains(t, screen, "✓ Approved by you")
}

// In run, the console is built from the list of platforms: it asks the host
// to route the logs through it.
func TestRegistrationSharesTheTerminalWithTheLogs(t *testing.T) {
	tm := consoletest.New(ttyWidth)
	var logs io.Writer
	ad, err := Registration.New(&Config{Enabled: true}, chat.Host{
		Stdin: strings.NewReader(""), Stdout: tm, TTY: true, Width: ttyWidth,
		ShareTerminal: func(wrap func(io.Writer) io.Writer) { logs = wrap(tm) },
	})
	require.NoError(t, err)
	require.NotNil(t, logs, "a terminal console shares the terminal")
	a := ad.(*Adapter)
	ctx := context.Background()
	ref, err := a.Post(ctx, a.Key(), status("Thinking…", ""))
	require.NoError(t, err)
	_, err = logs.Write([]byte("level=INFO msg=\"run finished\"\n"))
	require.NoError(t, err)
	require.NoError(t, a.Edit(ctx, ref, status("Done", "")))
	assert.Contains(t, tm.Lines(), `level=INFO msg="run finished"`)
}

// A card decided after other output prints only its outcome; when the
// continuation's placeholder is then rewritten, the outcome line must stay
// an outcome line (not bring the whole card back a second time).
func TestTTYDecidedCardStaysOneLineInRewrites(t *testing.T) {
	tm := consoletest.New(ttyWidth)
	in, typed := io.Pipe()
	a := New(Options{In: in, Out: tm, TTY: true, Width: ttyWidth, Session: "s"})
	h := newFakeHandler()
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx, h) }()
	t.Cleanup(func() { stop(); _ = typed.Close(); require.NoError(t, recv(t, done)) })
	ctx := context.Background()
	cref, err := a.Post(ctx, a.Key(), card("ap1", chat.ApprovalPending, ""))
	require.NoError(t, err)
	typeLine(tm, "y") // the terminal's echo, then the line reaches the console
	_, err = io.WriteString(typed, "y\n")
	require.NoError(t, err)
	assert.Equal(t, chat.Approve, recv(t, h.actions).Kind)
	require.NoError(t, a.Edit(ctx, cref, card("ap1", chat.ApprovalApproved, "you")))
	ref, err := a.Post(ctx, a.Key(), status("Thinking…", ""))
	require.NoError(t, err)
	require.NoError(t, a.Edit(ctx, ref, status("Creating ticket...", "")))
	screen := strings.Join(tm.Lines(), "\n")
	assert.Equal(t, 1, strings.Count(screen, "? Approval needed"), "screen:\n%s", screen)
	assert.Equal(t, 1, strings.Count(screen, "✓ Approved by you"), "screen:\n%s", screen)
	assert.NotContains(t, screen, "Thinking", "screen:\n%s", screen)
	assert.Contains(t, screen, "… Creating ticket...")
}
