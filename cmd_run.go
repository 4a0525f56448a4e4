package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/promptev/promptev-bridge/adapters/console"
	"github.com/promptev/promptev-bridge/adapters/discord"
	"github.com/promptev/promptev-bridge/adapters/slack"
	"github.com/promptev/promptev-bridge/chat"
)

func cmdRun(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "run", "run [--config FILE]",
		"Runs the bridge: the adapters enabled in the config, the store and the HTTP\n"+
			"side port (/healthz /readyz /metrics /debug/store). SIGINT or SIGTERM shuts\n"+
			"down in order: stop intake, let running answers finish (runs.shutdown_grace),\n"+
			"close the store and the side port. A second signal exits at once.")
	path := fs.String("config", defaultConfigPath, "config file")
	if code, done := parseFlags(e, fs, args); done {
		return code
	}
	cfg, ps := LoadConfig(*path, e.lookup)
	if len(ps) > 0 {
		fmt.Fprintf(e.stderr, "promptev-bridge: %s: %d problem(s):\n", *path, len(ps))
		printProblems(e.stderr, ps)
		return exitFailure
	}
	log := newLogger(e.stderr, cfg.Log)
	if err := runDaemon(ctx, e, cfg, log); err != nil {
		log.Error("promptev-bridge failed", "err", err)
		return exitFailure
	}
	return exitOK
}

// errNoPlatform is returned when the config enables no platform.
var errNoPlatform = errors.New("no platform enabled: set slack.enabled, discord.enabled or console.enabled (or try: promptev-bridge demo)")

// runDaemon wires the configured adapters and serves until ctx ends.
func runDaemon(ctx context.Context, e *env, cfg Config, log *slog.Logger) error {
	ag, err := newAgent(cfg.Promptev)
	if err != nil {
		return err
	}
	var adapters []chat.Adapter
	if cfg.Slack.Enabled {
		a, err := slack.New(cfg.Slack, log.With("component", "slack"))
		if err != nil {
			return fmt.Errorf("slack: %w", err)
		}
		adapters = append(adapters, a)
	}
	if cfg.Discord.Enabled {
		a, err := discord.New(cfg.Discord, log.With("component", "discord"))
		if err != nil {
			return fmt.Errorf("discord: %w", err)
		}
		adapters = append(adapters, a)
	}
	if cfg.Console.Enabled {
		adapters = append(adapters, console.New(console.Options{
			In: e.stdin, Out: e.stdout, TTY: isTerminal(e), Width: terminalWidth(e), User: consoleUser(e),
			Logger: log.With("component", "console"),
		}))
	}
	if len(adapters) == 0 {
		return errNoPlatform
	}
	return serve(ctx, serveOptions{cfg: cfg, log: log, agent: ag, adapters: adapters, onSidePort: e.onSidePort})
}
