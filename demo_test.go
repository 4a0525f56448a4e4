package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/console/consoletest"
	"github.com/promptev/promptev-bridge/internal/cli"
)

func TestDemoNonInteractive(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string
		notWant []string
	}{
		{
			name: "auto-approve runs the whole script",
			args: []string{"demo", "--message", "Why did the nightly build fail?", "--auto-approve", "--fast"},
			want: []string{
				`talking to "Release Assistant"`,
				"> Why did the nightly build fail?",
				"? Approval needed: jira.create_issue",
				`arguments: {"assignee":"payments-team"`,
				"Type y to approve or n to deny.",
				"> approve (automatic)",
				"✓ Approved by",
				"## Why the nightly build failed",
				"```go\n// before\ntotal := math.RoundToEven(sum*100) / 100",
				"There are no other open release blockers in Jira for 2.14.",
			},
			notWant: []string{"Understood, I did not create a ticket."},
		},
		{
			name: "without auto-approve the unanswerable approval is denied",
			args: []string{"demo", "--message", "Why did the nightly build fail?", "--fast"},
			want: []string{
				"? Approval needed: jira.create_issue",
				"> deny (automatic)",
				"✗ Denied by",
				"Understood, I did not create a ticket.",
			},
			notWant: []string{"## Why the nightly build failed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runProgram(t, "", tt.args...)
			require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			for _, w := range tt.want {
				assert.Contains(t, stdout, w)
			}
			for _, w := range tt.notWant {
				assert.NotContains(t, stdout, w)
			}
			assert.NotContains(t, stdout, "\x1b[", "plain output has no ANSI escapes")
		})
	}
}

func TestDemoWithDelaysShowsEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("plays the script in real time (about 5 s)")
	}
	code, stdout, stderr := runProgram(t, "", "demo", "--message", "Why did the nightly build fail?", "--auto-approve")
	require.Equal(t, exitOK, code, stderr)
	// Done steps stay in every later state, so none can be lost to coalescing.
	for _, w := range []string{"✓ Searching Jira...", "✓ Reading CI logs for build #4521...", "✓ Checking recent commits on main..."} {
		assert.Contains(t, stdout, w)
	}
}

func TestDemoInteractiveTypedApproval(t *testing.T) {
	in, w := newPipe()
	p := startProgram(t, in, "demo", "--fast")
	_, err := w.WriteString("hello bot\n")
	require.NoError(t, err)
	// The placeholder's "waiting" status is shown after the approval is recorded.
	p.stdout.waitFor(t, "Waiting for approval")
	_, err = w.WriteString("y\n")
	require.NoError(t, err)
	p.stdout.waitFor(t, "There are no other open release blockers")
	require.NoError(t, w.Close())
	assert.Equal(t, exitOK, p.wait(t))
	out := p.stdout.String()
	assert.Contains(t, out, "Nothing leaves this machine")
	assert.Contains(t, out, "> y\n")
	assert.Contains(t, out, "✓ Approved by")
	assert.NotContains(t, out, "(automatic)")
}

func TestDemoCustomScript(t *testing.T) {
	script := writeFile(t, "agent.yaml", `
name: Echo
script:
  - {type: processing, output: "Looking it up..."}
  - {type: done, output: "You asked: {{query}}"}
`)
	code, stdout, stderr := runProgram(t, "", "demo", "--script", script, "--message", "ping")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, `talking to "Echo"`)
	assert.Contains(t, stdout, "You asked: ping\n")
}

func TestDemoBadScript(t *testing.T) {
	tests := []struct {
		name, script, want string
	}{
		{"unknown key", "name: X\nscrpit: []\n", `unknown key "scrpit" (known: name, memory_enabled, script, on_approve, on_deny)`},
		{"bad delay", "script:\n  - {type: done, output: x, delay: soon}\n", "invalid duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "agent.yaml", tt.script)
			code, _, stderr := runProgram(t, "", "demo", "--script", path, "--message", "x")
			assert.Equal(t, exitFailure, code)
			assert.Contains(t, stderr, tt.want)
		})
	}
	code, _, stderr := runProgram(t, "", "demo", "--script", "/nonexistent.yaml")
	assert.Equal(t, exitFailure, code)
	assert.True(t, strings.Contains(stderr, "no such file"), stderr)
}

// The interactive demo on a terminal (120 columns, the screen modelled by
// consoletest): the "> " prompt below the output while the input is open; a
// line typed while the card waits, and a "y" before it appears, start
// nothing; no stale status line stays on the screen.
func TestDemoInteractiveOnATerminal(t *testing.T) {
	script := writeFile(t, "agent.yaml", `
name: Gate
script:
  - {type: processing, output: "Checking..."}
  - {type: approval_required, output: "Deploy?", tool: deploy}
on_approve:
  - {type: done, output: "Deployed."}
on_deny:
  - {type: done, output: "Not deployed."}
`)
	p, w, screen := startOnTerminal(t, "demo", "--script", script, "--fast")
	p.stdout.waitFor(t, "end with Ctrl-D or /quit.\n> ")
	_, err := w.WriteString("y\n") // before any card
	require.NoError(t, err)
	// Each line is typed at the prompt, as a person would.
	p.stdout.waitForEnd(t, `(no approval is waiting, so "y" was not sent.`, "\n> ")
	_, err = w.WriteString("ship it\n")
	require.NoError(t, err)
	p.stdout.waitForEnd(t, "Waiting for approval", "Type y to approve or n to deny.\n> ")
	_, err = w.WriteString("maybe\n")
	require.NoError(t, err)
	p.stdout.waitForEnd(t, "(an approval is waiting: the approval for deploy. Type y to approve or n to deny it first.)", "\n> ")
	_, err = w.WriteString("y\n")
	require.NoError(t, err)
	p.stdout.waitForEnd(t, "Deployed.", "\n> ")
	require.NoError(t, w.Close())
	assert.Equal(t, exitOK, p.wait(t))
	out := strings.Join(screen.Lines(), "\n")
	assert.Equal(t, 1, strings.Count(out, "? Approval needed"), "one card: nothing typed started a second run\n%s", out)
	assert.Equal(t, 1, strings.Count(out, "✓ Approved by you"), out)
	assert.NotContains(t, out, "Thinking", "no stale status line is left on the screen\n%s", out)
	assert.Contains(t, out, "> maybe\n(an approval is waiting: the approval for deploy.")
	assert.Contains(t, out, "(approve: the approval for deploy)", "raw output: %q", p.stdout.String())
	assert.True(t, strings.HasSuffix(out, "Deployed."), "the prompt goes when the input ends\n%s", out)
}

// startOnTerminal runs the program with its stdout on a modelled terminal
// 120 columns wide; w types into it (with the terminal's echo).
func startOnTerminal(t *testing.T, args ...string) (*inProcess, typist, *consoletest.Terminal) {
	t.Helper()
	in, stdin := newPipe()
	screen := consoletest.New(120)
	w := typist{screen: screen, w: stdin}
	tty := true
	p := &inProcess{stdout: newOutput(), stderr: newOutput(), sidePort: make(chan net.Addr, 1), code: make(chan int, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	// The screen first: once the test sees output, the screen has it.
	e := &cli.Env{Stdin: in, Stdout: io.MultiWriter(screen, p.stdout), Stderr: p.stderr, Lookup: os.LookupEnv,
		StdoutTTY: &tty, Width: 120}
	go func() { p.code <- cli.Run(ctx, args, e) }()
	return p, w, screen
}

// The built-in demo with a long question (200 characters, or 105 CJK
// characters) at 120 columns: the screen ends with no stray "… Thinking…"
// line and one card.
func TestDemoLongQuestionOnATerminal(t *testing.T) {
	for _, q := range []string{strings.Repeat("abcdefghij", 20), strings.Repeat("夜间构建为什么失败了", 10) + "请告诉我们"} {
		t.Run(fmt.Sprintf("%d runes", len([]rune(q))), func(t *testing.T) {
			p, w, screen := startOnTerminal(t, "demo", "--fast")
			p.stdout.waitFor(t, "end with Ctrl-D or /quit.\n> ")
			_, err := w.WriteString(q + "\n")
			require.NoError(t, err)
			p.stdout.waitForEnd(t, "Waiting for approval", "\n> ")
			_, err = w.WriteString("n\n")
			require.NoError(t, err)
			p.stdout.waitForEnd(t, "Denied by", "\n> ")
			p.stdout.waitForEnd(t, "green again.", "\n> ") // the answer after the denial
			require.NoError(t, w.Close())
			assert.Equal(t, exitOK, p.wait(t))
			out := strings.Join(screen.Lines(), "\n")
			assert.NotContains(t, out, "Thinking…", "no stray status line\n%s", out)
			assert.Equal(t, 1, strings.Count(out, "? Approval needed"), out)
			assert.LessOrEqual(t, strings.Count(out, "\n… "), 1, "one live status line at most\n%s", out)
		})
	}
}

// typist types into the program: the terminal echoes each line (after the
// prompt already on the screen), then the program reads it.
type typist struct {
	screen io.Writer
	w      pipeWriter
}

func (k typist) WriteString(s string) (int, error) {
	if _, err := io.WriteString(k.screen, s); err != nil {
		return 0, err
	}
	return k.w.WriteString(s)
}

func (k typist) Close() error { return k.w.Close() }
