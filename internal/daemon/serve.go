package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/internal/config"
	"github.com/promptev/promptev-bridge/metrics"
	"github.com/promptev/promptev-bridge/store"
)

// sidePortShutdown bounds the side port's shutdown, the last step.
const sidePortShutdown = 5 * time.Second

// ServeOptions are the parts Serve wires together.
type ServeOptions struct {
	// Config is the whole configuration (engine, store, http sections).
	Config config.Config
	// Logger is the root logger.
	Logger *slog.Logger
	// Agent runs the agents (NewAgent).
	Agent bridge.Agent
	// Adapters are the platforms to serve, each with a distinct name.
	Adapters []chat.Adapter
	// Version is the build's version, for the log and /metrics.
	Version string
	// WrapHandler, when set, wraps the handler the adapters see (the
	// terminal session counts the messages it sent).
	WrapHandler func(chat.Handler) chat.Handler
	// RunEnded, when set, is the engine's bridge.Options.RunEnded: it is told
	// each time an accepted message is over (the terminal session answers
	// approvals nobody will type and ends when the last run is over).
	RunEnded func(key chat.ConversationKey, outcome string)
	// Stop, when set, ends Serve gracefully when it is closed.
	Stop <-chan struct{}
	// OnSidePort, when set, is told the side port's bound address.
	OnSidePort func(net.Addr)
	// OperatorAtHand is bridge.Options.OperatorAtHand: the person chatting
	// runs the bridge (a terminal session).
	OperatorAtHand bool
}

// Serve runs the bridge until ctx ends, Stop is closed or an adapter fails,
// then shuts down in order: adapters' intake, the bridge (with its grace),
// the store, the side port.
func Serve(ctx context.Context, o ServeOptions) error {
	log := o.Logger
	m := metrics.New(metrics.Options{Version: o.Version})
	for _, a := range o.Adapters {
		if rc, ok := a.(chat.RequestCounted); ok {
			rc.SetRequestCounter(m)
		}
		if ic, ok := a.(chat.InstallationCounted); ok {
			ic.SetInstallationCounter(m)
		}
	}

	for _, a := range o.Adapters {
		m.AddPlatform(a.Name()) // every counter series exists from the start, at zero
	}

	st, err := store.Open(ctx, o.Config.Store, store.OpenOptions{Logger: log.With("component", "store")})
	if err != nil {
		return err // the backends' errors name the store and the fix
	}
	var storeOpen, stopping atomic.Bool
	storeOpen.Store(true)
	closeStore := func() error {
		if !storeOpen.Swap(false) {
			return nil
		}
		if err := st.Close(); err != nil {
			return fmt.Errorf("close store: %w", err)
		}
		return nil
	}
	defer func() { _ = closeStore() }()
	// Adapters that keep state in the store (OAuth installations) get it
	// before the engine's recovery may call them.
	for _, a := range o.Adapters {
		if su, ok := a.(chat.StoreUser); ok {
			su.UseStore(st)
		}
	}
	// A store reached over the network is pinged for /readyz; the pings end
	// before the store closes.
	watch := watchStore(st, storePingEvery, log.With("component", "store"))
	defer watch.stop()

	platforms := make([]chat.Platform, len(o.Adapters))
	for i, a := range o.Adapters {
		platforms[i] = a
	}
	br, err := bridge.New(bridge.Options{
		Config: o.Config.Bridge, Agent: o.Agent, Store: st, Platforms: platforms,
		Logger: log, Metrics: m, RunEnded: o.RunEnded, OperatorAtHand: o.OperatorAtHand,
		Replica: bridge.ReplicaOptions{ID: o.Config.Store.Postgres.ReplicaID, LeaseTTL: o.Config.Store.Postgres.LeaseTTL},
	})
	if err != nil {
		return err
	}
	if id := br.Replica(); id != "" {
		log.Info("replica of a shared store: conversations are leased", "replica", id, "lease_ttl", o.Config.Store.Postgres.LeaseTTL)
		// The platforms' connections too (Discord's shards), under the same name.
		if n := shareLeaser(st, o.Adapters, id, o.Config.Store.Postgres.LeaseTTL); n > 0 {
			log.Info("platform connections are claimed through the store's leases", "adapters", n)
		}
	}

	var side *metrics.Server
	if o.Config.HTTP.Listen != "" {
		httpLog := log.With("component", "http")
		// The store's counts, for /metrics (walked at most every few seconds)
		// and /debug/store (`store stats --addr`): the live file's lock keeps
		// other processes from opening it.
		if err := m.RegisterStore(st.Stats, metrics.DefaultStoreStatsMaxAge, httpLog); err != nil {
			return err
		}
		// The progress lanes each platform fell back from, per workspace.
		for _, a := range o.Adapters {
			if lr, ok := a.(chat.LaneReporter); ok {
				if err := m.RegisterLanes(a.Name(), lr); err != nil {
					return err
				}
			}
			if ir, ok := a.(chat.InstallationReporter); ok && ir.ServesInstallations() {
				if err := m.RegisterInstallations(a.Name(), ir); err != nil {
					return err
				}
			}
		}
		checks := readinessChecks(&storeOpen, &stopping, watch, o.Adapters, m)
		side = metrics.NewServer(metrics.ServerOptions{
			Addr: o.Config.HTTP.Listen, Metrics: m, Checks: checks, StoreStats: st.Stats, Logger: httpLog,
		})
		addr, err := side.Start()
		if err != nil {
			return err
		}
		log.Info("side port listening", "addr", addr.String(), "paths", "/healthz /readyz /metrics /debug/store")
		if o.OnSidePort != nil {
			o.OnSidePort(addr)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), sidePortShutdown)
			defer cancel()
			if err := side.Shutdown(sctx); err != nil {
				log.Warn("side port shutdown", "err", err)
			}
		}()
	}

	bridgeCtx, stopBridge := context.WithCancel(context.Background())
	defer stopBridge()
	bridgeDone := make(chan error, 1)
	go func() { bridgeDone <- br.Run(bridgeCtx) }()

	var h chat.Handler = br
	if o.WrapHandler != nil {
		h = o.WrapHandler(h)
	}
	adaptersCtx, stopAdapters := context.WithCancel(context.Background())
	defer stopAdapters()
	type adapterEnd struct {
		name string
		err  error
	}
	ended := make(chan adapterEnd, len(o.Adapters))
	var adapters sync.WaitGroup
	for _, a := range o.Adapters {
		adapters.Go(func() {
			ended <- adapterEnd{a.Name(), a.Run(adaptersCtx, h)}
		})
	}
	log.Info("bridge running", "platforms", platformNames(o.Adapters), "version", o.Version)

	var fatal error
	bridgeEnded := false
	select {
	case <-ctx.Done():
		log.Info("shutting down", "reason", "signal")
	case <-o.Stop:
		log.Info("shutting down", "reason", "conversation over")
	case e := <-ended:
		if e.err != nil {
			fatal = fmt.Errorf("%s adapter: %w", e.name, e.err)
			log.Error("adapter failed: shutting down", "platform", e.name, "err", e.err)
		} else {
			log.Warn("adapter stopped: shutting down", "platform", e.name)
		}
	case err := <-bridgeDone:
		bridgeEnded = true
		if err == nil {
			err = errors.New("run returned before shutdown")
		}
		fatal = fmt.Errorf("bridge stopped unexpectedly: %w", err)
		log.Error("bridge stopped: shutting down", "err", err)
	}

	// 1. Stop intake.
	stopping.Store(true)
	stopAdapters()
	adapters.Wait()
	// 2. Let running streams finish within the grace, then finalise the rest.
	grace := o.Config.Bridge.Runs.ShutdownGrace + 10*time.Second
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	if err := br.Shutdown(sctx); err != nil {
		log.Warn("bridge shutdown", "err", err)
	}
	cancel()
	stopBridge()
	if !bridgeEnded {
		if err := <-bridgeDone; err != nil {
			log.Warn("bridge stopped with an error", "err", err)
		}
	}
	// 3. Close the store. 4. The side port closes in the deferred call.
	watch.stop()
	if err := closeStore(); err != nil {
		log.Error("store close failed", "err", err)
		fatal = errors.Join(fatal, err)
	}
	log.Info("stopped")
	return fatal
}

// readinessChecks are the conditions of /readyz: the store is open, not
// shutting down and, for a database, answered its last ping (watch, nil for
// a local store), and every adapter is connected (also exported as the
// adapter_ready gauge).
func readinessChecks(storeOpen, stopping *atomic.Bool, watch *storeWatch, adapters []chat.Adapter, m *metrics.Metrics) []metrics.Check {
	checks := []metrics.Check{{Name: "store", Ready: func() error {
		switch {
		case stopping.Load():
			return errShuttingDown
		case !storeOpen.Load():
			return errStoreClosed
		}
		return watch.err()
	}}}
	for _, a := range adapters {
		check := metrics.Check{Name: a.Name(), Ready: func() error {
			ready := a.Ready()
			m.SetAdapterReady(a.Name(), ready)
			if !ready {
				return errors.New("not connected")
			}
			return nil
		}}
		if ir, ok := a.(chat.InstallationReporter); ok && ir.ServesInstallations() {
			check.Detail = func() string { return brokenDetail(ir.BrokenInstallations()) }
		}
		checks = append(checks, check)
	}
	return checks
}

func platformNames(as []chat.Adapter) string {
	names := make([]string, len(as))
	for i, a := range as {
		names[i] = a.Name()
	}
	return strings.Join(names, ",")
}

// brokenDetail is the /readyz note of an adapter's broken installations:
// the other teams go on, so the adapter stays ready.
func brokenDetail(broken []chat.BrokenInstallation) string {
	if len(broken) == 0 {
		return ""
	}
	parts := make([]string, len(broken))
	for i, b := range broken {
		parts[i] = fmt.Sprintf("%s %s since %s", b.Team, b.Reason, b.Since.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("%d installation(s) broken, reinstall needed: %s", len(broken), strings.Join(parts, ", "))
}
