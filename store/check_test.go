package store_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/store"
	"github.com/promptev/promptev-bridge/store/bolt"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "plain")
	require.NoError(t, os.WriteFile(notDir, []byte("x"), 0o600))
	garbage := filepath.Join(dir, "garbage.db")
	require.NoError(t, os.WriteFile(garbage, make([]byte, 8192), 0o600))
	existing := filepath.Join(dir, "existing.db")
	s, err := bolt.Open(existing, bolt.Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	tests := []struct {
		name, path string
		note, err  string
	}{
		{"missing directory", filepath.Join(dir, "nope", "x.db"), "", "does not exist: create it"},
		{"parent is a file", filepath.Join(notDir, "x.db"), "", "is not a directory"},
		{"new file", filepath.Join(dir, "new.db"), "does not exist yet", ""},
		{"existing store", existing, "", ""},
		{"not a store", garbage, "", "not a bbolt database"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := store.DefaultConfig()
			c.Path = tc.path
			note, err := store.Check(t.Context(), c)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				assert.Contains(t, err.Error(), "store.path")
				return
			}
			require.NoError(t, err)
			assert.Contains(t, note, tc.note)
		})
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 3, "Check leaves nothing behind")

	t.Run("in use by a running bridge", func(t *testing.T) {
		live, err := bolt.Open(existing, bolt.Options{})
		require.NoError(t, err)
		defer live.Close()
		c := store.DefaultConfig()
		c.Path = existing
		note, err := store.Check(t.Context(), c)
		require.NoError(t, err)
		assert.Contains(t, note, "in use by a running promptev-bridge")
	})
}
