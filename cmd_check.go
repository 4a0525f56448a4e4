package main

import (
	"context"
	"fmt"
	"io"

	"github.com/promptev/promptev-bridge/adapters/discord"
	"github.com/promptev/promptev-bridge/chat"
)

// defaultConfigPath is where run and check look without --config.
const defaultConfigPath = "config.yaml"

func cmdCheck(_ context.Context, e *env, args []string) int {
	fs := newFlags(e, "check", "check [--config FILE]",
		"Validates the config file: ${ENV} references, unknown keys, types and every\n"+
			"section's rules. Prints each problem with its YAML path and exits 1 when\n"+
			"there is any. Secret values are never printed.")
	path := fs.String("config", defaultConfigPath, "config file")
	print := fs.Bool("print", false, "also print the effective configuration (defaults filled in, secrets redacted)")
	if code, done := parseFlags(e, fs, args); done {
		return code
	}
	cfg, ps := LoadConfig(*path, e.lookup)
	if len(ps) > 0 {
		fmt.Fprintf(e.stdout, "%s: %d problem(s):\n", *path, len(ps))
		printProblems(e.stdout, ps)
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "%s: OK\n", *path)
	summarize(e.stdout, cfg)
	if *print {
		out, err := printableConfig(cfg)
		if err != nil {
			fmt.Fprintf(e.stderr, "promptev-bridge check: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(e.stdout, "\n# effective configuration\n%s", out)
	}
	return exitOK
}

// printProblems writes one "path: message" line per problem.
func printProblems(w io.Writer, ps chat.ConfigProblems) {
	for _, p := range ps {
		if p.Path == "" {
			fmt.Fprintf(w, "  %s\n", p.Message)
			continue
		}
		fmt.Fprintf(w, "  %s: %s\n", p.Path, p.Message)
	}
}

// summarize prints what the config turns on, without any secret.
func summarize(w io.Writer, cfg Config) {
	on := func(b bool) string {
		if b {
			return "enabled"
		}
		return "disabled"
	}
	fmt.Fprintf(w, "  promptev: %s (auth %s)\n", cfg.Promptev.BaseURL, cfg.Promptev.Auth)
	fmt.Fprintf(w, "  default agent: %s (%s), %d channel route(s)\n",
		orNone(cfg.Bridge.Routes.Default.Agent), cfg.Bridge.Routes.Default.Mode, len(cfg.Bridge.Routes.Channels))
	fmt.Fprintf(w, "  slack: %s, discord: %s, console: %s\n", on(cfg.Slack.Enabled), on(cfg.Discord.Enabled), on(cfg.Console.Enabled))
	if cfg.Discord.Enabled && cfg.Discord.ApplicationID != "" {
		fmt.Fprintf(w, "  discord invite URL: %s\n", discord.InviteURL(cfg.Discord.ApplicationID))
	}
	fmt.Fprintf(w, "  store: %s\n", cfg.Store.Path)
	fmt.Fprintf(w, "  side port: %s\n", orNone(cfg.HTTP.Listen))
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
