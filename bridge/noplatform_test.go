package bridge

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEngineNamesNoPlatform keeps the engine apart from the platforms and
// stores: no package under bridge/ depends on an adapter or a store, and no
// non-test source file under bridge/ names a platform. A platform's rules
// belong to its adapter (chat.MentionGuard, chat.VisitorNamer).
func TestEngineNamesNoPlatform(t *testing.T) {
	const module = "github.com/promptev/promptev-bridge/"
	out, err := exec.Command("go", "list", "-deps", "./...").CombinedOutput()
	require.NoError(t, err, "%s", out)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, module+"chat", "go list -deps must list the engine's imports")
	for _, d := range deps {
		assert.False(t, strings.HasPrefix(d, module+"adapters/"), "bridge/... depends on %s", d)
		assert.False(t, d == module+"store" || strings.HasPrefix(d, module+"store/"), "bridge/... depends on %s", d)
	}

	scanned := 0
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		scanned++
		lower := strings.ToLower(string(src))
		for _, name := range []string{"slack", "discord", "console"} {
			assert.NotContains(t, lower, name, "%s names a platform", path)
		}
		return nil
	})
	require.NoError(t, err)
	assert.Greater(t, scanned, 10, "the scan must see the engine's files")
}
