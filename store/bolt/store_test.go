package bolt

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

func TestOpen_CreatesAndReopens(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bridge.db")

	s, err := Open(path, Options{})
	require.NoError(t, err)
	assert.Equal(t, path, s.Path())
	assert.False(t, s.db.NoSync, "commits are fsynced unless a test asks otherwise")
	require.NoError(t, s.PutConversation(ctx, conversation(1)))
	require.NoError(t, s.Close())

	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the file holds session tokens")

	s, err = Open(path, Options{})
	require.NoError(t, err)
	defer s.Close()
	got, err := s.GetConversation(ctx, convKey(1))
	require.NoError(t, err)
	assert.Equal(t, conversation(1), got)
}

func TestOpen_Errors(t *testing.T) {
	tests := []struct {
		name    string
		path    func(t *testing.T) string
		want    error  // errors.Is target, nil to skip
		wantMsg string // substring of the message
	}{
		{
			name:    "empty path",
			path:    func(*testing.T) string { return "" },
			wantMsg: "empty path",
		},
		{
			name:    "missing directory",
			path:    func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope", "bridge.db") },
			want:    os.ErrNotExist,
			wantMsg: "nope does not exist (file does not exist): create the directory or point store.path into an existing one",
		},
		{
			name:    "directory",
			path:    func(t *testing.T) string { return t.TempDir() },
			wantMsg: "store: open",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.path(t), Options{Timeout: 50 * time.Millisecond})
			require.Error(t, err)
			assert.Nil(t, s)
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
			}
			assert.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

func TestOpen_LockTimeout(t *testing.T) {
	tests := []struct {
		name string
		open func(path string, opts Options) (*Store, error)
	}{
		{"second writer", Open},
		{"reader while a writer holds it", OpenReadOnly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bridge.db")
			first, err := Open(path, Options{NoSync: true})
			require.NoError(t, err)
			defer first.Close()

			begin := time.Now()
			second, err := tt.open(path, Options{Timeout: 50 * time.Millisecond})
			// Fails fast: the timeout, not forever (a generous bound for a busy machine).
			assert.Less(t, time.Since(begin), 5*time.Second)
			require.Error(t, err)
			assert.Nil(t, second)
			assert.ErrorIs(t, err, ErrLocked)
			assert.Contains(t, err.Error(), path, "the error names the file")
			assert.Contains(t, err.Error(), "another promptev-bridge process holds this file")

			// Once the holder closes, the file opens.
			require.NoError(t, first.Close())
			again, err := tt.open(path, Options{Timeout: 50 * time.Millisecond})
			require.NoError(t, err)
			require.NoError(t, again.Close())
		})
	}
}

// validFile builds a closed store file holding a few records and returns its path.
func validFile(t *testing.T, conversations int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bridge.db")
	s, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	fillConversations(t, s, 0, conversations)
	require.NoError(t, s.Close())
	return path
}

// leafPage returns the id of a leaf page of the conversations bucket.
func leafPage(t *testing.T, path string) (pgid uint64, pageSize int) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, PreLoadFreelist: true, Timeout: time.Second})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(tx *bbolt.Tx) error {
		pageSize = tx.DB().Info().PageSize
		for id := 2; id < int(tx.Size())/pageSize; id++ {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				continue
			}
			if info.Type == "leaf" && info.Count >= 2 {
				pgid = uint64(id)
				return nil
			}
		}
		return errors.New("no leaf page found")
	}))
	return pgid, pageSize
}

func TestOpen_Corrupt(t *testing.T) {
	tests := []struct {
		name    string
		file    func(t *testing.T) string
		wantMsg string
	}{
		{
			name: "text file",
			file: func(t *testing.T) string {
				p := filepath.Join(t.TempDir(), "bridge.db")
				require.NoError(t, os.WriteFile(p, bytes.Repeat([]byte("store: path: ./x.db\n"), 1000), 0o600))
				return p
			},
			wantMsg: "not a bbolt database",
		},
		{
			name: "tiny file",
			file: func(t *testing.T) string {
				p := filepath.Join(t.TempDir(), "bridge.db")
				require.NoError(t, os.WriteFile(p, []byte("hello"), 0o600))
				return p
			},
			wantMsg: "bridge.db",
		},
		{
			name: "both meta pages damaged",
			file: func(t *testing.T) string {
				p := validFile(t, 10)
				f, err := os.OpenFile(p, os.O_RDWR, 0)
				require.NoError(t, err)
				defer f.Close()
				_, pageSize := leafPage(t, p)
				for _, off := range []int64{64, int64(pageSize) + 64} { // inside each meta
					_, err = f.WriteAt([]byte{0xde, 0xad, 0xbe, 0xef}, off)
					require.NoError(t, err)
				}
				return p
			},
			wantMsg: "header is damaged",
		},
		{
			name: "truncated",
			file: func(t *testing.T) string {
				p := validFile(t, 1500)
				info, err := os.Stat(p)
				require.NoError(t, err)
				require.NoError(t, os.Truncate(p, info.Size()/2))
				return p
			},
			wantMsg: "truncated",
		},
		{
			name: "damaged data page",
			file: func(t *testing.T) string {
				p := validFile(t, 1500)
				id, pageSize := leafPage(t, p)
				f, err := os.OpenFile(p, os.O_RDWR, 0)
				require.NoError(t, err)
				defer f.Close()
				// Overwrite the page header (id, flags, count) with garbage.
				_, err = f.WriteAt(bytes.Repeat([]byte{0x7f}, 16), int64(id)*int64(pageSize))
				require.NoError(t, err)
				return p
			},
			wantMsg: "consistency check",
		},
		{
			name: "bbolt file of another program",
			file: func(t *testing.T) string {
				p := filepath.Join(t.TempDir(), "other.db")
				db, err := bbolt.Open(p, 0o600, nil)
				require.NoError(t, err)
				require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
					_, err := tx.CreateBucket([]byte("widgets"))
					return err
				}))
				require.NoError(t, db.Close())
				return p
			},
			wantMsg: "another program (buckets widgets)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.file(t)
			for _, open := range []func(string, Options) (*Store, error){Open, OpenReadOnly} {
				var (
					s   *Store
					err error
				)
				require.NotPanics(t, func() { s, err = open(path, Options{Timeout: time.Second}) })
				require.Error(t, err)
				t.Log(err)
				assert.Nil(t, s)
				assert.ErrorIs(t, err, ErrCorrupt)
				assert.Contains(t, err.Error(), path)
				assert.Contains(t, err.Error(), tt.wantMsg)
			}
		})
	}
}

func TestOpen_SkipCheck(t *testing.T) {
	// A damaged data page passes Open with SkipCheck, and a read that hits it
	// returns ErrCorrupt instead of panicking.
	path := validFile(t, 1500)
	id, pageSize := leafPage(t, path)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(bytes.Repeat([]byte{0x7f}, 16), int64(id)*int64(pageSize))
	require.NoError(t, err)
	require.NoError(t, f.Close())

	s, err := Open(path, Options{SkipCheck: true, NoSync: true})
	require.NoError(t, err)
	defer s.Close()
	var firstErr error
	require.NotPanics(t, func() {
		for i := range 1500 {
			if _, err := s.GetConversation(context.Background(), convKey(i)); err != nil {
				firstErr = err
				return
			}
		}
	})
	require.Error(t, firstErr)
}

func TestOpen_NoSyncIsOptIn(t *testing.T) {
	// Production options (the zero value and Config.Options) keep fsync on.
	for name, opts := range map[string]Options{"zero options": {}, "from config": DefaultConfig().Options(nil)} {
		t.Run(name, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "bridge.db"), opts)
			require.NoError(t, err)
			defer s.Close()
			assert.False(t, s.db.NoSync, "fsync must stay on")
		})
	}
	// Only tests opt out.
	assert.True(t, openTemp(t).db.NoSync)
}

func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	path := validFile(t, 5)

	s, err := OpenReadOnly(path, Options{})
	require.NoError(t, err)
	defer s.Close()

	got, err := s.GetConversation(ctx, convKey(3))
	require.NoError(t, err)
	assert.Equal(t, conversation(3), got)

	writes := map[string]func() error{
		"PutConversation":    func() error { return s.PutConversation(ctx, conversation(9)) },
		"DeleteConversation": func() error { return s.DeleteConversation(ctx, convKey(1)) },
		"PutApproval":        func() error { return s.PutApproval(ctx, approval(1, t0)) },
		"SetApprovalCard":    func() error { _, err := s.SetApprovalCard(ctx, "a", chat.MessageRef{ID: "c"}); return err },
		"PutRun":             func() error { return s.PutRun(ctx, run(1, t0)) },
		"SeenOrMark":         func() error { _, err := s.SeenOrMark(ctx, []string{"k"}, time.Minute, t0); return err },
		"SweepDedupe":        func() error { _, err := s.SweepDedupe(ctx, t0, 1); return err },
	}
	for name, write := range writes {
		t.Run(name, func(t *testing.T) { assert.ErrorIs(t, write(), ErrReadOnly) })
	}

	// Two readers may share the file.
	other, err := OpenReadOnly(path, Options{Timeout: 50 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, other.Close())
}

func TestOpenReadOnly_MissingOrUninitialised(t *testing.T) {
	dir := t.TempDir()
	_, err := OpenReadOnly(filepath.Join(dir, "absent.db"), Options{})
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(filepath.Join(dir, "absent.db"))
	assert.ErrorIs(t, err, os.ErrNotExist, "read-only open never creates the file")

	empty := filepath.Join(dir, "empty.db")
	db, err := bbolt.Open(empty, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = OpenReadOnly(empty, Options{})
	require.ErrorIs(t, err, ErrCorrupt)
	assert.Contains(t, err.Error(), "not an initialised promptev-bridge database")
}

func TestOpen_LogsThroughGivenLogger(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := Open(filepath.Join(t.TempDir(), "bridge.db"), Options{NoSync: true, Logger: log.With("component", "store")})
	require.NoError(t, err)
	require.NoError(t, s.PutConversation(context.Background(), conversation(1)))
	require.NoError(t, s.Close())
	assert.Contains(t, buf.String(), "component=store")
	assert.NotContains(t, buf.String(), "component=store component=store", "the caller's attributes are not repeated")
	assert.Contains(t, buf.String(), "store opened")
	assert.NotContains(t, buf.String(), conversation(1).SessionToken, "session tokens are never logged")
}
