package cli

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/promptev/promptev-bridge/store"
)

// storeCopySynopsis is the usage line of `store copy`.
const storeCopySynopsis = "store copy --from BACKEND:WHERE --to BACKEND:WHERE [--force]"

// storeMigrateSynopsis is the usage line of `store migrate`.
const storeMigrateSynopsis = "store migrate --store BACKEND:WHERE"

// storeSpecHelp explains the BACKEND:WHERE form.
const storeSpecHelp = "A store is named as bbolt:FILE (a store file) or postgres:DSN (a libpq\n" +
	"connection string or a postgres:// URL; put it in an environment variable and\n" +
	"write postgres:\"$DATABASE_URL\" to keep it out of your shell history)."

// cmdStoreCopy copies every record of one store into another.
func cmdStoreCopy(ctx context.Context, e *Env, args []string) int {
	fs := newFlags(e, "store copy", storeCopySynopsis,
		"Copies every conversation (with its agent session), approval and in-flight\n"+
			"run from one store to another, then checks the counts: the way to move a\n"+
			"deployment from its bbolt file to PostgreSQL (or back). Stop every bridge\n"+
			"that uses either store first. The target must be empty unless --force is\n"+
			"given. The dedupe ledger is not copied (its entries live minutes).\n\n"+storeSpecHelp)
	from := fs.String("from", "", "the store to copy from, as BACKEND:WHERE")
	to := fs.String("to", "", "the store to copy into, as BACKEND:WHERE")
	force := fs.Bool("force", false, "copy into a store that already holds records, replacing those of the same keys")
	if code, done := parseFlags(e, fs, args); done {
		return code
	}
	if *from == "" || *to == "" {
		fmt.Fprintln(e.Stderr, "promptev-bridge store copy: --from and --to are both required\nUsage: promptev-bridge "+storeCopySynopsis)
		return ExitUsage
	}
	src, ok := openStoreSpec(ctx, e, "store copy", "--from", *from, true)
	if !ok {
		return ExitFailure
	}
	defer src.Close()
	dst, ok := openStoreSpec(ctx, e, "store copy", "--to", *to, false)
	if !ok {
		return ExitFailure
	}
	defer dst.Close()
	n, err := store.Copy(ctx, src, dst, *force)
	if err != nil {
		fmt.Fprintf(e.Stderr, "promptev-bridge store copy: %v\n", err)
		return ExitFailure
	}
	fmt.Fprintf(e.Stdout, "copied %d conversations, %d approvals and %d in-flight runs; the counts match\n",
		n.Conversations, n.Approvals, n.Runs)
	return ExitOK
}

// cmdStoreMigrate brings a store's schema up to this build's.
func cmdStoreMigrate(ctx context.Context, e *Env, args []string) int {
	fs := newFlags(e, "store migrate", storeMigrateSynopsis,
		"Brings the store's schema up to this build's and exits. The bridge does\n"+
			"this itself at start-up (replicas starting together take turns under a\n"+
			"lock); run it by hand to migrate before starting new versions.\n\n"+storeSpecHelp)
	spec := fs.String("store", "", "the store to migrate, as BACKEND:WHERE")
	if code, done := parseFlags(e, fs, args); done {
		return code
	}
	if *spec == "" {
		fmt.Fprintln(e.Stderr, "promptev-bridge store migrate: --store is required\nUsage: promptev-bridge "+storeMigrateSynopsis)
		return ExitUsage
	}
	st, ok := openStoreSpec(ctx, e, "store migrate", "--store", *spec, false)
	if !ok {
		return ExitFailure
	}
	defer st.Close()
	stats, err := st.Stats(ctx)
	if err != nil {
		fmt.Fprintf(e.Stderr, "promptev-bridge store migrate: %v\n", err)
		return ExitFailure
	}
	fmt.Fprintf(e.Stdout, "%s store is up to date: schema %s\n", stats.Backend, schemaText(stats.Schema))
	return ExitOK
}

// schemaText renders schema versions as "kind vN, kind vN" in key order.
func schemaText(schema map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(schema)) {
		parts = append(parts, fmt.Sprintf("%s v%d", k, schema[k]))
	}
	return strings.Join(parts, ", ")
}

// openStoreSpec opens the store named BACKEND:WHERE; problems are printed
// under the command's and the flag's names.
func openStoreSpec(ctx context.Context, e *Env, cmd, flagName, spec string, readOnly bool) (store.Store, bool) {
	c, err := store.ParseSpec(spec)
	if err != nil {
		fmt.Fprintf(e.Stderr, "promptev-bridge %s: %s: %v\n", cmd, flagName, err)
		return nil, false
	}
	if ps := c.Validate("store"); len(ps) > 0 {
		fmt.Fprintf(e.Stderr, "promptev-bridge %s: %s:\n", cmd, flagName)
		printProblems(e.Stderr, ps)
		return nil, false
	}
	st, err := store.Open(ctx, c, store.OpenOptions{ReadOnly: readOnly})
	if err != nil {
		fmt.Fprintf(e.Stderr, "promptev-bridge %s: %s: %v\n", cmd, flagName, err)
		return nil, false
	}
	return st, true
}
