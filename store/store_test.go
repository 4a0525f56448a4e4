package store

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(c *Config)
		want []string // substrings of the problems, in order; none means valid
	}{
		{name: "defaults", cfg: func(*Config) {}},
		{
			name: "unknown backend",
			cfg:  func(c *Config) { c.Backend = "sqlite" },
			want: []string{`store.backend: must be one of bbolt, postgres, not "sqlite"`},
		},
		{
			name: "empty backend",
			cfg:  func(c *Config) { c.Backend = "" },
			want: []string{`store.backend: must be one of bbolt, postgres, not ""`},
		},
		{
			name: "bbolt: the backend's own problems, under store",
			cfg:  func(c *Config) { c.Path, c.LockTimeout = "", 0 },
			want: []string{"store.path: must name the store file", "store.lock_timeout: must be positive"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.cfg(&c)
			ps := c.Validate("store")
			require.Len(t, ps, len(tt.want), "%v", ps)
			for i, w := range tt.want {
				assert.Contains(t, ps[i].Error(), w)
			}
			if tt.name == "unknown backend" {
				assert.Equal(t, "store.backend", ps[0].Path)
			}
		})
	}
}

func TestNames(t *testing.T) {
	assert.Equal(t, []string{"bbolt", "postgres"}, Names())
	assert.Equal(t, DefaultBackend, Names()[0], "the default is in the list")
}

func TestOpenUnknownBackend(t *testing.T) {
	_, err := Open(t.Context(), Config{Backend: "sqlite", Path: filepath.Join(t.TempDir(), "x.db")}, OpenOptions{})
	require.ErrorContains(t, err, `store.backend: must be one of bbolt, postgres, not "sqlite"`)
	var ps chat.ConfigProblems
	require.ErrorAs(t, err, &ps, "a config problem")
}

// openBoltStore opens a fresh bbolt store through Open, as the daemon does.
func openBoltStore(t *testing.T) Store {
	t.Helper()
	c := DefaultConfig()
	c.Path = filepath.Join(t.TempDir(), "bridge.db")
	s, err := Open(t.Context(), c, OpenOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// The bbolt backend opened through the list passes the store contract.
func TestOpenBoltConformance(t *testing.T) {
	bridgetest.RunStoreConformance(t, func(t *testing.T) chat.Store { return openBoltStore(t) })
}

func TestOpenBoltReadOnly(t *testing.T) {
	c := DefaultConfig()
	c.Path = filepath.Join(t.TempDir(), "bridge.db")
	s, err := Open(t.Context(), c, OpenOptions{})
	require.NoError(t, err)
	conv := chat.Conversation{Key: chat.ConversationKey{Platform: "chat", Workspace: "W1", Channel: "C1"}, AgentID: "a", Mode: chat.ModeStream, Created: time.Unix(0, 0).UTC()}
	require.NoError(t, s.PutConversation(t.Context(), conv))
	require.NoError(t, s.Close())

	ro, err := Open(t.Context(), c, OpenOptions{ReadOnly: true})
	require.NoError(t, err)
	defer ro.Close()
	st, err := ro.Stats(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "bbolt", st.Backend)
	assert.Equal(t, c.Path, st.Location)
	assert.Equal(t, 1, st.Conversations)
	assert.Error(t, ro.PutConversation(t.Context(), conv), "a read-only store refuses writes")

	// The file is held: a second Open of it is refused as locked.
	c.LockTimeout = 50 * time.Millisecond
	s, err = Open(t.Context(), c, OpenOptions{})
	if err == nil {
		_ = s.Close()
	}
	// A read-only open shares the lock with other readers, so a writer is
	// refused while ro is open.
	require.ErrorIs(t, err, ErrLocked)
}
