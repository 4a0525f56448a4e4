package chat

import (
	"io"
	"log/slog"
)

// Section is a platform's section of the configuration file: a pointer to
// the adapter's config struct, which the configuration loader decodes the
// section into. Fields whose values are secret carry the struct tag
// `secret:"true"`: they are never printed.
type Section interface {
	// IsEnabled reports whether the section turns the platform on.
	IsEnabled() bool
	// Validate reports the section's problems by YAML path under path (the
	// platform's name). A disabled section has none.
	Validate(path string) ConfigProblems
}

// Host is what the process offers a platform it builds: the logger and the
// terminal the process runs in.
type Host struct {
	// Logger is the root logger with the platform's component attribute.
	Logger *slog.Logger
	// Stdin and Stdout are the process's terminal.
	Stdin  io.Reader
	Stdout io.Writer
	// TTY reports whether Stdout is a terminal; Width is its width in
	// columns (0 when unknown).
	TTY   bool
	Width int
	// User is the person at the terminal.
	User User
	// ShareTerminal, when set, is called by a platform that draws on the
	// terminal (the console rewrites its live status in place) with a
	// function that wraps another writer of the same terminal (the logs on
	// stderr) so that its lines are never drawn over.
	ShareTerminal func(wrap func(io.Writer) io.Writer)
}

// Registration is what a platform's package exports for the list of
// platforms: its name (the config section's key and ConversationKey.Platform),
// its config section and its constructor. Its rules for mentions and visitor
// ids are the optional abilities MentionGuard and VisitorNamer of the adapter.
type Registration struct {
	// Name is the platform's name.
	Name string
	// NewSection returns a new section holding the defaults (disabled).
	NewSection func() Section
	// New builds the adapter of an enabled, valid section (a value that
	// NewSection returned).
	New func(s Section, h Host) (Adapter, error)
	// Summary, when set, returns the extra lines the check command prints
	// for an enabled section (an invite URL, for example). Never secrets.
	Summary func(s Section) []string
}
