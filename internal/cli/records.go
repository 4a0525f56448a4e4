package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/internal/config"
	"github.com/promptev/promptev-bridge/store"
)

// recordsCmd is a command over one kind of record kept in a store (a bbolt
// file given with --db, or the store of a config given with --config):
// `list` prints them, and a second subcommand deletes one. A running bridge
// holds its bbolt file's lock, so deleting works on a stopped bridge's file;
// PostgreSQL is shared.
type recordsCmd struct {
	// name and synopsis are the command's name and usage line; del is the
	// deleting subcommand's name; subcommands describes both for --help and
	// about is the text under the usage line.
	name, synopsis, del, subcommands, about string
	// target declares the flags that name the record to delete and
	// returns the deletion: it checks the flags (usage, when they do not
	// name a record) and deletes, returning what it did for stdout.
	target func(fs *flag.FlagSet) func() (usage string, del func(ctx context.Context, st store.Store) (string, error))
	// list prints every record of st.
	list func(ctx context.Context, st store.Store, w io.Writer) error
}

// run runs the command with its arguments (the subcommand first).
func (rc recordsCmd) run(ctx context.Context, e *Env, args []string) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != rc.del) {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprintln(e.Stdout, "Usage: promptev-bridge "+rc.synopsis)
			fmt.Fprintln(e.Stdout, "\nSubcommands:\n"+rc.subcommands)
			return ExitOK
		}
		fmt.Fprintln(e.Stderr, "Usage: promptev-bridge "+rc.synopsis)
		return ExitUsage
	}
	sub := args[0]
	cmd := rc.name + " " + sub
	fs := newFlags(e, cmd, rc.synopsis, rc.about)
	db := fs.String("db", "", "bbolt store file (the bridge's store.path)")
	configPath := fs.String("config", "", "config file whose store section names the store (bbolt or postgres)")
	target := rc.target(fs)
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the store file's lock")
	if code, done := parseFlags(e, fs, args[1:]); done {
		return code
	}
	if (*db == "") == (*configPath == "") {
		fmt.Fprintf(e.Stderr, "promptev-bridge %s: give --db FILE (a bbolt store file) or --config FILE (its store section), not both\n", cmd)
		return ExitUsage
	}
	c := store.DefaultConfig()
	if *configPath != "" {
		var ok bool
		if c, ok = storeFromConfig(e, cmd, *configPath); !ok {
			return ExitFailure
		}
	} else {
		c.Path = *db
	}
	c.LockTimeout = *timeout
	fail := func(err error) int {
		fmt.Fprintf(e.Stderr, "promptev-bridge %s: %v\n", cmd, err)
		return ExitFailure
	}
	if sub == "list" {
		st, err := store.Open(ctx, c, store.OpenOptions{ReadOnly: true})
		if err != nil {
			return fail(err)
		}
		defer st.Close()
		if err := rc.list(ctx, st, e.Stdout); err != nil {
			return fail(err)
		}
		return ExitOK
	}
	usage, del := target()
	if usage != "" {
		fmt.Fprintf(e.Stderr, "promptev-bridge %s: %s\n", cmd, usage)
		return ExitUsage
	}
	st, err := store.Open(ctx, c, store.OpenOptions{})
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	done, err := del(ctx, st)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintln(e.Stdout, done)
	return ExitOK
}

// notFound rewords a store's ErrNotFound for the command line.
func notFound(err error, what string) error {
	if errors.Is(err, chat.ErrNotFound) {
		return errors.New(what)
	}
	return err
}

// storeFromConfig reads the store section of the config at path. Only that
// section must be valid: problems elsewhere (a secret not set in this shell)
// do not matter here.
func storeFromConfig(e *Env, cmd, path string) (store.Config, bool) {
	cfg, ps := config.Load(path, e.Lookup)
	var relevant chat.ConfigProblems
	for _, p := range ps {
		if p.Path == "" || p.Path == "store" || strings.HasPrefix(p.Path, "store.") {
			relevant = append(relevant, p)
		}
	}
	if len(relevant) > 0 {
		fmt.Fprintf(e.Stderr, "promptev-bridge %s: %s: %d problem(s):\n", cmd, path, len(relevant))
		printProblems(e.Stderr, relevant)
		return store.Config{}, false
	}
	return cfg.Store, true
}
