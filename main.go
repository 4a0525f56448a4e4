// Command promptev-bridge connects Slack and Discord to Promptev agents.
//
// Commands: run (the daemon, default), check (validate a config file), demo
// (an offline conversation with a scripted agent), chat (talk to a real agent
// from the terminal), store stats, and version. Run "promptev-bridge help".
//
// This package only starts the program: the commands are in internal/cli,
// the configuration in internal/config and the wiring in internal/daemon.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/promptev/promptev-bridge/internal/cli"
)

// version is the release version, set with -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	cleanups := new(cli.Cleanups)
	ctx, stop := signalContext(os.Stderr, cleanups)
	code := cli.Run(ctx, os.Args[1:], env(os.Stdin, os.Stdout, os.Stderr, cleanups))
	stop()
	os.Exit(code)
}

// signalContext returns a context cancelled by the first SIGINT or SIGTERM;
// a second signal runs the registered clean-ups (temporary stores) and
// exits the process at once.
func signalContext(stderr io.Writer, cleanups *cli.Cleanups) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-sigs:
			fmt.Fprintf(stderr, "promptev-bridge: second signal (%s): exiting now\n", s)
			cleanups.Run()
			os.Exit(cli.ExitInterrupted)
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
	return cli.Run(ctx, args, env(stdin, stdout, stderr, nil))
}

// env is the process's outside world for the commands.
func env(stdin io.Reader, stdout, stderr io.Writer, cleanups *cli.Cleanups) *cli.Env {
	return &cli.Env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Lookup: os.LookupEnv, Version: version, Cleanups: cleanups}
}
