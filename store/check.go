package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/promptev/promptev-bridge/store/bolt"
)

// checkLockTimeout is how long Check waits for the lock of a store file.
const checkLockTimeout = 200 * time.Millisecond

// Check runs the start-up steps of the configured store that touch nothing
// outside this machine, without changing anything: for bbolt, the file's
// directory must exist and be writable, and an existing file must open
// (read-only) as a store. A file held by a running bridge is fine: note then
// says so. The postgres backend is checked online only (its database is
// another machine's).
func Check(ctx context.Context, c Config) (note string, err error) {
	if c.Backend != "bbolt" {
		return "", nil
	}
	dir := filepath.Dir(c.Path)
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("store.path: the directory %s does not exist: create it (mkdir -p %s) or point store.path into an existing directory", dir, dir)
	case err != nil:
		return "", fmt.Errorf("store.path: %w", err)
	case !info.IsDir():
		return "", fmt.Errorf("store.path: %s is not a directory", dir)
	}
	if err := writable(dir); err != nil {
		return "", fmt.Errorf("store.path: cannot create files in %s (%v): give the user running the bridge write access, or point store.path elsewhere", dir, err)
	}
	if _, err := os.Stat(c.Path); errors.Is(err, os.ErrNotExist) {
		return "the store file does not exist yet; run creates it", nil
	}
	s, err := bolt.OpenReadOnly(c.Path, bolt.Options{Timeout: checkLockTimeout})
	if errors.Is(err, bolt.ErrLocked) {
		return "the store file is in use by a running promptev-bridge", nil
	}
	if err != nil {
		return "", fmt.Errorf("store.path: %w", err)
	}
	return "", s.Close()
}

// writable reports whether a file can be created in dir, by creating and
// removing one.
func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".promptev-bridge-check-*")
	if err != nil {
		return err
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}
