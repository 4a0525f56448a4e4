package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/store/bolt"
)

// grantsSynopsis is the usage line of `grants`.
const grantsSynopsis = "grants list --db FILE | grants revoke --db FILE --conversation KEY --tool TOOL"

// cmdGrants lists and revokes the conversation grants ("Approve all <tool>
// here") kept in a store file. The bridge holds its file's lock while it
// runs: revoke works on a stopped bridge's file (list also reads a copy).
func cmdGrants(_ context.Context, e *env, args []string) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "revoke") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprintln(e.stdout, "Usage: promptev-bridge "+grantsSynopsis)
			fmt.Fprintln(e.stdout, "\nSubcommands:\n  list    print every grant: conversation, tool, who granted it and when\n"+
				"  revoke  remove the grant of a tool in a conversation; its next request gets a card again")
			return exitOK
		}
		fmt.Fprintln(e.stderr, "Usage: promptev-bridge "+grantsSynopsis)
		return exitUsage
	}
	sub := args[0]
	fs := newFlags(e, "grants "+sub, grantsSynopsis,
		"Conversation grants come from the \"Approve all <tool> here\" button\n"+
			"(approvals.allow_conversation_grants). A grant approves every later request\n"+
			"for its tool in its conversation without a card, until it is revoked.\n"+
			"The bridge holds the store file's lock while it runs: stop it to revoke.")
	db := fs.String("db", "", "store file (the bridge's store.path)")
	conv := fs.String("conversation", "", "revoke: the conversation key, as grants list prints it (platform/workspace/channel/thread)")
	tool := fs.String("tool", "", "revoke: the tool name, as grants list prints it")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the store file's lock")
	if code, done := parseFlags(e, fs, args[1:]); done {
		return code
	}
	if *db == "" {
		fmt.Fprintf(e.stderr, "promptev-bridge grants %s: --db FILE is required (the bridge's store.path)\n", sub)
		return exitUsage
	}
	opts := bolt.Options{Timeout: *timeout, Logger: slog.New(slog.DiscardHandler)}
	if sub == "list" {
		st, err := bolt.OpenReadOnly(*db, opts)
		if err != nil {
			fmt.Fprintf(e.stderr, "promptev-bridge grants list: %v\n", err)
			return exitFailure
		}
		defer st.Close()
		grants, err := st.ListGrants(context.Background())
		if err != nil {
			fmt.Fprintf(e.stderr, "promptev-bridge grants list: %v\n", err)
			return exitFailure
		}
		if err := writeGrants(e.stdout, grants); err != nil {
			fmt.Fprintf(e.stderr, "promptev-bridge grants list: %v\n", err)
			return exitFailure
		}
		return exitOK
	}

	key, err := chat.ParseConversationKey(*conv)
	if err != nil || *tool == "" {
		fmt.Fprintln(e.stderr, "promptev-bridge grants revoke: --conversation KEY and --tool TOOL are required, as grants list prints them")
		return exitUsage
	}
	st, err := bolt.Open(*db, opts)
	if err != nil {
		fmt.Fprintf(e.stderr, "promptev-bridge grants revoke: %v\n", err)
		return exitFailure
	}
	defer st.Close()
	err = st.DeleteGrant(context.Background(), key, *tool)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		fmt.Fprintf(e.stderr, "promptev-bridge grants revoke: no grant of %q in %s (see grants list)\n", *tool, key)
		return exitFailure
	case err != nil:
		fmt.Fprintf(e.stderr, "promptev-bridge grants revoke: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "revoked: %s in %s\n", *tool, key)
	return exitOK
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
