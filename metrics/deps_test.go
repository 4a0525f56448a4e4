package metrics

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// metrics takes the neutral chat.StoreStats and imports no store backend,
// not even through another package, so that any backend can serve
// /debug/store and the store gauges.
func TestImportsNoStore(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	const store = "github.com/promptev/promptev-bridge/store"
	for _, dep := range strings.Fields(string(out)) {
		require.False(t, dep == store || strings.HasPrefix(dep, store+"/"), "metrics depends on %s", dep)
	}
	require.Contains(t, strings.Fields(string(out)), "github.com/promptev/promptev-bridge/chat", "the listing is real")
}
