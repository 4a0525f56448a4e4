package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/promptev/promptev-bridge/adapters/console"
	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/internal/config"
	"github.com/promptev/promptev-bridge/internal/daemon"
)

// consoleOptions configure a terminal conversation (demo and chat).
type consoleOptions struct {
	cfg         config.Config
	agent       bridge.Agent
	log         *slog.Logger
	in          io.Reader
	autoApprove bool
	plain       bool
}

// runConsole runs one terminal conversation through the whole bridge until
// the input has ended and every message sent has finished its run (or ctx
// ends).
func runConsole(ctx context.Context, e *Env, o consoleOptions) error {
	h := terminalHost(e, o.plain)
	adapter := console.New(console.Options{
		In:     o.in,
		Out:    h.Stdout,
		TTY:    h.TTY,
		Width:  h.Width,
		User:   h.User,
		Logger: o.log,
	})
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
	return daemon.Serve(ctx, daemon.ServeOptions{
		Config:      o.cfg,
		Logger:      o.log,
		Agent:       o.agent,
		Adapters:    []chat.Adapter{adapter},
		Version:     buildVersion(e),
		WrapHandler: tr.wrap,
		RunEnded:    tr.runEnded,
		Stop:        tr.stop,
		OnSidePort:  e.OnSidePort,
	})
}

// terminalHost is the process's terminal as the platforms see it; plain
// turns terminal rendering off.
func terminalHost(e *Env, plain bool) chat.Host {
	return chat.Host{
		Stdin:  e.Stdin,
		Stdout: e.Stdout,
		TTY:    !plain && isTerminal(e),
		Width:  terminalWidth(e),
		User:   consoleUser(e),
	}
}

// consoleUser names the person at the terminal after the OS user.
func consoleUser(e *Env) chat.User {
	name, ok := e.Lookup("USER")
	if !ok || name == "" {
		name = "you"
	}
	return chat.User{ID: "local:" + name, Name: name}
}

// isTerminal reports whether stdout is a terminal (unless a test forced it).
func isTerminal(e *Env) bool {
	if e.StdoutTTY != nil {
		return *e.StdoutTTY
	}
	f, ok := e.Stdout.(*os.File)
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
// sits between the console and the bridge (as a Handler) and is told by the
// engine when each accepted message is over (bridge.Options.RunEnded).
//
// It also answers approvals nobody will type an answer to: all of them with
// --auto-approve, and with deny once the input has ended. It does so when a
// run ends with outcome approval, which the engine tells after the approval
// is recorded (the card itself is shown a moment earlier).
type idleTracker struct {
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

// runEnded counts the end of an accepted message; an approval is not an
// end, its continuation is.
func (t *idleTracker) runEnded(_ chat.ConversationKey, outcome string) {
	if outcome == bridge.OutcomeApproval {
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
