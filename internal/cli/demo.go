package cli

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/promptev/promptev-bridge/internal/config"
	"github.com/promptev/promptev-bridge/internal/daemon"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

//go:embed demo_script.yaml
var demoScript []byte

// Names used by the demo's embedded Promptev API.
const (
	demoProjectKey = "demo-project-key"
	demoAgentID    = "release-assistant"
)

func cmdDemo(ctx context.Context, e *Env, args []string) int {
	fs := newFlags(e, "demo", "demo [--script FILE] [--message TEXT [--auto-approve]] [--fast]",
		"Runs the whole bridge offline: the terminal (console adapter) talks to a\n"+
			"scripted agent on an embedded fake Promptev API, with a temporary store.\n"+
			"No tokens or network needed. Type a message; answer approval prompts with\n"+
			"y or n; Ctrl-D (or /quit) ends the demo once the last run has finished.")
	script := fs.String("script", "", "agent script (YAML or JSON, promptevtest format) instead of the built-in one")
	message := fs.String("message", "", "send this one message and exit when its run is over (non-interactive)")
	autoApprove := fs.Bool("auto-approve", false, "approve every approval request automatically")
	fast := fs.Bool("fast", false, "play the script without its delays")
	plain := fs.Bool("plain", false, "print plain lines even on a terminal")
	level := fs.String("log-level", "warn", "log level of the bridge's logs on stderr: debug, info, warn or error")
	listen := fs.String("http", "", "serve /healthz /readyz /metrics on this address (off by default)")
	if code, done := parseFlags(e, fs, args); done {
		return code
	}

	src := demoScript
	if *script != "" {
		b, err := os.ReadFile(*script)
		if err != nil {
			fmt.Fprintf(e.Stderr, "promptev-bridge demo: %v\n", err)
			return ExitFailure
		}
		src = b
	}
	agent, err := promptevtest.LoadScript(bytes.NewReader(src))
	if err != nil {
		fmt.Fprintf(e.Stderr, "promptev-bridge demo: %v\n", err)
		return ExitFailure
	}
	if *fast {
		for _, evs := range [][]promptevtest.Event{agent.Script, agent.OnApprove, agent.OnDeny} {
			for i := range evs {
				evs[i].Delay = 0
			}
		}
	}

	srv := promptevtest.NewServer(demoProjectKey)
	defer srv.Close()
	srv.AddAgent(demoAgentID, agent)

	dir, err := os.MkdirTemp("", "promptev-bridge-demo-")
	if err != nil {
		fmt.Fprintf(e.Stderr, "promptev-bridge demo: temp dir: %v\n", err)
		return ExitFailure
	}
	defer e.Cleanups.Add(func() { _ = os.RemoveAll(dir) })()

	cfg := config.DefaultConfig()
	cfg.Promptev.ProjectKey = demoProjectKey
	cfg.Promptev.BaseURL = srv.URL
	cfg.Bridge.Routes.Default.Agent = demoAgentID
	cfg.Store.Path = filepath.Join(dir, "demo.db")
	cfg.HTTP.Listen = *listen
	cfg.Log.Level = *level
	if ps := cfg.Validate(); len(ps) > 0 {
		fmt.Fprintln(e.Stderr, "promptev-bridge demo: invalid settings:")
		printProblems(e.Stderr, ps)
		return ExitUsage
	}
	logs := newSharedStderr(e.Stderr)
	log := daemon.NewLogger(logs, cfg.Log)
	ag, err := daemon.NewAgent(cfg.Promptev)
	if err != nil {
		fmt.Fprintf(e.Stderr, "promptev-bridge demo: %v\n", err)
		return ExitFailure
	}

	var in io.Reader = e.Stdin
	name := agent.Name
	if name == "" {
		name = demoAgentID
	}
	fmt.Fprintf(e.Stdout, "promptev-bridge demo: talking to %q, a scripted agent on an embedded Promptev API.\n", name)
	if *message != "" {
		in = strings.NewReader(*message + "\n")
	} else {
		fmt.Fprintln(e.Stdout, "Nothing leaves this machine. Type a message (try: Why did the nightly build fail?),")
		fmt.Fprintln(e.Stdout, "answer approval prompts with y or n, and end with Ctrl-D or /quit.")
	}
	err = runConsole(ctx, e, consoleOptions{command: "demo", cfg: cfg, agent: ag, log: log, logs: logs, in: in,
		autoApprove: *autoApprove, plain: *plain, interactive: *message == ""})
	return exitCode(e, "demo", err)
}
