package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/internal/config"
)

// defaultConfigPath is where run and check look without --config.
const defaultConfigPath = "config.yaml"

func cmdCheck(_ context.Context, e *Env, args []string) int {
	fs := newFlags(e, "check", "check [--config FILE]",
		"Validates the config file: ${ENV} references, unknown keys, types and every\n"+
			"section's rules. Prints each problem with its YAML path and exits 1 when\n"+
			"there is any. Secret values are never printed.")
	path := fs.String("config", defaultConfigPath, "config file")
	print := fs.Bool("print", false, "also print the effective configuration (defaults filled in, secrets redacted)")
	if code, done := parseFlags(e, fs, args); done {
		return code
	}
	cfg, ps := config.Load(*path, e.Lookup)
	if len(ps) > 0 {
		fmt.Fprintf(e.Stdout, "%s: %d problem(s):\n", *path, len(ps))
		printProblems(e.Stdout, ps)
		return ExitFailure
	}
	fmt.Fprintf(e.Stdout, "%s: OK\n", *path)
	summarize(e.Stdout, cfg)
	if *print {
		out, err := config.Printable(cfg)
		if err != nil {
			fmt.Fprintf(e.Stderr, "promptev-bridge check: %v\n", err)
			return ExitFailure
		}
		fmt.Fprintf(e.Stdout, "\n# effective configuration\n%s", out)
	}
	return ExitOK
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
func summarize(w io.Writer, cfg config.Config) {
	on := func(b bool) string {
		if b {
			return "enabled"
		}
		return "disabled"
	}
	fmt.Fprintf(w, "  promptev: %s (auth %s)\n", cfg.Promptev.BaseURL, cfg.Promptev.Auth)
	fmt.Fprintf(w, "  default agent: %s (%s), %d channel route(s)\n",
		orNone(cfg.Bridge.Routes.Default.Agent), cfg.Bridge.Routes.Default.Mode, len(cfg.Bridge.Routes.Channels))
	var states, extra []string
	for _, r := range config.Platforms() {
		s := cfg.Section(r.Name)
		states = append(states, r.Name+": "+on(s.IsEnabled()))
		if s.IsEnabled() && r.Summary != nil {
			extra = append(extra, r.Summary(s)...)
		}
	}
	fmt.Fprintf(w, "  %s\n", strings.Join(states, ", "))
	for _, line := range extra {
		fmt.Fprintf(w, "  %s\n", line)
	}
	fmt.Fprintf(w, "  store: %s\n", cfg.Store.Summary())
	fmt.Fprintf(w, "  side port: %s\n", orNone(cfg.HTTP.Listen))
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
