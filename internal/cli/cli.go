// Package cli is the command line of promptev-bridge: the dispatcher (this
// file) and one file per command (init, run, check, demo, chat, store,
// grants, installs, version).
// The root package main only calls Run.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/promptev/promptev-bridge/internal/config"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
	// ExitInterrupted is the code of a command a signal cut short (128 +
	// SIGINT, as shells report it).
	ExitInterrupted = 130
)

// Env is what a command may use of the outside world. Tests fill the hooks.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Lookup reads the environment (os.LookupEnv).
	Lookup config.LookupEnv
	// Version is the release version (main's, set with -ldflags); empty
	// falls back to the module version of the build.
	Version string
	// OnSidePort, when set, is told the side port's bound address.
	OnSidePort func(net.Addr)
	// StdoutTTY forces terminal rendering on (true) or off (false); nil detects it.
	StdoutTTY *bool
	// Width forces the terminal's width in columns; 0 detects it.
	Width int
	// Cleanups, when set, collects what must be removed even if the process
	// exits without returning (main's second signal).
	Cleanups *Cleanups
	// Interrupts, when set, lets a terminal conversation take Ctrl-C to
	// stop its run under way (main sets it; in-process runs have none).
	Interrupts *Interrupts
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *Env, args []string) int
}

func commands() []command {
	return []command{
		{"init", "write a config, a .env.example and the Slack app manifest for your platforms", cmdInit},
		{"run", "run the bridge daemon (the default command)", cmdRun},
		{"check", "validate a config file and print every problem with its YAML path", cmdCheck},
		{"demo", "talk to a built-in scripted agent in the terminal, offline, no tokens needed", cmdDemo},
		{"chat", "talk to a real Promptev agent from the terminal", cmdChat},
		{"store", "the store: store stats (of a running bridge, or --db FILE), store copy, store migrate", cmdStore},
		{"grants", "list or revoke the conversation grants of approvals: grants list|revoke", cmdGrants},
		{"installs", "list or remove the Slack app's installations (slack.oauth): installs list|remove", cmdInstalls},
		{"version", "print the version", cmdVersion},
	}
}

// Run is the whole program with the outside world in e: it picks the
// command ("run" when args start with a flag or are empty), runs it until it
// finishes or ctx ends, and returns its exit code.
func Run(ctx context.Context, args []string, e *Env) int {
	name := "run"
	if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		usage(e.Stdout)
		return ExitOK
	}
	if len(args) == 1 && (args[0] == "-version" || args[0] == "--version") {
		return cmdVersion(ctx, e, nil)
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if name == "help" {
		if len(args) > 0 {
			return Run(ctx, []string{args[0], "--help"}, e)
		}
		usage(e.Stdout)
		return ExitOK
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, e, args)
		}
	}
	fmt.Fprintf(e.Stderr, "promptev-bridge: unknown command %q\n\n", name)
	usage(e.Stderr)
	return ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "promptev-bridge connects Slack and Discord to Promptev agents.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: promptev-bridge <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run \"promptev-bridge <command> --help\" for the flags of a command.")
	fmt.Fprintln(w, "Try it offline: promptev-bridge demo")
}

// newFlags makes a flag set whose usage names the command; --help prints it
// to stdout and parse errors to stderr.
func newFlags(e *Env, name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: promptev-bridge %s\n\n%s\n", synopsis, about)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(w, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args; done is true when the command must return code
// at once (help was asked for, or the flags were wrong).
func parseFlags(e *Env, fs *flag.FlagSet, args []string) (code int, done bool) {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(e.Stdout)
			fs.Usage()
			return ExitOK, true
		}
		if a == "--" {
			break
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK, true
		}
		return ExitUsage, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.Stderr, "promptev-bridge %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return ExitUsage, true
	}
	return 0, false
}
