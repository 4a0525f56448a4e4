package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/promptev/promptev-bridge/adapters/console"
	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/chat"
)

// consoleOptions configure a terminal conversation (demo and chat).
type consoleOptions struct {
	cfg         Config
	agent       bridge.Agent
	log         *slog.Logger
	in          io.Reader
	autoApprove bool
	plain       bool
}

// runConsole runs one terminal conversation through the whole bridge until
// the input has ended and every message sent has finished its run (or ctx
// ends).
func runConsole(ctx context.Context, e *env, o consoleOptions) error {
	adapter := console.New(console.Options{
		In:     o.in,
		Out:    e.stdout,
		TTY:    !o.plain && isTerminal(e),
		Width:  terminalWidth(e),
		User:   consoleUser(e),
		Logger: o.log,
	})
	if e.interrupt != nil {
		// Ctrl-C during a run stops the run; at the prompt it exits.
		defer e.interrupt.set(adapter.Interrupt)()
	}
	tr := newIdleTracker(adapter, o.autoApprove)
	watchDone := make(chan struct{})
	defer close(watchDone)
	go func() {
		select {
		case <-adapter.InputDone():
			tr.inputEnded()
		case <-watchDone:
		}
	}()
	return serve(ctx, serveOptions{
		cfg:        o.cfg,
		log:        o.log,
		agent:      o.agent,
		adapters:   []chat.Adapter{adapter},
		wrap:       tr.wrap,
		metrics:    tr,
		stop:       tr.stop,
		onSidePort: e.onSidePort,
	})
}

// consoleUser names the person at the terminal after the OS user.
func consoleUser(e *env) chat.User {
	name, ok := e.lookup("USER")
	if !ok || name == "" {
		name = "you"
	}
	return chat.User{ID: "local:" + name, Name: name}
}

// isTerminal reports whether stdout is a terminal (unless a test forced it).
func isTerminal(e *env) bool {
	if e.stdoutTTY != nil {
		return *e.stdoutTTY
	}
	f, ok := e.stdout.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// answerer answers the approvals the console shows as pending.
type answerer interface {
	AnswerPending(kind chat.ActionKind) int
}

// idleTracker closes stop once the input has ended and every accepted
// message has finished its run (an approval's continuation included). It
// sits between the console and the bridge (as a Handler) and receives the
// bridge's measurements (as Metrics).
//
// It also answers approvals nobody will type an answer to: all of them with
// --auto-approve, and with deny once the input has ended. It does so when a
// run ends with outcome "approval", which the bridge reports after the
// approval is recorded (the card itself is shown a moment earlier).
type idleTracker struct {
	bridge.NopMetrics
	stop        chan struct{}
	console     answerer
	autoApprove bool

	mu        sync.Mutex
	pending   int
	inputDone bool
	closed    bool
}

func newIdleTracker(c answerer, autoApprove bool) *idleTracker {
	return &idleTracker{stop: make(chan struct{}), console: c, autoApprove: autoApprove}
}

func (t *idleTracker) wrap(h chat.Handler) chat.Handler { return trackedHandler{h, t} }

func (t *idleTracker) inputEnded() {
	t.mu.Lock()
	t.inputDone = true
	t.checkLocked()
	t.mu.Unlock()
	if !t.autoApprove {
		t.console.AnswerPending(chat.Deny) // nobody is left to answer them
	}
}

// RunFinished counts the end of a run; "approval" is not an end, its
// continuation is.
func (t *idleTracker) RunFinished(_, outcome string, _ time.Duration) {
	if outcome == "approval" {
		t.mu.Lock()
		deny := t.inputDone
		t.mu.Unlock()
		switch {
		case t.autoApprove:
			t.console.AnswerPending(chat.Approve)
		case deny:
			t.console.AnswerPending(chat.Deny)
		}
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending--
	t.checkLocked()
}

func (t *idleTracker) checkLocked() {
	if t.inputDone && t.pending <= 0 && !t.closed {
		t.closed = true
		close(t.stop)
	}
}

type trackedHandler struct {
	h chat.Handler
	t *idleTracker
}

func (th trackedHandler) HandleMessage(ctx context.Context, msg chat.InboundMessage) error {
	th.t.mu.Lock()
	th.t.pending++
	th.t.mu.Unlock()
	err := th.h.HandleMessage(ctx, msg)
	if err != nil {
		th.t.mu.Lock()
		th.t.pending--
		th.t.checkLocked()
		th.t.mu.Unlock()
	}
	return err
}

func (th trackedHandler) HandleAction(ctx context.Context, act chat.Action) (chat.ActionResult, error) {
	return th.h.HandleAction(ctx, act)
}
