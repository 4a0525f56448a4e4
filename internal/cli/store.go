package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/internal/config"
	"github.com/promptev/promptev-bridge/metrics"
	"github.com/promptev/promptev-bridge/store"
)

// storeStatsSynopsis is the usage line of `store stats`.
const storeStatsSynopsis = "store stats [--addr HOST:PORT | --config FILE | --db FILE] [--json]"

// storeStatsPath is the side port's route that `store stats --addr` reads.
const storeStatsPath = "/debug/store"

// maxStatsBody bounds what `store stats --addr` reads from the side port.
const maxStatsBody = 1 << 20

// storeUsage lists the store subcommands.
const storeUsage = "Usage: promptev-bridge " + storeStatsSynopsis + "\n       promptev-bridge " + storeCopySynopsis +
	"\n       promptev-bridge " + storeMigrateSynopsis + "\n\nSubcommands:\n" +
	"  stats    print the record counts of the store: of a running bridge (--addr,\n" +
	"           --config) or of a store file (--db); read-only\n" +
	"  copy     copy every record from one store to another (bbolt to PostgreSQL)\n" +
	"  migrate  bring a store's schema up to this build's"

func cmdStore(ctx context.Context, e *Env, args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "copy":
			return cmdStoreCopy(ctx, e, args[1:])
		case "migrate":
			return cmdStoreMigrate(ctx, e, args[1:])
		}
	}
	if len(args) == 0 || args[0] != "stats" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprintln(e.Stdout, storeUsage)
			return ExitOK
		}
		fmt.Fprintln(e.Stderr, storeUsage)
		return ExitUsage
	}
	fs := newFlags(e, "store stats", storeStatsSynopsis,
		"Prints what the store holds: conversations, approvals (pending and the next\n"+
			"expiry), in-flight runs with the oldest one, dedupe entries, schema\n"+
			"versions. Read-only; no session token or message text is ever printed.\n\n"+
			"A running bridge holds the store file's lock, so by default this asks the\n"+
			"bridge over its side port (GET "+storeStatsPath+" on http.listen): --addr names\n"+
			"the side port, --config takes it from the config's http.listen, and\n"+
			"without either "+config.DefaultListen+" is asked.\n\n"+
			"--db reads a store file instead: a stopped bridge's file or a backup copy.")
	addr := fs.String("addr", "", "side port of a running bridge (default: http.listen of --config, else "+config.DefaultListen+")")
	configPath := fs.String("config", "", "config file whose http.listen names the running bridge's side port")
	db := fs.String("db", "", "store file to read instead of asking a running bridge (stopped bridge or backup copy)")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the bridge's answer (--addr) or the file lock (--db)")
	if code, done := parseFlags(e, fs, args[1:]); done {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case set["db"] && (set["addr"] || set["config"]):
		fmt.Fprintln(e.Stderr, "promptev-bridge store stats: --db reads a file; it cannot be combined with --addr or --config")
		return ExitUsage
	case set["db"] && *db == "":
		fmt.Fprintln(e.Stderr, "promptev-bridge store stats: --db needs a file name")
		return ExitUsage
	case set["db"]:
		return storeStatsFile(ctx, e, *db, *timeout, *asJSON)
	}

	target := *addr
	if !set["addr"] {
		target = config.DefaultListen
		if set["config"] {
			var ok bool
			if target, ok = sidePortFromConfig(e, *configPath); !ok {
				return ExitFailure
			}
		}
	}
	if _, _, err := net.SplitHostPort(target); err != nil {
		fmt.Fprintf(e.Stderr, "promptev-bridge store stats: --addr %q: want HOST:PORT (%v)\n", target, err)
		return ExitUsage
	}
	return storeStatsRemote(ctx, e, target, *timeout, *asJSON)
}

// storeStatsFile prints the statistics of a store file opened read-only.
func storeStatsFile(ctx context.Context, e *Env, path string, timeout time.Duration, asJSON bool) int {
	c := store.DefaultConfig()
	c.Path, c.LockTimeout = path, timeout
	st, err := store.Open(ctx, c, store.OpenOptions{ReadOnly: true})
	if err != nil {
		fmt.Fprintf(e.Stderr, "promptev-bridge store stats: %v\n", err)
		if errors.Is(err, store.ErrLocked) {
			fmt.Fprintf(e.Stderr, "A running bridge holds this file. Ask it over its side port instead:\n"+
				"  promptev-bridge store stats --addr HOST:PORT   (the bridge's http.listen, default %s)\n"+
				"  promptev-bridge store stats --config FILE      (takes http.listen from the bridge's config)\n",
				config.DefaultListen)
		}
		return ExitFailure
	}
	defer st.Close()
	stats, err := st.Stats(ctx)
	if err != nil {
		fmt.Fprintf(e.Stderr, "promptev-bridge store stats: %v\n", err)
		return ExitFailure
	}
	if asJSON {
		err = metrics.WriteStoreStatsJSON(e.Stdout, stats)
	} else {
		err = metrics.WriteStoreStats(e.Stdout, stats)
	}
	if err != nil {
		fmt.Fprintf(e.Stderr, "promptev-bridge store stats: %v\n", err)
		return ExitFailure
	}
	return ExitOK
}

// storeStatsRemote prints a running bridge's store statistics, read from its
// side port at addr.
func storeStatsRemote(ctx context.Context, e *Env, addr string, timeout time.Duration, asJSON bool) int {
	u := url.URL{Scheme: "http", Host: addr, Path: storeStatsPath}
	if asJSON {
		u.RawQuery = "format=json"
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		fmt.Fprintf(e.Stderr, "promptev-bridge store stats: %v\n", err)
		return ExitUsage
	}
	// The side port is local: never go through an HTTP proxy from the environment.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(e.Stderr, "promptev-bridge store stats: cannot reach a bridge's side port at %s: %v\n"+
			"Is the bridge running with this http.listen? For a stopped bridge's file or a backup copy, use --db FILE.\n",
			addr, unwrapURLError(err))
		return ExitFailure
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStatsBody))
	if err != nil {
		fmt.Fprintf(e.Stderr, "promptev-bridge store stats: reading the answer of %s: %v\n", addr, unwrapURLError(err))
		return ExitFailure
	}
	switch resp.StatusCode {
	case http.StatusOK:
		_, _ = e.Stdout.Write(body)
		return ExitOK
	case http.StatusNotFound:
		fmt.Fprintf(e.Stderr, "promptev-bridge store stats: %s answered 404 for %s: not a promptev-bridge side port, or a version without it\n"+
			"(stop that bridge and use --db FILE)\n", addr, storeStatsPath)
	default:
		fmt.Fprintf(e.Stderr, "promptev-bridge store stats: %s answered %s: %s\n",
			addr, resp.Status, strings.TrimSpace(string(body)))
	}
	return ExitFailure
}

// unwrapURLError drops the "Get \"http://...\":" prefix of client errors.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// sidePortFromConfig returns the address to dial for the side port named by
// the config's http.listen. Only the http section must be valid: problems
// elsewhere (a secret not set in this shell) do not matter here.
func sidePortFromConfig(e *Env, path string) (string, bool) {
	cfg, ps := config.Load(path, e.Lookup)
	var relevant chat.ConfigProblems
	for _, p := range ps {
		if p.Path == "" || p.Path == "http" || strings.HasPrefix(p.Path, "http.") {
			relevant = append(relevant, p)
		}
	}
	if len(relevant) > 0 {
		fmt.Fprintf(e.Stderr, "promptev-bridge store stats: %s: %d problem(s):\n", path, len(relevant))
		printProblems(e.Stderr, relevant)
		return "", false
	}
	addr, err := dialAddr(cfg.HTTP.Listen)
	if err != nil {
		fmt.Fprintf(e.Stderr, "promptev-bridge store stats: %s: %v\n", path, err)
		return "", false
	}
	return addr, true
}

// dialAddr turns a listen address into one to connect to: an unspecified
// host (":9464", "0.0.0.0", "::") becomes the loopback address.
func dialAddr(listen string) (string, error) {
	if listen == "" {
		return "", errors.New("http.listen is empty: the side port is off, so a running bridge cannot be asked; " +
			"stop it and use --db FILE (its store.path)")
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("http.listen %q: %w", listen, err)
	}
	if port == "0" {
		return "", fmt.Errorf("http.listen %q picks a free port at start-up: pass --addr with the port logged as \"side port listening\"", listen)
	}
	switch ip := net.ParseIP(host); {
	case host == "":
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified() && ip.To4() != nil:
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return net.JoinHostPort(host, port), nil
}
