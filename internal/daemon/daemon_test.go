package daemon

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/console"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/internal/config"
)

// TestAdaptersFromTheList builds exactly the enabled platforms of the list.
func TestAdaptersFromTheList(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	host := chat.Host{Stdin: strings.NewReader(""), Stdout: io.Discard}

	cfg := config.DefaultConfig()
	as, err := Adapters(cfg, log, host)
	require.NoError(t, err)
	assert.Empty(t, as, "every platform is off by default")

	cfg.Section(console.Name).(*console.Config).Enabled = true
	as, err = Adapters(cfg, log, host)
	require.NoError(t, err)
	require.Len(t, as, 1)
	assert.Equal(t, console.Name, as[0].Name())
}

// TestRunWithoutPlatformNamesEveryRegisteredOne: the error tells which keys
// turn a platform on, from the list.
func TestRunWithoutPlatformNamesEveryRegisteredOne(t *testing.T) {
	cfg := config.DefaultConfig()
	cfg.Promptev.ProjectKey = "pk-test"
	err := Run(context.Background(), cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	require.ErrorIs(t, err, ErrNoPlatform)
	for _, name := range config.PlatformNames() {
		assert.Contains(t, err.Error(), name+".enabled")
	}
}
