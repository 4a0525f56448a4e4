package bolt

import (
	"log/slog"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/stretchr/testify/assert"
	"gopkg.in/yaml.v3"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	assert.Equal(t, "./promptev-bridge.db", c.Path)
	assert.Equal(t, 2*time.Second, c.LockTimeout)
	assert.Empty(t, c.Validate("store"))
}

func TestConfig_YAML(t *testing.T) {
	c := DefaultConfig()
	assert.NoError(t, yaml.Unmarshal([]byte("path: /data/pvb.db\nlock_timeout: 5s\n"), &c))
	assert.Equal(t, Config{Path: "/data/pvb.db", LockTimeout: 5 * time.Second}, c)
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		prefix string
		want   []string // problem paths
	}{
		{name: "valid", cfg: Config{Path: "x.db", LockTimeout: time.Second}, prefix: "store"},
		{name: "empty path", cfg: Config{Path: " ", LockTimeout: time.Second}, prefix: "store", want: []string{"store.path"}},
		{name: "directory path", cfg: Config{Path: "/var/lib/", LockTimeout: time.Second}, prefix: "store", want: []string{"store.path"}},
		{name: "zero lock timeout", cfg: Config{Path: "x.db"}, prefix: "store", want: []string{"store.lock_timeout"}},
		{name: "negative lock timeout", cfg: Config{Path: "x.db", LockTimeout: -time.Second}, prefix: "store", want: []string{"store.lock_timeout"}},
		{name: "both, other prefix", cfg: Config{}, prefix: "state", want: []string{"state.path", "state.lock_timeout"}},
		{name: "no prefix", cfg: Config{}, want: []string{"path", "lock_timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := tt.cfg.Validate(tt.prefix)
			var paths []string
			for _, p := range ps {
				paths = append(paths, p.Path)
				assert.NotEmpty(t, p.Message)
			}
			assert.Equal(t, tt.want, paths)
			if len(tt.want) == 0 {
				assert.NoError(t, ps.Err())
			}
		})
	}
}

func TestConfig_Options(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	o := Config{Path: "x.db", LockTimeout: 3 * time.Second}.Options(log)
	assert.Equal(t, 3*time.Second, o.Timeout)
	assert.Same(t, log, o.Logger)
	assert.False(t, o.NoSync, "production options always fsync")
	var _ chat.ConfigProblems = Config{}.Validate("")
}
