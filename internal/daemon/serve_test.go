package daemon

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/console"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/metrics"
)

func TestReadinessChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr, pw := io.Pipe()
		a := console.New(console.Options{In: pr, Out: io.Discard})
		m := metrics.New(metrics.Options{NoRuntimeCollectors: true})
		var storeOpen, stopping atomic.Bool
		checks := readinessChecks(&storeOpen, &stopping, nil, []chat.Adapter{a}, m)
		require.Len(t, checks, 2)
		state := func() string {
			var out []string
			for _, c := range checks {
				if err := c.Ready(); err != nil {
					out = append(out, c.Name+": "+err.Error())
				} else {
					out = append(out, c.Name+": ok")
				}
			}
			return strings.Join(out, ", ")
		}
		assert.Equal(t, "store: closed, console: not connected", state())

		storeOpen.Store(true)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx, nopHandler{}) }()
		synctest.Wait() // Run is up and waiting for input
		assert.Equal(t, "store: ok, console: ok", state())

		stopping.Store(true)
		assert.Equal(t, "store: shutting down, console: ok", state(), "readiness drops as soon as shutdown begins")
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, pw.Close())
		synctest.Wait()
		assert.Equal(t, "store: shutting down, console: not connected", state())
	})
}

type nopHandler struct{}

func (nopHandler) HandleMessage(context.Context, chat.InboundMessage) error { return nil }
func (nopHandler) HandleAction(context.Context, chat.Action) (chat.ActionResult, error) {
	return chat.ActionResult{}, nil
}
