package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/internal/config"
	"github.com/promptev/promptev-bridge/store"
)

// grantsSynopsis is the usage line of `grants`.
const grantsSynopsis = "grants list (--db FILE | --config FILE) | grants revoke (--db FILE | --config FILE) --conversation KEY --tool TOOL"

// cmdGrants lists and revokes the conversation grants ("Approve all <tool>
// here") kept in a store: a bbolt file (--db) or the store of a config
// (--config, either backend). A running bridge holds its bbolt file's lock:
// revoke works on a stopped bridge's file; PostgreSQL is shared, so a
// revoke there takes effect at the bridge's next approval request.
func cmdGrants(ctx context.Context, e *Env, args []string) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "revoke") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprintln(e.Stdout, "Usage: promptev-bridge "+grantsSynopsis)
			fmt.Fprintln(e.Stdout, "\nSubcommands:\n  list    print every grant: conversation, tool, who granted it and when\n"+
				"  revoke  remove the grant of a tool in a conversation; its next request gets a card again")
			return ExitOK
		}
		fmt.Fprintln(e.Stderr, "Usage: promptev-bridge "+grantsSynopsis)
		return ExitUsage
	}
	sub := args[0]
	fs := newFlags(e, "grants "+sub, grantsSynopsis,
		"Conversation grants come from the \"Approve all <tool> here\" button\n"+
			"(approvals.allow_conversation_grants). A grant approves every later request\n"+
			"for its tool in its conversation without a card, until it is revoked.\n"+
			"A running bridge holds its bbolt file's lock: stop it to revoke there.")
	db := fs.String("db", "", "bbolt store file (the bridge's store.path)")
	configPath := fs.String("config", "", "config file whose store section names the store (bbolt or postgres)")
	conv := fs.String("conversation", "", "revoke: the conversation key, as grants list prints it (platform/workspace/channel/thread)")
	tool := fs.String("tool", "", "revoke: the tool name, as grants list prints it")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the store file's lock")
	if code, done := parseFlags(e, fs, args[1:]); done {
		return code
	}
	if (*db == "") == (*configPath == "") {
		fmt.Fprintf(e.Stderr, "promptev-bridge grants %s: give --db FILE (a bbolt store file) or --config FILE (its store section), not both\n", sub)
		return ExitUsage
	}
	c := store.DefaultConfig()
	if *configPath != "" {
		var ok bool
		if c, ok = storeFromConfig(e, "grants "+sub, *configPath); !ok {
			return ExitFailure
		}
	} else {
		c.Path = *db
	}
	c.LockTimeout = *timeout
	if sub == "list" {
		st, err := store.Open(ctx, c, store.OpenOptions{ReadOnly: true})
		if err != nil {
			fmt.Fprintf(e.Stderr, "promptev-bridge grants list: %v\n", err)
			return ExitFailure
		}
		defer st.Close()
		grants, err := st.ListGrants(ctx)
		if err != nil {
			fmt.Fprintf(e.Stderr, "promptev-bridge grants list: %v\n", err)
			return ExitFailure
		}
		if err := writeGrants(e.Stdout, grants); err != nil {
			fmt.Fprintf(e.Stderr, "promptev-bridge grants list: %v\n", err)
			return ExitFailure
		}
		return ExitOK
	}

	key, err := chat.ParseConversationKey(*conv)
	if err != nil || *tool == "" {
		fmt.Fprintln(e.Stderr, "promptev-bridge grants revoke: --conversation KEY and --tool TOOL are required, as grants list prints them")
		return ExitUsage
	}
	st, err := store.Open(ctx, c, store.OpenOptions{})
	if err != nil {
		fmt.Fprintf(e.Stderr, "promptev-bridge grants revoke: %v\n", err)
		return ExitFailure
	}
	defer st.Close()
	err = st.DeleteGrant(ctx, key, *tool)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		fmt.Fprintf(e.Stderr, "promptev-bridge grants revoke: no grant of %q in %s (see grants list)\n", *tool, key)
		return ExitFailure
	case err != nil:
		fmt.Fprintf(e.Stderr, "promptev-bridge grants revoke: %v\n", err)
		return ExitFailure
	}
	fmt.Fprintf(e.Stdout, "revoked: %s in %s\n", *tool, key)
	return ExitOK
}

// writeGrants prints grants as a table.
func writeGrants(w io.Writer, grants []chat.Grant) error {
	if len(grants) == 0 {
		_, err := fmt.Fprintln(w, "no grants")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONVERSATION\tTOOL\tGRANTED BY\tSINCE")
	for _, g := range grants {
		by := g.By
		if g.ByName != "" {
			by = g.ByName + " (" + g.By + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.Key, g.Tool, by, g.Created.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
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
