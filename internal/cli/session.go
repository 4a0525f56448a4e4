package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
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
	// command names the command in messages ("demo", "chat").
	command string
	cfg     config.Config
	agent   bridge.Agent
	log     *slog.Logger
	// logs, when set, is the writer under log; it goes through the console
	// on a terminal, so the live status never wipes a log line.
	logs        *sharedStderr
	in          io.Reader
	autoApprove bool
	plain       bool
	// interactive shows the "> " prompt below the output (on a terminal).
	interactive bool
	// onRunFailed, when set, is called after each run that ended with an
	// error (chat prints the failed call).
	onRunFailed func()
}

// The ways a terminal conversation ends besides success and a start-up
// failure.
var (
	// errInterrupted: a signal ended it (the running answer had the grace to
	// finish).
	errInterrupted = errors.New("interrupted")
	// errRunFailed: at least one run ended with an error.
	errRunFailed = errors.New("the run failed")
)

// runConsole runs one terminal conversation through the whole bridge until
// the input has ended and every message sent has finished its run (or ctx
// ends: errInterrupted, after the running answer had its grace). When a run
// failed it returns errRunFailed.
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
	if o.logs != nil && h.TTY {
		o.logs.share(adapter.Interleave)
	}
	if o.interactive {
		adapter.Prompt() // on a terminal, "> " stays below the output
	}
	tr := newIdleTracker(adapter, o.autoApprove)
	tr.onFailure = o.onRunFailed
	watchDone := make(chan struct{})
	defer close(watchDone)
	go func() {
		select {
		case <-adapter.InputDone():
			tr.inputEnded()
		case <-watchDone:
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			fmt.Fprintf(e.Stderr, "\npromptev-bridge %s: interrupted: letting the running answer finish (at most %s); press Ctrl-C again to quit at once\n",
				o.command, o.cfg.Bridge.Runs.ShutdownGrace)
		case <-watchDone:
		}
	}()
	err := daemon.Serve(ctx, daemon.ServeOptions{
		Config:         o.cfg,
		Logger:         o.log,
		Agent:          o.agent,
		Adapters:       []chat.Adapter{adapter},
		Version:        buildVersion(e),
		WrapHandler:    tr.wrap,
		RunEnded:       tr.runEnded,
		Stop:           tr.stop,
		OnSidePort:     e.OnSidePort,
		OperatorAtHand: true,
	})
	switch {
	case err != nil:
		return err
	case ctx.Err() != nil:
		return errInterrupted
	case tr.failures() > 0:
		return errRunFailed
	}
	return nil
}

// exitCode maps the end of a terminal conversation to the command's exit
// code, saying on stderr what ended it.
func exitCode(e *Env, command string, err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errInterrupted):
		fmt.Fprintf(e.Stderr, "promptev-bridge %s: interrupted: exit code %d\n", command, ExitInterrupted)
		return ExitInterrupted
	case errors.Is(err, errRunFailed):
		fmt.Fprintf(e.Stderr, "promptev-bridge %s: the run failed: exit code %d\n", command, ExitFailure)
		return ExitFailure
	}
	fmt.Fprintf(e.Stderr, "promptev-bridge %s: %v\n", command, err)
	return ExitFailure
}

// terminalHost is the process's terminal as the platforms see it; plain
// turns terminal rendering off.
func terminalHost(e *Env, plain bool) chat.Host {
	return chat.Host{
		Stdin:  e.Stdin,
		Stdout: e.Stdout,
		TTY:    !plain && isTerminal(e),
		Width:  cmp.Or(e.Width, terminalWidth(e)),
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
//
// It counts the runs that failed.
type idleTracker struct {
	stop        chan struct{}
	console     answerer
	autoApprove bool
	// onFailure, when set, is called after each run that ended with an error.
	onFailure func()

	mu        sync.Mutex
	pending   int
	failed    int
	inputDone bool
	closed    bool
}

func newIdleTracker(c answerer, autoApprove bool) *idleTracker {
	return &idleTracker{stop: make(chan struct{}), console: c, autoApprove: autoApprove}
}

// failures is how many runs ended with an error.
func (t *idleTracker) failures() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
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
	failed := outcome == bridge.OutcomeError
	if failed && t.onFailure != nil {
		t.onFailure()
	}
	t.mu.Lock()
	t.pending--
	if failed {
		t.failed++
	}
	t.checkLocked()
	t.mu.Unlock()
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
