package daemon

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/internal/config"
)

func TestNewLogger(t *testing.T) {
	tests := []struct {
		cfg       config.LogConfig
		debugSeen bool
		infoSeen  bool
		json      bool
	}{
		{config.LogConfig{Level: "debug", Format: "text"}, true, true, false},
		{config.LogConfig{Level: "info", Format: "json"}, false, true, true},
		{config.LogConfig{Level: "WARN", Format: "text"}, false, false, false},
		{config.LogConfig{Level: "warning", Format: "json"}, false, false, true},
		{config.LogConfig{Level: "error", Format: "text"}, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.cfg.Level+"/"+tt.cfg.Format, func(t *testing.T) {
			var b bytes.Buffer
			log := NewLogger(&b, tt.cfg)
			log.Debug("debug line")
			log.Info("info line", "conversation", "slack/T1/C1/1.2")
			log.Error("error line")
			out := b.String()
			assert.Equal(t, tt.debugSeen, bytes.Contains(b.Bytes(), []byte("debug line")))
			assert.Equal(t, tt.infoSeen, bytes.Contains(b.Bytes(), []byte("info line")))
			assert.Contains(t, out, "error line")
			if tt.json {
				var rec map[string]any
				first, _, _ := bytes.Cut(b.Bytes(), []byte("\n"))
				require.NoError(t, json.Unmarshal(first, &rec), "json lines")
			} else {
				assert.Contains(t, out, "level=ERROR")
			}
		})
	}
}
