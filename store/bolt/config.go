package bolt

import (
	"log/slog"
	"strings"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// Config is the `store:` section of the bridge's configuration.
type Config struct {
	// Path is the bbolt file.
	Path string `yaml:"path"`
	// LockTimeout is how long start-up waits for another process to release
	// the file before failing.
	LockTimeout time.Duration `yaml:"lock_timeout"`
}

// DefaultConfig returns the defaults: ./promptev-bridge.db, a 2 s lock timeout.
func DefaultConfig() Config {
	return Config{Path: "./promptev-bridge.db", LockTimeout: DefaultLockTimeout}
}

// Validate reports the section's problems; path is its YAML prefix ("store").
func (c Config) Validate(path string) chat.ConfigProblems {
	var ps chat.ConfigProblems
	switch {
	case strings.TrimSpace(c.Path) == "":
		ps.Add(chat.JoinPath(path, "path"), "must name the store file")
	case strings.HasSuffix(c.Path, "/"):
		ps.Add(chat.JoinPath(path, "path"), "must name a file, not a directory: %q", c.Path)
	}
	if c.LockTimeout <= 0 {
		ps.Add(chat.JoinPath(path, "lock_timeout"),
			"must be positive (for example 2s), got %s", c.LockTimeout)
	}
	return ps
}

// Options returns the Options to Open the configured store with.
func (c Config) Options(log *slog.Logger) Options {
	return Options{Timeout: c.LockTimeout, Logger: log}
}
