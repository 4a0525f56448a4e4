package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/internal/config"
	"github.com/promptev/promptev-bridge/internal/daemon"
	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/store"
)

// defaultConfigPath is where run and check look without --config.
const defaultConfigPath = "config.yaml"

// onlineTimeout bounds each call of check --online.
const onlineTimeout = 15 * time.Second

// checkVisitor is the visitor of the session check --online starts.
const checkVisitor = "promptev-bridge-check"

func cmdCheck(ctx context.Context, e *Env, args []string) int {
	fs := newFlags(e, "check", "check [--config FILE] [--print] [--online [--agent ID]]",
		"Validates the config file (${ENV} references, unknown keys, types and every\n"+
			"section's rules), then runs every start-up step of run that touches nothing\n"+
			"outside this machine: at least one platform enabled, the Promptev client and\n"+
			"its endpoint templates, the adapters, the store (its directory, or its file\n"+
			"opened read-only) and the side port (bound and released). With --online it\n"+
			"also calls Slack auth.test, Discord GET /users/@me and, with --agent, one\n"+
			"Promptev start. Each step prints OK or the failure and its fix; the exit code\n"+
			"is 1 when any failed. Secret values are never printed.")
	path := fs.String("config", defaultConfigPath, "config file")
	print := fs.Bool("print", false, "also print the effective configuration (defaults filled in, secrets redacted)")
	online := fs.Bool("online", false, "also check the tokens and the Promptev API over the network")
	agentID := fs.String("agent", "", "with --online: start one Promptev session with this agent (skipped without it)")
	if code, done := parseFlags(e, fs, args); done {
		return code
	}
	if *agentID != "" && !*online {
		fmt.Fprintln(e.Stderr, "promptev-bridge check: --agent starts a Promptev session, which only --online does: add --online")
		return ExitUsage
	}
	cfg, ok := loadConfig(e, e.Stdout, *path)
	if !ok {
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

	c := &checker{w: e.Stdout}
	fmt.Fprintln(e.Stdout, "\nStart-up checks (nothing leaves this machine):")
	adapters := c.offline(ctx, e, cfg)
	if *online {
		fmt.Fprintln(e.Stdout, "\nOnline checks:")
		c.online(ctx, cfg, adapters, *agentID)
	}
	if c.failed > 0 {
		fmt.Fprintf(e.Stdout, "\n%d check(s) failed: run would not start as configured.\n", c.failed)
		return ExitFailure
	}
	if *online {
		fmt.Fprintln(e.Stdout, "\nAll checks passed. Start the bridge with: promptev-bridge run")
	} else {
		fmt.Fprintln(e.Stdout, "\nAll checks passed. Check the tokens with: promptev-bridge check --online [--agent ID]; then: promptev-bridge run")
	}
	return ExitOK
}

// loadConfig loads path, printing its problems to w. A missing file prints
// the first steps (init, demo) instead.
func loadConfig(e *Env, w io.Writer, path string) (config.Config, bool) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(w, "promptev-bridge: no config file at %s. To begin:\n", path)
		fmt.Fprintln(w, "  promptev-bridge init    write a config for Slack and/or Discord (it asks, or see init --help)")
		fmt.Fprintln(w, "  promptev-bridge demo    try the bridge offline first: no tokens, no network")
		fmt.Fprintln(w, "  --config FILE           use a config file elsewhere")
		return config.Config{}, false
	}
	cfg, ps := config.Load(path, e.Lookup)
	if len(ps) > 0 {
		fmt.Fprintf(w, "%s: %d problem(s):\n", path, len(ps))
		printProblems(w, ps)
		return config.Config{}, false
	}
	return cfg, true
}

// checker prints one line per check and counts the failures.
type checker struct {
	w      io.Writer
	failed int
}

func (c *checker) ok(name, format string, args ...any) {
	fmt.Fprintf(c.w, "  %-22s OK: %s\n", name, fmt.Sprintf(format, args...))
}

func (c *checker) fail(name string, err error) {
	c.failed++
	fmt.Fprintf(c.w, "  %-22s FAILED: %v\n", name, err)
}

func (c *checker) skip(name, note string) {
	fmt.Fprintf(c.w, "  %-22s skipped: %s\n", name, note)
}

// offline runs run's start-up steps that stay on this machine and returns
// the adapters it built (for the online checks).
func (c *checker) offline(ctx context.Context, e *Env, cfg config.Config) []chat.Adapter {
	if names := cfg.Enabled(); len(names) > 0 {
		c.ok("platforms", "%s", strings.Join(names, ", "))
	} else {
		c.fail("platforms", errors.New(config.NoPlatform()))
	}
	if _, err := daemon.NewAgent(cfg.Promptev); err != nil {
		c.fail("promptev client", err)
	} else {
		ep := cfg.Promptev.Endpoints
		c.ok("promptev client", "%s, auth %s, endpoints start %s, stream %s, trigger %s",
			cfg.Promptev.BaseURL, cfg.Promptev.Auth, ep.Start, ep.Stream, ep.Trigger)
	}
	host := terminalHost(e, true)
	host.Stdin = strings.NewReader("")
	host.Stdout = io.Discard
	adapters, err := daemon.Adapters(cfg, slog.New(slog.DiscardHandler), host)
	switch {
	case err != nil:
		c.fail("adapters", err)
	case len(adapters) > 0:
		c.ok("adapters", "%s built", platformList(adapters))
	}
	switch note, err := store.Check(ctx, cfg.Store); {
	case err != nil:
		c.fail("store", err)
	case note != "":
		c.ok("store", "%s (%s)", cfg.Store.Summary(), note)
	case cfg.Store.Backend == store.DefaultBackend:
		c.ok("store", "%s opens", cfg.Store.Summary())
	default:
		c.skip("store", cfg.Store.Summary()+": another machine's database, reached by run (not checked offline)")
	}
	if cfg.HTTP.Listen == "" {
		c.skip("side port", "http.listen is empty: the side port is off")
	} else if addr, err := bindAndRelease(cfg.HTTP.Listen); err != nil {
		c.fail("side port", err)
	} else {
		c.ok("side port", "%s can be bound (bound %s and released it)", cfg.HTTP.Listen, addr)
	}
	return adapters
}

// bindAndRelease listens on addr and closes the listener at once.
func bindAndRelease(addr string) (net.Addr, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http.listen %s: %w: stop what listens there (a running bridge?), or change http.listen (port 0 picks a free one; empty turns the side port off)", addr, err)
	}
	a := l.Addr()
	return a, l.Close()
}

// onlineChecker is the ability of an adapter to check its credentials with
// its platform (Slack auth.test, Discord GET /users/@me).
type onlineChecker interface {
	CheckOnline(ctx context.Context) (string, error)
}

// online calls each platform and one Promptev start.
func (c *checker) online(ctx context.Context, cfg config.Config, adapters []chat.Adapter, agentID string) {
	for _, a := range adapters {
		oc, ok := a.(onlineChecker)
		if !ok {
			c.skip(a.Name(), "nothing to check online")
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, onlineTimeout)
		desc, err := oc.CheckOnline(cctx)
		cancel()
		if err != nil {
			c.fail(a.Name(), err)
			continue
		}
		c.ok(a.Name(), "%s", desc)
	}
	if agentID == "" {
		c.skip("promptev start", "give --agent ID (for example "+orNone(cfg.Bridge.Routes.Default.Agent)+
			") to start one session with that agent and check the key, the endpoints and the agent")
		return
	}
	rec := newCallRecorder(cfg.Promptev)
	ag, err := daemon.NewAgent(cfg.Promptev, promptev.WithHTTPClient(rec.client()))
	if err != nil {
		c.fail("promptev start", err)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, onlineTimeout)
	defer cancel()
	s, err := ag.Start(cctx, agentID, promptev.StartOptions{Visitor: checkVisitor, Platform: "check"})
	if err != nil {
		msg := rec.redact(err.Error())
		if call, ok := rec.takeFailure(); ok {
			msg = fmt.Sprintf("agent %s\n%s  fix:      %s", agentID, call, call.hint())
		}
		c.fail("promptev start", errors.New(msg))
		return
	}
	name := s.Name
	if name == "" {
		name = agentID
	}
	c.ok("promptev start", "agent %s (%s) started a session at %s", agentID, name, cfg.Promptev.BaseURL)
}

func platformList(as []chat.Adapter) string {
	names := make([]string, len(as))
	for i, a := range as {
		names[i] = a.Name()
	}
	return strings.Join(names, ", ")
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
