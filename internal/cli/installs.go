package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/store"
)

// installsSynopsis is the usage line of `installs`.
const installsSynopsis = "installs list (--db FILE | --config FILE) | installs remove (--db FILE | --config FILE) --id ID"

// cmdInstalls lists and removes the app installations (slack.oauth) kept
// in a store. Tokens are never shown: the store holds them sealed.
// PostgreSQL is shared: a running bridge forgets a removed installation at
// its next call refused by Slack or its next restart.
func cmdInstalls(ctx context.Context, e *Env, args []string) int {
	return recordsCmd{
		name: "installs", synopsis: installsSynopsis, del: "remove",
		subcommands: "  list    print every installation: id, workspace or org, bot user, installer, when, health\n" +
			"  remove  forget an installation; its workspace must install the app again to be served",
		about: "Installations come from workspaces (or Enterprise Grid orgs) that installed the\n" +
			"Slack app through slack.oauth's install page. Their bot tokens are sealed in the\n" +
			"store and never printed. A running bridge holds its bbolt file's lock: stop it to\n" +
			"remove there.",
		target: func(fs *flag.FlagSet) func() (string, func(context.Context, store.Store) (string, error)) {
			id := fs.String("id", "", "remove: the installation id, as installs list prints it (slack/ENTERPRISE/TEAM)")
			return func() (string, func(context.Context, store.Store) (string, error)) {
				if *id == "" {
					return "--id ID is required, as installs list prints it", nil
				}
				return "", func(ctx context.Context, st store.Store) (string, error) {
					if err := st.DeleteInstallation(ctx, *id); err != nil {
						return "", notFound(err, fmt.Sprintf("no installation %s (see installs list)", *id))
					}
					return fmt.Sprintf("removed: %s (the app stays in the workspace until it is uninstalled there; it is no longer answered)", *id), nil
				}
			}
		},
		list: func(ctx context.Context, st store.Store, w io.Writer) error {
			list, err := st.ListInstallations(ctx)
			if err != nil {
				return err
			}
			return writeInstalls(w, list)
		},
	}.run(ctx, e, args)
}

// writeInstalls prints installations as a table, never their tokens.
func writeInstalls(w io.Writer, list []chat.Installation) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no installations")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tWORKSPACE\tBOT USER\tINSTALLED BY\tSINCE\tSTATE")
	for _, in := range list {
		where := in.TeamName + " (" + in.TeamID + ")"
		if in.OrgWide {
			where = "org " + in.EnterpriseName + " (" + in.EnterpriseID + "), org-wide"
		} else if in.EnterpriseID != "" {
			where += " in org " + in.EnterpriseID
		}
		state := "ok"
		if in.Broken != "" {
			state = "broken: " + in.Broken + " since " + in.BrokenAt.UTC().Format(time.RFC3339) + " (install again)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", in.ID(), strings.TrimSpace(where), in.BotUserID, in.InstallerID,
			in.Installed.UTC().Format(time.RFC3339), state)
	}
	return tw.Flush()
}
