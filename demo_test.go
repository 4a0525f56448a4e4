package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
