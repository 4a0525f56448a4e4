package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/internal/config"
	"github.com/promptev/promptev-bridge/internal/daemon"
	"github.com/promptev/promptev-bridge/promptev"
)

func cmdChat(ctx context.Context, e *Env, args []string) int {
	fs := newFlags(e, "chat", "chat --agent ID [--config FILE] [--message TEXT [--auto-approve]]",
		"Talks to a real Promptev agent from the terminal through the whole bridge\n"+
			"(placeholder, live status, approvals, final answer), to test an agent\n"+
			"without Slack or Discord. The promptev section comes from --config when\n"+
			"given; otherwise PROMPTEV_PROJECT_KEY (and PROMPTEV_BASE_URL, if set) are\n"+
			"used. The conversation is kept in a temporary store unless --db is given.")
	agentID := fs.String("agent", "", "Promptev agent id (required)")
	configPath := fs.String("config", "", "config file to take the promptev, approvals and render sections from")
	mode := fs.String("mode", string(chat.ModeStream), "stream or trigger")
	message := fs.String("message", "", "send this one message and exit when its run is over (non-interactive)")
	autoApprove := fs.Bool("auto-approve", false, "approve every approval request automatically")
	plain := fs.Bool("plain", false, "print plain lines even on a terminal")
	db := fs.String("db", "", "store file (default: a temporary one, removed at exit)")
	level := fs.String("log-level", "warn", "log level on stderr: debug, info, warn or error")
	if code, done := parseFlags(e, fs, args); done {
		return code
	}
	if *agentID == "" {
		fmt.Fprintln(e.Stderr, "promptev-bridge chat: --agent is required")
		fs.Usage()
		return ExitUsage
	}

	override := func(c *config.Config) {
		c.Bridge.Routes = bridge.RoutesConfig{Default: bridge.RouteTarget{Agent: *agentID, Mode: chat.Mode(*mode)}}
		c.Bridge.Approvals.Policy = bridge.PolicyRequester
		c.Bridge.Approvals.Approvers = nil
		c.ResetPlatforms() // the session is the terminal's; the config's platforms stay off
		c.HTTP.Listen = ""
		c.Log.Level = *level
		if *db != "" {
			c.Store.Path = *db
		}
	}
	var cfg config.Config
	var ps chat.ConfigProblems
	if *configPath != "" {
		cfg, ps = config.LoadWith(*configPath, e.Lookup, override)
	} else {
		cfg = config.DefaultConfig()
		cfg.Promptev.ProjectKey, _ = e.Lookup("PROMPTEV_PROJECT_KEY")
		if u, ok := e.Lookup("PROMPTEV_BASE_URL"); ok && u != "" {
			cfg.Promptev.BaseURL = u
		}
		override(&cfg)
		cfg.Normalize()
		ps = cfg.Validate()
	}
	if len(ps) > 0 {
		fmt.Fprintln(e.Stderr, "promptev-bridge chat: invalid settings:")
		printProblems(e.Stderr, ps)
		return ExitFailure
	}
	if *db == "" {
		dir, err := os.MkdirTemp("", "promptev-bridge-chat-")
		if err != nil {
			fmt.Fprintf(e.Stderr, "promptev-bridge chat: temp dir: %v\n", err)
			return ExitFailure
		}
		defer e.Cleanups.Add(func() { _ = os.RemoveAll(dir) })()
		cfg.Store.Path = filepath.Join(dir, "chat.db")
	}
	logs := newSharedStderr(e.Stderr)
	log := daemon.NewLogger(logs, cfg.Log)
	rec := newCallRecorder(cfg.Promptev)
	ag, err := daemon.NewAgent(cfg.Promptev, promptev.WithHTTPClient(rec.client()))
	if err != nil {
		fmt.Fprintf(e.Stderr, "promptev-bridge chat: %v\n", err)
		return ExitFailure
	}
	var in io.Reader = e.Stdin
	if *message != "" {
		in = strings.NewReader(*message + "\n")
	} else {
		fmt.Fprintf(e.Stdout, "promptev-bridge chat: agent %s at %s. Answer approvals with y or n; Ctrl-D ends.\n",
			*agentID, cfg.Promptev.BaseURL)
	}
	err = runConsole(ctx, e, consoleOptions{command: "chat", cfg: cfg, agent: ag, log: log, logs: logs, in: in,
		autoApprove: *autoApprove, plain: *plain, interactive: *message == "",
		onRunFailed: func() { printFailedCall(e.Stderr, rec) }})
	return exitCode(e, "chat", err)
}

// printFailedCall prints the Promptev call that made a run fail: the
// endpoint, the status and the body, and the likely fix. A run that failed
// without a failed call (the agent sent an error event) is described by the
// bridge's error log line.
func printFailedCall(w io.Writer, rec *callRecorder) {
	c, ok := rec.takeFailure()
	if !ok {
		return
	}
	fmt.Fprintf(w, "promptev-bridge chat: the Promptev call failed:\n%s  fix:      %s\n", c, c.hint())
}
