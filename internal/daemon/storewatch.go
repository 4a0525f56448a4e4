package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// How often, and how patiently, a store behind a network (PostgreSQL) is
// asked whether it answers, for /readyz.
const (
	storePingEvery   = 2 * time.Second
	storePingTimeout = 2 * time.Second
)

// pinger is the ability of a store reached over the network to say whether
// it answers (store/postgres).
type pinger interface {
	Ping(ctx context.Context) error
}

// storeWatch keeps the result of the last ping of a store for /readyz,
// whose checks must not wait on the network.
type storeWatch struct {
	p     pinger
	every time.Duration
	log   *slog.Logger

	mu   sync.Mutex
	last error

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// watchStore starts pinging st every interval when it is a pinger; it
// returns nil for a local store (bbolt), which is up while it is open.
func watchStore(st any, every time.Duration, log *slog.Logger) *storeWatch {
	p, ok := st.(pinger)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &storeWatch{p: p, every: every, log: log, cancel: cancel}
	w.wg.Go(func() { w.run(ctx) })
	return w
}

func (w *storeWatch) run(ctx context.Context) {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, storePingTimeout)
		err := w.p.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		w.set(err)
	}
}

// set records a ping's result and logs each change between up and down.
func (w *storeWatch) set(err error) {
	w.mu.Lock()
	was := w.last
	w.last = err
	w.mu.Unlock()
	switch {
	case err != nil && was == nil:
		w.log.Error("database unreachable: not ready, new messages are refused until it answers", "err", err)
	case err == nil && was != nil:
		w.log.Info("database reachable again: ready")
	}
}

// err is why the store is not usable, from the last ping; nil when it
// answered (or w is nil: a local store).
func (w *storeWatch) err() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last != nil {
		return fmt.Errorf("database unreachable: %w", w.last)
	}
	return nil
}

// stop ends the pings and waits for the goroutine.
func (w *storeWatch) stop() {
	if w == nil {
		return
	}
	w.cancel()
	w.wg.Wait()
}

// errStoreClosed and errShuttingDown are the store check's answers while
// the daemon stops.
var (
	errStoreClosed  = errors.New("closed")
	errShuttingDown = errors.New("shutting down")
)
