package chat

import (
	"fmt"
	"strings"
)

// ConfigProblem is one problem found in a configuration, named by its YAML path
// (for example "slack.bot_token" or "routes.channels[2].agent").
type ConfigProblem struct {
	Path    string
	Message string
}

func (p ConfigProblem) Error() string { return p.Path + ": " + p.Message }

// ConfigProblems collects problems; a nil or empty list means the config is valid.
type ConfigProblems []ConfigProblem

// Add records a problem at path.
func (ps *ConfigProblems) Add(path, format string, args ...any) {
	*ps = append(*ps, ConfigProblem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Err returns the problems as one error, or nil when there are none.
func (ps ConfigProblems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

func (ps ConfigProblems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// JoinPath joins YAML path elements: JoinPath("slack", "bot_token") is "slack.bot_token".
func JoinPath(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}
