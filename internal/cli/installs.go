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
	"github.com/promptev/promptev-bridge/store"
)

// installsSynopsis is the usage line of `installs`.
const installsSynopsis = "installs list (--db FILE | --config FILE) | installs remove (--db FILE | --config FILE) --id ID"

// cmdInstalls lists and removes the app installations (slack.oauth) kept in
// a store: a bbolt file (--db) or the store of a config (--config, either
// backend). Tokens are never shown: the store holds them sealed. A running
// bridge holds its bbolt file's lock: remove works on a stopped bridge's
// file; PostgreSQL is shared, and a running bridge forgets a removed
// installation at its next call refused by Slack or its next restart.
func cmdInstalls(ctx context.Context, e *Env, args []string) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "remove") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprintln(e.Stdout, "Usage: promptev-bridge "+installsSynopsis)
			fmt.Fprintln(e.Stdout, "\nSubcommands:\n  list    print every installation: id, workspace or org, bot user, installer, when, health\n"+
				"  remove  forget an installation; its workspace must install the app again to be served")
			return ExitOK
		}
		fmt.Fprintln(e.Stderr, "Usage: promptev-bridge "+installsSynopsis)
		return ExitUsage
	}
	sub := args[0]
	fs := newFlags(e, "installs "+sub, installsSynopsis,
		"Installations come from workspaces (or Enterprise Grid orgs) that installed the\n"+
			"Slack app through slack.oauth's install page. Their bot tokens are sealed in the\n"+
			"store and never printed. A running bridge holds its bbolt file's lock: stop it to\n"+
			"remove there.")
	db := fs.String("db", "", "bbolt store file (the bridge's store.path)")
	configPath := fs.String("config", "", "config file whose store section names the store (bbolt or postgres)")
	id := fs.String("id", "", "remove: the installation id, as installs list prints it (slack/ENTERPRISE/TEAM)")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the store file's lock")
	if code, done := parseFlags(e, fs, args[1:]); done {
		return code
	}
	if (*db == "") == (*configPath == "") {
		fmt.Fprintf(e.Stderr, "promptev-bridge installs %s: give --db FILE (a bbolt store file) or --config FILE (its store section), not both\n", sub)
		return ExitUsage
	}
	c := store.DefaultConfig()
	if *configPath != "" {
		var ok bool
		if c, ok = storeFromConfig(e, "installs "+sub, *configPath); !ok {
			return ExitFailure
		}
	} else {
		c.Path = *db
	}
	c.LockTimeout = *timeout
	if sub == "list" {
		st, err := store.Open(ctx, c, store.OpenOptions{ReadOnly: true})
		if err != nil {
			fmt.Fprintf(e.Stderr, "promptev-bridge installs list: %v\n", err)
			return ExitFailure
		}
		defer st.Close()
		list, err := st.ListInstallations(ctx)
		if err == nil {
			err = writeInstalls(e.Stdout, list)
		}
		if err != nil {
			fmt.Fprintf(e.Stderr, "promptev-bridge installs list: %v\n", err)
			return ExitFailure
		}
		return ExitOK
	}

	if *id == "" {
		fmt.Fprintln(e.Stderr, "promptev-bridge installs remove: --id ID is required, as installs list prints it")
		return ExitUsage
	}
	st, err := store.Open(ctx, c, store.OpenOptions{})
	if err != nil {
		fmt.Fprintf(e.Stderr, "promptev-bridge installs remove: %v\n", err)
		return ExitFailure
	}
	defer st.Close()
	err = st.DeleteInstallation(ctx, *id)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		fmt.Fprintf(e.Stderr, "promptev-bridge installs remove: no installation %s (see installs list)\n", *id)
		return ExitFailure
	case err != nil:
		fmt.Fprintf(e.Stderr, "promptev-bridge installs remove: %v\n", err)
		return ExitFailure
	}
	fmt.Fprintf(e.Stdout, "removed: %s (the app stays in the workspace until it is uninstalled there; it is no longer answered)\n", *id)
	return ExitOK
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
