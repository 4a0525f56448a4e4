package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strings"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// version is the release version, set with -ldflags "-X main.version=v1.2.3".
var version = ""

// env is what a command may use of the outside world. Tests fill the hooks.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookup         lookupEnv
	// onSidePort, when set, is told the side port's bound address.
	onSidePort func(net.Addr)
	// stdoutTTY forces terminal rendering on (true) or off (false); nil detects it.
	stdoutTTY *bool
	// interrupt, when set, lets a terminal conversation take Ctrl-C to stop
	// its run under way (main sets it; in-process runs have none).
	interrupt *interruptHook
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) int
}

func commands() []command {
	return []command{
		{"run", "run the bridge daemon (the default command)", cmdRun},
		{"check", "validate a config file and print every problem with its YAML path", cmdCheck},
		{"demo", "talk to a built-in scripted agent in the terminal, offline, no tokens needed", cmdDemo},
		{"chat", "talk to a real Promptev agent from the terminal", cmdChat},
		{"store", "inspect the store: store stats (of a running bridge, or --db FILE)", cmdStore},
		{"grants", "list or revoke the conversation grants of approvals (grants list|revoke --db FILE)", cmdGrants},
		{"version", "print the version", cmdVersion},
	}
}

// runWith is run with the outside world in e: it picks the command ("run"
// when args start with a flag or are empty) and returns its exit code.
func runWith(ctx context.Context, args []string, e *env) int {
	name := "run"
	if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		usage(e.stdout)
		return exitOK
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if name == "help" {
		if len(args) > 0 {
			return runWith(ctx, []string{args[0], "--help"}, e)
		}
		usage(e.stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, e, args)
		}
	}
	fmt.Fprintf(e.stderr, "promptev-bridge: unknown command %q\n\n", name)
	usage(e.stderr)
	return exitUsage
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
func newFlags(e *env, name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
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
func parseFlags(e *env, fs *flag.FlagSet, args []string) (code int, done bool) {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return exitOK, true
		}
		if a == "--" {
			break
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, true
		}
		return exitUsage, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "promptev-bridge %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return exitUsage, true
	}
	return 0, false
}

// buildVersion returns the version of this build.
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func cmdVersion(_ context.Context, e *env, args []string) int {
	fs := newFlags(e, "version", "version", "Prints the version of this build.")
	if code, done := parseFlags(e, fs, args); done {
		return code
	}
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	fmt.Fprintf(e.stdout, "promptev-bridge %s (%s)\n", buildVersion(), goVersion)
	return exitOK
}
