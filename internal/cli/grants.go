package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/store"
)

// grantsSynopsis is the usage line of `grants`.
const grantsSynopsis = "grants list (--db FILE | --config FILE) | grants revoke (--db FILE | --config FILE) --conversation KEY --tool TOOL"

// cmdGrants lists and revokes the conversation grants ("Approve all <tool>
// here") kept in a store. PostgreSQL is shared, so a revoke there takes
// effect at the bridge's next approval request.
func cmdGrants(ctx context.Context, e *Env, args []string) int {
	return recordsCmd{
		name: "grants", synopsis: grantsSynopsis, del: "revoke",
		subcommands: "  list    print every grant: conversation, tool, who granted it and when\n" +
			"  revoke  remove the grant of a tool in a conversation; its next request gets a card again",
		about: "Conversation grants come from the \"Approve all <tool> here\" button\n" +
			"(approvals.allow_conversation_grants). A grant approves every later request\n" +
			"for its tool in its conversation without a card, until it is revoked.\n" +
			"A running bridge holds its bbolt file's lock: stop it to revoke there.",
		target: func(fs *flag.FlagSet) func() (string, func(context.Context, store.Store) (string, error)) {
			conv := fs.String("conversation", "", "revoke: the conversation key, as grants list prints it (platform/workspace/channel/thread)")
			tool := fs.String("tool", "", "revoke: the tool name, as grants list prints it")
			return func() (string, func(context.Context, store.Store) (string, error)) {
				key, err := chat.ParseConversationKey(*conv)
				if err != nil || *tool == "" {
					return "--conversation KEY and --tool TOOL are required, as grants list prints them", nil
				}
				return "", func(ctx context.Context, st store.Store) (string, error) {
					if err := st.DeleteGrant(ctx, key, *tool); err != nil {
						return "", notFound(err, fmt.Sprintf("no grant of %q in %s (see grants list)", *tool, key))
					}
					return fmt.Sprintf("revoked: %s in %s", *tool, key), nil
				}
			}
		},
		list: func(ctx context.Context, st store.Store, w io.Writer) error {
			grants, err := st.ListGrants(ctx)
			if err != nil {
				return err
			}
			return writeGrants(w, grants)
		},
	}.run(ctx, e, args)
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
