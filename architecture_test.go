package main

import (
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// modulePath is this module's import path.
const modulePath = "github.com/promptev/promptev-bridge"

// TestArchitectureDocMatchesCode checks docs/ARCHITECTURE.md against the
// module: its package table names exactly the module's packages, and its
// import list draws exactly their imports of each other (non-test files).
func TestArchitectureDocMatchesCode(t *testing.T) {
	data, err := os.ReadFile("docs/ARCHITECTURE.md")
	require.NoError(t, err)
	doc := string(data)

	actual := modulePackages(t)
	var names []string
	for p := range actual {
		names = append(names, p)
	}
	sort.Strings(names)

	table := docPackageTable(t, doc)
	assert.ElementsMatch(t, names, table, "the package table of docs/ARCHITECTURE.md must list every package of the module, and only those")

	arrows := docImports(t, doc)
	var drawn []string
	for p := range arrows {
		drawn = append(drawn, p)
	}
	assert.ElementsMatch(t, names, drawn, "the import list of docs/ARCHITECTURE.md must have a line for every package")
	for _, p := range names {
		want, ok := arrows[p]
		if !ok {
			continue
		}
		assert.Equal(t, want, actual[p], "imports of %s: the doc's arrows must be exactly the package's imports of the module's packages", p)
	}
}

// modulePackages returns each package of the module (by its path relative to
// the module, "." for the root) with its sorted imports of the module's own
// packages.
func modulePackages(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...").Output()
	require.NoError(t, err, "go list")
	pkgs := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		var imports []string
		for _, imp := range fields[1:] {
			if rel, ok := relPackage(imp); ok {
				imports = append(imports, rel)
			}
		}
		sort.Strings(imports)
		rel, _ := relPackage(fields[0])
		pkgs[rel] = imports
	}
	return pkgs
}

// relPackage returns an import path relative to the module, and whether it
// is one of the module's packages.
func relPackage(path string) (string, bool) {
	if path == modulePath {
		return ".", true
	}
	rel, ok := strings.CutPrefix(path, modulePath+"/")
	return rel, ok
}

// docPackageTable returns the packages named in the first column of the
// table between the packages markers.
func docPackageTable(t *testing.T, doc string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "<!-- packages: start -->")
	require.True(t, ok, "packages start marker")
	table, _, ok := strings.Cut(rest, "<!-- packages: end -->")
	require.True(t, ok, "packages end marker")
	cell := regexp.MustCompile("^\\| `([^`]+)`(?: \\(root\\))? \\|")
	var pkgs []string
	for _, line := range strings.Split(table, "\n") {
		if m := cell.FindStringSubmatch(line); m != nil {
			pkgs = append(pkgs, m[1])
		}
	}
	sort.Strings(pkgs)
	return pkgs
}

// docImports parses the imports block: one line "pkg → dep, dep" per package.
func docImports(t *testing.T, doc string) map[string][]string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "```imports\n")
	require.True(t, ok, "imports block")
	block, _, ok := strings.Cut(rest, "```")
	require.True(t, ok, "end of the imports block")
	arrows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		from, to, ok := strings.Cut(line, "→")
		require.True(t, ok, "import line without an arrow: %q", line)
		from = strings.TrimSpace(from)
		var deps []string
		for _, d := range strings.Split(to, ",") {
			if d = strings.TrimSpace(d); d != "" {
				deps = append(deps, d)
			}
		}
		sort.Strings(deps)
		_, dup := arrows[from]
		require.False(t, dup, "%s has two lines", from)
		arrows[from] = deps
	}
	return arrows
}
