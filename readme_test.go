package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/promptev/promptev-bridge/internal/config"
)

// setupSections are the README's sections a newcomer follows, from the demo
// to a running bridge, and then to several.
var setupSections = []string{
	"## Try it, test it",
	"## The first hour",
	"## Commands",
	"## Slack setup",
	"## Discord setup",
	"## Configuration",
	"## Running several replicas",
}

// initWrites are the files init writes: the setup may name them although a
// fresh clone does not have them (TestReadmeSetupWalk checks that init
// writes them). .env is the filled-in copy of .env.example.
var initWrites = []string{"config.yaml", ".env.example", "slack-app-manifest.yaml", ".env"}

// readmeSetup returns the text of the setup sections.
func readmeSetup(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	var out strings.Builder
	for _, sec := range strings.SplitAfter(string(b), "\n## ") {
		sec = "## " + strings.TrimPrefix(sec, "## ")
		for _, want := range setupSections {
			if strings.HasPrefix(sec, want) {
				out.WriteString(strings.TrimSuffix(sec, "## "))
			}
		}
	}
	require.NotEmpty(t, out.String())
	return out.String()
}

var (
	fence      = regexp.MustCompile("(?ms)^```(\\w*)\\n(.*?)^```")
	codeSpan   = regexp.MustCompile("`([^`\\n]+)`")
	invocation = regexp.MustCompile(`(?:^|[\s(])(?:\./)?(?:promptev-bridge|go run \.)((?:\s+[^\s|#]+)*)`)
	keyPath    = regexp.MustCompile(`(?:^|[^a-z0-9_./-])((?:promptev|routes|approvals|render|runs|store|slack|discord|console|http|log)(?:\.[a-z_]+(?:\[\d+\])?)+)`)
	repoPath   = regexp.MustCompile(`\]\(([^)#:]+)(?:#[^)]*)?\)`)
	linkText   = regexp.MustCompile("\\[`[^`\n]+`\\]\\(")
)

// commandsIn returns each promptev-bridge invocation in the README text:
// its words after the program name, comments and placeholders' brackets
// dropped.
func commandsIn(text string) [][]string {
	var lines []string
	for _, m := range fence.FindAllStringSubmatch(text, -1) {
		if m[1] == "sh" {
			lines = append(lines, strings.Split(m[2], "\n")...)
		}
	}
	for _, m := range codeSpan.FindAllStringSubmatch(text, -1) {
		lines = append(lines, m[1])
	}
	var out [][]string
	for _, line := range lines {
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		for _, m := range invocation.FindAllStringSubmatch(line, -1) {
			var words []string
			for _, w := range strings.Fields(m[1]) {
				w = strings.Trim(w, "[]\\`")
				if w != "" {
					words = append(words, w)
				}
			}
			if len(words) > 0 && (words[0] == "install" || strings.HasPrefix(words[0], "github.com") || words[0] == ".") {
				continue // go install github.com/... or go build -o promptev-bridge .: not an invocation
			}
			out = append(out, words)
		}
	}
	return out
}

// Every command the setup shows exists, with every flag it uses; every
// config key it names is in the schema; every repository file it points
// at is in the repository (or written by init).
func TestReadmeSetupNamesOnlyWhatExists(t *testing.T) {
	text := readmeSetup(t)

	cmds := commandsIn(text)
	require.NotEmpty(t, cmds)
	seen := map[string]bool{}
	for _, words := range cmds {
		// The command (and store's subcommand), then its flags.
		cmd := []string{}
		if len(words) > 0 && !strings.HasPrefix(words[0], "-") {
			cmd = append(cmd, words[0])
			if words[0] == "store" && len(words) > 1 && !strings.HasPrefix(words[1], "-") {
				cmd = append(cmd, words[1])
			}
		}
		key := strings.Join(words, " ")
		if seen[key] {
			continue
		}
		seen[key] = true
		help := append(slices.Clone(cmd), "--help")
		code, stdout, stderr := runProgram(t, "", help...)
		if !assert.Equal(t, exitOK, code, "README shows %q: %v fails: %s", key, help, stderr) {
			continue
		}
		for _, w := range words[len(cmd):] {
			if !strings.HasPrefix(w, "-") {
				continue
			}
			flag, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
			if len(cmd) == 0 {
				assert.Contains(t, []string{"version", "help", "h"}, flag, "README shows %q", key)
				continue
			}
			defined := regexp.MustCompile(`(?m)^  -` + regexp.QuoteMeta(flag) + `(\s|$)`)
			assert.Regexp(t, defined, stdout, "README shows %q: %s has no flag --%s", key, strings.Join(cmd, " "), flag)
		}
	}

	var keys []string
	for _, m := range codeSpan.FindAllStringSubmatch(text, -1) {
		for _, k := range keyPath.FindAllStringSubmatch(m[1], -1) {
			keys = append(keys, k[1])
		}
	}
	for _, m := range fence.FindAllStringSubmatch(text, -1) {
		if m[1] != "yaml" {
			continue
		}
		var doc yaml.Node
		require.NoError(t, yaml.Unmarshal([]byte(m[2]), &doc), "a YAML block of the README:\n%s", m[2])
		if isManifest(doc.Content[0]) {
			continue // a Kubernetes manifest (deploy_test.go checks it), not a config
		}
		keys = append(keys, yamlPaths(doc.Content[0], "")...)
	}
	require.NotEmpty(t, keys)
	for _, k := range keys {
		if _, removed := config.Replacement(k); removed {
			assert.Contains(t, text, "`"+k+"` is gone", "the README names the removed key %s only to say it is gone", k)
			continue
		}
		assert.True(t, config.KnownKey(k), "the README names the config key %s, which the schema does not have", k)
	}

	tracked := trackedFiles(t)
	var paths []string
	for _, m := range repoPath.FindAllStringSubmatch(text, -1) {
		paths = append(paths, m[1])
	}
	// A code span that is a link's text is checked by its link target.
	for _, m := range codeSpan.FindAllStringSubmatch(linkText.ReplaceAllString(text, "]("), -1) {
		if p := m[1]; !strings.ContainsAny(p, " *${}") && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".md") ||
			strings.HasSuffix(p, ".go") || strings.HasPrefix(p, ".env")) {
			paths = append(paths, p)
		}
	}
	require.NotEmpty(t, paths)
	for _, p := range paths {
		if slices.Contains(initWrites, p) {
			continue
		}
		assert.True(t, tracked(p), "the README points at %s, which a fresh clone does not have", p)
	}
}

// isManifest reports whether a YAML mapping is a Kubernetes object.
func isManifest(n *yaml.Node) bool {
	return n.Kind == yaml.MappingNode && len(n.Content) > 0 && n.Content[0].Value == "apiVersion"
}

// yamlPaths lists the key paths of a YAML mapping.
func yamlPaths(n *yaml.Node, prefix string) []string {
	var out []string
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		p := n.Content[i].Value
		if prefix != "" {
			p = prefix + "." + p
		}
		out = append(out, p)
		out = append(out, yamlPaths(n.Content[i+1], p)...)
	}
	return out
}

// trackedFiles reports whether a path is in the repository: git's index
// when git is there, else the file system.
func trackedFiles(t *testing.T) func(string) bool {
	out, err := exec.Command("git", "ls-files").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Log("git ls-files unavailable: checking the file system")
		return func(p string) bool { _, err := os.Stat(p); return err == nil }
	}
	files := strings.Split(strings.TrimSpace(string(out)), "\n")
	return func(p string) bool {
		p = filepath.Clean(p)
		for _, f := range files {
			if f == p || strings.HasPrefix(f, p+"/") {
				return true
			}
		}
		return false
	}
}

// TestReadmeSetupWalk follows the first hour in an empty directory, as a
// newcomer would, with every step that needs no network: the demo, init
// (the README's flag form), then check with the variables .env.example
// lists. The steps that reach Slack, Discord or Promptev are checked by
// TestReadmeSetupNamesOnlyWhatExists (they exist) and by the online tests
// against the fakes.
func TestReadmeSetupWalk(t *testing.T) {
	var initArgs []string
	var demo bool
	for _, words := range commandsIn(readmeSetup(t)) {
		switch {
		case len(words) > 1 && words[0] == "init":
			initArgs = words
		case len(words) == 1 && words[0] == "demo":
			demo = true
		}
	}
	require.True(t, demo, "the first hour starts with the demo")
	require.NotEmpty(t, initArgs, "the first hour shows init with flags")

	t.Chdir(t.TempDir())
	code, stdout, stderr := runProgram(t, "", "demo") // nobody types: the demo ends at once
	require.Equal(t, exitOK, code, stdout+stderr)

	code, stdout, stderr = runProgram(t, "", initArgs...)
	require.Equal(t, exitOK, code, stdout+stderr)
	for _, f := range initWrites[:3] {
		_, err := os.Stat(f)
		assert.NoError(t, err, "init writes %s", f)
	}
	assert.Contains(t, stdout, "promptev-bridge check")

	env, err := os.ReadFile(".env.example")
	require.NoError(t, err)
	for _, m := range envLine.FindAllStringSubmatch(string(env), -1) {
		v := map[string]string{"SLACK_BOT_TOKEN": "xoxb-walk", "SLACK_APP_TOKEN": "xapp-walk"}[m[1]] + "walk-value"
		t.Setenv(m[1], v)
	}
	cfg, err := os.ReadFile("config.yaml")
	require.NoError(t, err)
	// Another bridge on this machine may hold the default side port.
	require.NoError(t, os.WriteFile("config.yaml", bytes.Replace(cfg, []byte("127.0.0.1:9464"), []byte("127.0.0.1:0"), 1), 0o600))
	code, stdout, stderr = runProgram(t, "", "check")
	assert.Equal(t, exitOK, code, stdout+stderr)
	assert.Contains(t, stdout, "All checks passed.")
}
