// Command promptev-bridge connects Slack and Discord to Promptev agents.
//
// Commands: run (the daemon, default), check (validate a config file), demo
// (an offline conversation with a scripted agent), chat (talk to a real agent
// from the terminal), store stats, and version. Run "promptev-bridge help".
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

func main() {
	intr := &interruptHook{}
	ctx, stop := signalContext(os.Stderr, intr)
	code := runWith(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		lookup: os.LookupEnv, interrupt: intr})
	stop()
	os.Exit(code)
}

// interruptHook lets a terminal conversation take a Ctrl-C for itself: while
// a run is under way, the first Ctrl-C stops that run instead of the
// program. It is safe for concurrent use.
type interruptHook struct {
	mu sync.Mutex
	fn func() bool
}

// set makes fn take SIGINTs (fn reports whether it used one) until the
// returned function is called.
func (h *interruptHook) set(fn func() bool) (unset func()) {
	h.mu.Lock()
	h.fn = fn
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		h.fn = nil
		h.mu.Unlock()
	}
}

// take offers a SIGINT to the hook and reports whether it was used.
func (h *interruptHook) take() bool {
	if h == nil {
		return false
	}
	h.mu.Lock()
	fn := h.fn
	h.mu.Unlock()
	return fn != nil && fn()
}

// signalContext returns a context cancelled by the first SIGINT or SIGTERM
// that intr does not take (a Ctrl-C that stops a terminal run); a second
// signal exits the process at once.
func signalContext(stderr io.Writer, intr *interruptHook) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
	first:
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGINT && intr.take() {
					continue // the run was stopped; the program goes on
				}
				cancel()
				break first
			case <-done:
				return
			}
		}
		select {
		case s := <-sigs:
			fmt.Fprintf(stderr, "promptev-bridge: second signal (%s): exiting now\n", s)
			os.Exit(130)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}

// run is the whole program, drivable in-process: it parses args, runs the
// command until it finishes or ctx ends, and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runWith(ctx, args, &env{stdin: stdin, stdout: stdout, stderr: stderr, lookup: os.LookupEnv})
}
