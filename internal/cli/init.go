package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/promptev/promptev-bridge/adapters/discord"
	"github.com/promptev/promptev-bridge/adapters/slack"
)

// initChoices are the answers init needs.
type initChoices struct {
	platforms    []string // "slack", "discord"
	slackMode    string   // slack.ModeSocket or slack.ModeHTTP
	slackURL     string   // HTTP mode: the public https URL Slack calls
	agent        string
	discordAppID string // optional
}

// initPlatforms are the chat platforms init sets up (the console needs no
// setup: it is the demo's and chat's).
var initPlatforms = []string{slack.Name, discord.Name}

// secret is one environment variable the written config references.
type secret struct {
	name, about string
}

func cmdInit(_ context.Context, e *Env, args []string) int {
	fs := newFlags(e, "init", "init [--platforms slack,discord] [--slack-mode socket|http] [--agent ID] [--config FILE]",
		"Writes a config file for your platforms, with ${ENV} references for exactly\n"+
			"the secrets they need, a .env.example listing those variables and, for Slack,\n"+
			"the app manifest; then prints the next steps. It asks for what the flags do\n"+
			"not give. It never overwrites a file.")
	platforms := fs.String("platforms", "", "the platforms to connect: slack, discord or slack,discord")
	slackMode := fs.String("slack-mode", "", "how Slack reaches the bridge: socket (Socket Mode, no public URL) or http (Events API over your public https URL)")
	slackURL := fs.String("slack-url", "", "with --slack-mode http: the public https URL in front of slack.listen")
	agent := fs.String("agent", "", "the Promptev agent id that answers (routes.default.agent)")
	appID := fs.String("discord-app-id", "", "optional: the Discord application id, for the invite URL")
	path := fs.String("config", defaultConfigPath, "the config file to write")
	if code, done := parseFlags(e, fs, args); done {
		return code
	}
	in := bufio.NewReader(e.Stdin)
	ask := func(question string) (string, error) {
		fmt.Fprint(e.Stdout, question)
		line, err := in.ReadString('\n')
		if err != nil && (line == "" || !errors.Is(err, io.EOF)) {
			return "", err
		}
		return strings.TrimSpace(line), nil
	}
	ch, err := initAnswers(ask, initChoices{
		platforms: splitList(*platforms), slackMode: *slackMode, slackURL: *slackURL, agent: *agent, discordAppID: *appID,
	}, *platforms != "")
	if err != nil {
		fmt.Fprintf(e.Stderr, "promptev-bridge init: %v\n", err)
		return ExitUsage
	}

	dir := filepath.Dir(*path)
	files := map[string]string{
		*path:                              initConfig(ch),
		filepath.Join(dir, ".env.example"): initEnvExample(ch),
	}
	manifest := ""
	if slices.Contains(ch.platforms, slack.Name) {
		manifest = filepath.Join(dir, "slack-app-manifest.yaml")
		files[manifest] = slack.Manifest(ch.slackMode, ch.slackURL)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range files {
			if !yield(n) {
				return
			}
		}
	})
	for _, name := range names {
		if _, err := os.Stat(name); err == nil {
			fmt.Fprintf(e.Stderr, "promptev-bridge init: %s exists: init never overwrites a file (move it away, or pass --config in another directory)\n", name)
			return ExitFailure
		}
	}
	for _, name := range names {
		if err := writeNew(name, files[name]); err != nil {
			fmt.Fprintf(e.Stderr, "promptev-bridge init: %v\n", err)
			return ExitFailure
		}
	}
	fmt.Fprintf(e.Stdout, "\nWrote %s.\n", strings.Join(names, ", "))
	printNextSteps(e.Stdout, ch, *path, manifest)
	return ExitOK
}

// initAnswers fills what the flags left out by asking. platformsGiven says
// --platforms was given (then nothing about the platforms is asked that the
// flags settle).
func initAnswers(ask func(string) (string, error), ch initChoices, platformsGiven bool) (initChoices, error) {
	need := func(flag, question string, valid func(string) error) (string, error) {
		for {
			a, err := ask(question)
			if err != nil {
				return "", fmt.Errorf("%s is required (no answer: %w)", flag, err)
			}
			if err := valid(a); err != nil {
				if errors.Is(err, errEmpty) {
					continue
				}
				return "", fmt.Errorf("%s: %w", flag, err)
			}
			return a, nil
		}
	}
	if !platformsGiven {
		a, err := need("--platforms", "Which platforms? (slack, discord or slack,discord) ", func(s string) error {
			if s == "" {
				return errEmpty
			}
			return validPlatforms(splitList(s))
		})
		if err != nil {
			return ch, err
		}
		ch.platforms = splitList(a)
	} else if err := validPlatforms(ch.platforms); err != nil {
		return ch, fmt.Errorf("--platforms: %w", err)
	}
	if slices.Contains(ch.platforms, slack.Name) {
		if ch.slackMode == "" {
			a, err := need("--slack-mode", "Slack: socket (Socket Mode, no public URL needed) or http (Events API)? [socket] ", func(s string) error {
				return validSlackMode(orDefault(s, slack.ModeSocket))
			})
			if err != nil {
				return ch, err
			}
			ch.slackMode = orDefault(a, slack.ModeSocket)
		} else if err := validSlackMode(ch.slackMode); err != nil {
			return ch, fmt.Errorf("--slack-mode: %w", err)
		}
		if ch.slackMode == slack.ModeHTTP && ch.slackURL == "" {
			a, err := need("--slack-url", "Slack HTTP mode: the public https URL of your TLS proxy (e.g. https://bridge.example.com)? ", func(s string) error {
				if s == "" {
					return errEmpty
				}
				if !strings.HasPrefix(s, "https://") {
					return errors.New("must be an https:// URL (Slack calls only https)")
				}
				return nil
			})
			if err != nil {
				return ch, err
			}
			ch.slackURL = a
		}
	} else if ch.slackMode != "" {
		return ch, errors.New("--slack-mode needs slack in --platforms")
	}
	if ch.agent == "" {
		a, err := need("--agent", "The Promptev agent id that answers? ", func(s string) error {
			if s == "" {
				return errEmpty
			}
			return nil
		})
		if err != nil {
			return ch, err
		}
		ch.agent = a
	}
	if strings.ContainsAny(ch.agent, " \t\"'#:{}$") {
		return ch, fmt.Errorf("--agent: %q does not look like an agent id", ch.agent)
	}
	return ch, nil
}

// errEmpty marks an empty answer: the question is asked again.
var errEmpty = errors.New("empty answer")

func validPlatforms(ps []string) error {
	if len(ps) == 0 {
		return fmt.Errorf("name at least one of %s", strings.Join(initPlatforms, ", "))
	}
	for _, p := range ps {
		if !slices.Contains(initPlatforms, p) {
			return fmt.Errorf("unknown platform %q: choose from %s", p, strings.Join(initPlatforms, ", "))
		}
	}
	return nil
}

func validSlackMode(m string) error {
	if m != slack.ModeSocket && m != slack.ModeHTTP {
		return fmt.Errorf("must be socket or http, not %q", m)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == ',' || r == ' ' }) {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// secrets lists the variables the choices need, in the order of the file.
func (ch initChoices) secrets() []secret {
	s := []secret{{"PROMPTEV_PROJECT_KEY", "the Promptev project key"}}
	if slices.Contains(ch.platforms, slack.Name) {
		s = append(s, secret{"SLACK_BOT_TOKEN", "Slack: the Bot User OAuth Token (xoxb-...), from OAuth & Permissions after installing the app"})
		if ch.slackMode == slack.ModeHTTP {
			s = append(s, secret{"SLACK_SIGNING_SECRET", "Slack HTTP mode: the Signing Secret, from Basic Information"})
		} else {
			s = append(s, secret{"SLACK_APP_TOKEN", "Slack Socket Mode: an app-level token (xapp-...), from Basic Information, App-Level Tokens, scope connections:write"})
		}
	}
	if slices.Contains(ch.platforms, discord.Name) {
		s = append(s, secret{"DISCORD_BOT_TOKEN", "Discord: the bot token, from the Developer Portal, your application, Bot, Reset Token"})
	}
	return s
}

// initConfig renders the config file of the choices: only the sections and
// keys they need; every other option keeps its default.
func initConfig(ch initChoices) string {
	var b strings.Builder
	b.WriteString(`# promptev-bridge configuration, written by promptev-bridge init.
# Secrets come from the environment (see .env.example); every option not
# written here has its default: promptev-bridge check --print shows them all,
# and config.example.yaml in the repository documents each one.

promptev:
  project_key: ${PROMPTEV_PROJECT_KEY}

routes:
  default:
`)
	fmt.Fprintf(&b, "    agent: %q\n", ch.agent)
	b.WriteString(`
store:
  path: ./promptev-bridge.db   # sessions, approvals, runs in flight; keep it across restarts
`)
	if slices.Contains(ch.platforms, slack.Name) {
		fmt.Fprintf(&b, "\nslack:\n  enabled: true\n  mode: %s\n  bot_token: ${SLACK_BOT_TOKEN}\n", ch.slackMode)
		if ch.slackMode == slack.ModeHTTP {
			d := slack.DefaultConfig()
			fmt.Fprintf(&b, "  signing_secret: ${SLACK_SIGNING_SECRET}\n  listen: %s   # your TLS proxy (%s) forwards here\n", d.Listen, ch.slackURL)
		} else {
			b.WriteString("  app_token: ${SLACK_APP_TOKEN}\n")
		}
	}
	if slices.Contains(ch.platforms, discord.Name) {
		b.WriteString("\ndiscord:\n  enabled: true\n  token: ${DISCORD_BOT_TOKEN}\n")
		if ch.discordAppID != "" {
			fmt.Fprintf(&b, "  application_id: %q\n", ch.discordAppID)
		}
	}
	b.WriteString(`
http:
  listen: 127.0.0.1:9464   # /healthz /readyz /metrics; empty turns it off

log:
  level: info
`)
	return b.String()
}

// initEnvExample renders the .env.example of the choices.
func initEnvExample(ch initChoices) string {
	var b strings.Builder
	b.WriteString("# The environment variables the config references. Copy to .env, fill in,\n" +
		"# and load it before check and run: set -a; . ./.env; set +a\n" +
		"# Never commit the filled-in file.\n")
	for _, s := range ch.secrets() {
		fmt.Fprintf(&b, "\n# %s\n%s=\n", s.about, s.name)
	}
	return b.String()
}

// writeNew creates name with content; it fails if name exists.
func writeNew(name, content string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, content); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// printNextSteps prints the three steps after init.
func printNextSteps(w io.Writer, ch initChoices, path, manifest string) {
	fmt.Fprintln(w, "\nNext steps:")
	fmt.Fprintln(w, "\n1. Create the bot:")
	if manifest != "" {
		fmt.Fprintf(w, "   Slack: at https://api.slack.com/apps choose Create New App, From a manifest, and paste\n"+
			"   %s. Install the app to your workspace; the Bot User OAuth Token is on OAuth & Permissions.\n", manifest)
		if ch.slackMode == slack.ModeHTTP {
			fmt.Fprintf(w, "   Point your TLS proxy at %s (slack.listen) and let Slack verify the request URL.\n", slack.DefaultConfig().Listen)
		} else {
			fmt.Fprintln(w, "   On Basic Information, App-Level Tokens, generate one with the connections:write scope.")
		}
	}
	if slices.Contains(ch.platforms, discord.Name) {
		fmt.Fprintln(w, "   Discord: at https://discord.com/developers/applications create an application; on Bot,")
		fmt.Fprintln(w, "   Reset Token and turn on Message Content Intent. Invite the bot to your server with:")
		if ch.discordAppID != "" {
			fmt.Fprintf(w, "   %s\n", discord.InviteURL(ch.discordAppID))
		} else {
			fmt.Fprintln(w, "   the invite URL that check --online prints (or set discord.application_id).")
		}
	}
	fmt.Fprintln(w, "\n2. Export the variables (also listed in .env.example):")
	for _, s := range ch.secrets() {
		fmt.Fprintf(w, "   export %s=...\n", s.name)
	}
	cfgFlag := ""
	if path != defaultConfigPath {
		cfgFlag = " --config " + path
	}
	fmt.Fprintln(w, "\n3. Check, then run:")
	fmt.Fprintf(w, "   promptev-bridge check%s --online --agent %s\n", cfgFlag, ch.agent)
	fmt.Fprintf(w, "   promptev-bridge run%s\n", cfgFlag)
}
