package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/promptev/promptev-bridge/store"
)

func cmdStore(_ context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] != "stats" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprintln(e.stdout, "Usage: promptev-bridge store stats --db FILE")
			fmt.Fprintln(e.stdout, "\nSubcommands:\n  stats  print record counts and sizes of a store file (read-only)")
			return exitOK
		}
		fmt.Fprintln(e.stderr, "Usage: promptev-bridge store stats --db FILE")
		return exitUsage
	}
	fs := newFlags(e, "store stats", "store stats --db FILE",
		"Prints the record counts and sizes of a store file. It opens the file\n"+
			"read-only; a running bridge holds the lock, so stop it first or copy the\n"+
			"file with a bbolt-safe method (see README, Operations).")
	db := fs.String("db", "./promptev-bridge.db", "store file")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the file lock")
	if code, done := parseFlags(e, fs, args[1:]); done {
		return code
	}
	st, err := store.OpenReadOnly(*db, store.Options{Timeout: *timeout, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintf(e.stderr, "promptev-bridge store stats: %v\n", err)
		return exitFailure
	}
	defer st.Close()
	stats, err := st.Stats()
	if err != nil {
		fmt.Fprintf(e.stderr, "promptev-bridge store stats: %v\n", err)
		return exitFailure
	}
	if err := store.WriteStats(e.stdout, stats); err != nil {
		fmt.Fprintf(e.stderr, "promptev-bridge store stats: %v\n", err)
		return exitFailure
	}
	return exitOK
}
