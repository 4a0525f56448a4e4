package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/internal/cli"
)

// Exit codes of the program.
const (
	exitOK      = cli.ExitOK
	exitFailure = cli.ExitFailure
	exitUsage   = cli.ExitUsage
	// exitInterrupted is the code of a command a signal cut short.
	exitInterrupted = 130
)

// output is a goroutine-safe writer that tests can wait on.
type output struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.b.Write(p)
	close(o.changed)
	o.changed = make(chan struct{})
	return n, err
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// waitFor blocks until the output contains s. The timeout is a failure
// guard only: progress is signalled by the writes themselves.
func (o *output) waitFor(t testing.TB, s string) {
	t.Helper()
	o.waitForCount(t, s, 1)
}

// waitForCount blocks until the output contains s at least n times.
func (o *output) waitForCount(t testing.TB, s string, n int) {
	t.Helper()
	o.waitUntil(t, fmt.Sprintf("%d× %q", n, s), func(out string) bool { return strings.Count(out, s) >= n })
}

// waitForEnd blocks until the output contains marker and ends with end
// (a prompt after it, for example).
func (o *output) waitForEnd(t testing.TB, marker, end string) {
	t.Helper()
	o.waitUntil(t, fmt.Sprintf("%q, then %q at the end", marker, end), func(out string) bool {
		i := strings.LastIndex(out, marker)
		return i >= 0 && strings.HasSuffix(out[i:], end)
	})
}

// waitUntil blocks until ok holds for the output.
func (o *output) waitUntil(t testing.TB, what string, ok func(string) bool) {
	t.Helper()
	guard := time.NewTimer(30 * time.Second)
	defer guard.Stop()
	for {
		o.mu.Lock()
		ok := ok(o.b.String())
		ch := o.changed
		o.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-guard.C:
			t.Fatalf("output never had %s; got:\n%s", what, o.String())
		}
	}
}

// inProcess runs the program in-process with test hooks.
type inProcess struct {
	stdout, stderr *output
	sidePort       chan net.Addr
	code           chan int
	cancel         context.CancelFunc
}

func startProgram(t *testing.T, stdin interface{ Read([]byte) (int, error) }, args ...string) *inProcess {
	t.Helper()
	p := &inProcess{stdout: newOutput(), stderr: newOutput(), sidePort: make(chan net.Addr, 1), code: make(chan int, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	plain := false
	e := &cli.Env{Stdin: stdin, Stdout: p.stdout, Stderr: p.stderr, Lookup: os.LookupEnv, Version: version,
		OnSidePort: func(a net.Addr) { p.sidePort <- a }, StdoutTTY: &plain}
	go func() { p.code <- cli.Run(ctx, args, e) }()
	t.Cleanup(cancel)
	return p
}

// wait returns the exit code.
func (p *inProcess) wait(t *testing.T) int {
	t.Helper()
	select {
	case c := <-p.code:
		return c
	case <-time.After(60 * time.Second): // failure guard only
		t.Fatalf("program did not exit; stdout:\n%s\nstderr:\n%s", p.stdout.String(), p.stderr.String())
		return -1
	}
}

// runProgram runs the program to completion with the given stdin text.
func runProgram(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := startProgram(t, strings.NewReader(stdin), args...)
	code = p.wait(t)
	return code, p.stdout.String(), p.stderr.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// pipeWriter is the writing end of a stdin pipe.
type pipeWriter struct{ w *io.PipeWriter }

func (p pipeWriter) WriteString(s string) (int, error) { return io.WriteString(p.w, s) }
func (p pipeWriter) Close() error                      { return p.w.Close() }

func newPipe() (*io.PipeReader, pipeWriter) {
	r, w := io.Pipe()
	return r, pipeWriter{w}
}

// exampleEnv are the variables config.example.yaml references.
var exampleEnv = map[string]string{
	"PROMPTEV_PROJECT_KEY": "pk-example",
	"PROMPTEV_AGENT_ID":    "agent-example",
	"SLACK_BOT_TOKEN":      "xoxb-example",
	"SLACK_APP_TOKEN":      "xapp-example",
	"SLACK_SIGNING_SECRET": "signing-example",
	"DISCORD_BOT_TOKEN":    "discord-example",
}
