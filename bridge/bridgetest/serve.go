package bridgetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/promptev/promptev-bridge/chat"
)

// Engine is the bridge as Serve runs it (a *bridge.Bridge).
type Engine interface {
	chat.Handler
	Run(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// Serve runs engine and adapter, which hands its messages and clicks to
// engine, until the test ends. Then it shuts engine down gracefully (within
// 10 s), ends both and checks that neither returned an error. Cleanups
// registered before Serve run after it.
func Serve(tb testing.TB, engine Engine, adapter chat.Adapter) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	engineDone, adapterDone := make(chan error, 1), make(chan error, 1)
	go func() { engineDone <- engine.Run(ctx) }()
	go func() { adapterDone <- adapter.Run(ctx, engine) }()
	tb.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		assert.NoError(tb, engine.Shutdown(sctx))
		cancel()
		assert.NoError(tb, <-adapterDone)
		assert.NoError(tb, <-engineDone)
	})
}
