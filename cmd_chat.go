package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/chat"
)

func cmdChat(ctx context.Context, e *env, args []string) int {
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
		fmt.Fprintln(e.stderr, "promptev-bridge chat: --agent is required")
		fs.Usage()
		return exitUsage
	}

	override := func(c *Config) {
		c.Bridge.Routes = bridge.RoutesConfig{Default: bridge.RouteTarget{Agent: *agentID, Mode: chat.Mode(*mode)}}
		c.Bridge.Approvals.Policy = bridge.PolicyRequester
		c.Bridge.Approvals.Approvers = nil
		c.Slack.Enabled, c.Discord.Enabled = false, false
		c.HTTP.Listen = ""
		c.Log.Level = *level
		if *db != "" {
			c.Store.Path = *db
		}
	}
	var cfg Config
	var ps chat.ConfigProblems
	if *configPath != "" {
		cfg, ps = loadConfigWith(*configPath, e.lookup, override)
	} else {
		cfg = DefaultConfig()
		cfg.Promptev.ProjectKey, _ = e.lookup("PROMPTEV_PROJECT_KEY")
		if u, ok := e.lookup("PROMPTEV_BASE_URL"); ok && u != "" {
			cfg.Promptev.BaseURL = u
		}
		override(&cfg)
		cfg.normalize()
		ps = cfg.Validate()
	}
	if len(ps) > 0 {
		fmt.Fprintln(e.stderr, "promptev-bridge chat: invalid settings:")
		printProblems(e.stderr, ps)
		return exitFailure
	}
	if *db == "" {
		dir, err := os.MkdirTemp("", "promptev-bridge-chat-")
		if err != nil {
			fmt.Fprintf(e.stderr, "promptev-bridge chat: temp dir: %v\n", err)
			return exitFailure
		}
		defer os.RemoveAll(dir)
		cfg.Store.Path = filepath.Join(dir, "chat.db")
	}
	log := newLogger(e.stderr, cfg.Log)
	ag, err := newAgent(cfg.Promptev)
	if err != nil {
		fmt.Fprintf(e.stderr, "promptev-bridge chat: %v\n", err)
		return exitFailure
	}
	var in io.Reader = e.stdin
	if *message != "" {
		in = strings.NewReader(*message + "\n")
	} else {
		fmt.Fprintf(e.stdout, "promptev-bridge chat: agent %s at %s. Answer approvals with y or n; Ctrl-D ends.\n",
			*agentID, cfg.Promptev.BaseURL)
	}
	err = runConsole(ctx, e, consoleOptions{cfg: cfg, agent: ag, log: log, in: in, autoApprove: *autoApprove, plain: *plain})
	if err != nil {
		fmt.Fprintf(e.stderr, "promptev-bridge chat: %v\n", err)
		return exitFailure
	}
	return exitOK
}
