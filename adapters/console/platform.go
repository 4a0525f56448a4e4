package console

import "github.com/promptev/promptev-bridge/chat"

// Name is the platform's name: the config section's key and the Platform of
// the console's conversation key.
const Name = "console"

// Config is the console section: a conversation on the terminal the daemon
// runs in (stdin and stdout), beside the chat platforms. It is for local
// testing of a full configuration; see also the chat command.
type Config struct {
	// Enabled serves the console conversation in run.
	Enabled bool `yaml:"enabled"`
}

// IsEnabled implements chat.Section.
func (c Config) IsEnabled() bool { return c.Enabled }

// Validate implements chat.Section: the section has nothing to check.
func (c Config) Validate(string) chat.ConfigProblems { return nil }

// Registration is the console's entry in the list of platforms. A terminal
// cannot ping anyone, so the console has no mention rule, and its visitor
// ids are the default ones.
var Registration = chat.Registration{
	Name:       Name,
	NewSection: func() chat.Section { return &Config{} },
	New: func(_ chat.Section, h chat.Host) (chat.Adapter, error) {
		a := New(Options{In: h.Stdin, Out: h.Stdout, TTY: h.TTY, Width: h.Width, User: h.User, Logger: h.Logger})
		if h.TTY && h.ShareTerminal != nil {
			h.ShareTerminal(a.Interleave)
		}
		return a, nil
	},
}

var _ chat.Section = (*Config)(nil)
