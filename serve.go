package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/metrics"
	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/store/bolt"
)

// sidePortShutdown bounds the side port's shutdown, the last step.
const sidePortShutdown = 5 * time.Second

// newLogger builds the root logger from the log section.
func newLogger(w io.Writer, c LogConfig) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(c.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// newAgent builds the Promptev client from the promptev section.
func newAgent(c PromptevConfig) (bridge.Agent, error) {
	auth, err := promptev.ParseAuth(c.Auth)
	if err != nil {
		return nil, fmt.Errorf("promptev.auth: %w", err)
	}
	opts := []promptev.Option{
		promptev.WithBaseURL(c.BaseURL),
		promptev.WithTimeout(c.Timeout),
		promptev.WithMaxRetries(c.MaxRetries),
		promptev.WithEndpoints(promptev.Endpoints{Trigger: c.Endpoints.Trigger, Start: c.Endpoints.Start, Stream: c.Endpoints.Stream}),
		promptev.WithAuth(auth),
		promptev.WithIdleTimeout(c.IdleTimeout),
	}
	if len(c.Headers) > 0 {
		opts = append(opts, promptev.WithHeaders(c.Headers))
	}
	client, err := promptev.New(c.ProjectKey, opts...)
	if err != nil {
		return nil, fmt.Errorf("promptev client: %w", err)
	}
	return bridge.ClientAgent(client), nil
}

// serveOptions are the parts serve wires together.
type serveOptions struct {
	cfg      Config
	log      *slog.Logger
	agent    bridge.Agent
	adapters []chat.Adapter
	// wrap, when set, wraps the handler the adapters see (demo bookkeeping).
	wrap func(chat.Handler) chat.Handler
	// metrics, when set, also receives every measurement (demo bookkeeping).
	metrics bridge.Metrics
	// stop, when set, ends serve gracefully when it is closed.
	stop <-chan struct{}
	// onSidePort is told the side port's bound address.
	onSidePort func(net.Addr)
}

// serve runs the bridge until ctx ends, stop is closed or an adapter fails,
// then shuts down in order: adapters' intake, the bridge (with its grace),
// the store, the side port.
func serve(ctx context.Context, o serveOptions) error {
	log := o.log
	m := metrics.New(metrics.Options{Version: buildVersion()})
	var bm bridge.Metrics = m
	if o.metrics != nil {
		bm = teeMetrics{m, o.metrics}
	}
	for _, a := range o.adapters {
		if rc, ok := a.(chat.RequestCounted); ok {
			rc.SetRequestCounter(m)
		}
	}

	st, err := bolt.Open(o.cfg.Store.Path, o.cfg.Store.Options(log.With("component", "store")))
	if err != nil {
		return fmt.Errorf("open store: %w", err)
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

	platforms := make([]chat.Platform, len(o.adapters))
	for i, a := range o.adapters {
		platforms[i] = a
	}
	br, err := bridge.New(bridge.Options{
		Config: o.cfg.Bridge, Agent: o.agent, Store: st, Platforms: platforms,
		Logger: log, Metrics: bm,
	})
	if err != nil {
		return err
	}

	var side *metrics.Server
	if o.cfg.HTTP.Listen != "" {
		httpLog := log.With("component", "http")
		// The store's counts, for /metrics (walked at most every few seconds)
		// and /debug/store (`store stats --addr`): the live file's lock keeps
		// other processes from opening it.
		if err := m.RegisterStore(st.Stats, metrics.DefaultStoreStatsMaxAge, httpLog); err != nil {
			return err
		}
		checks := readinessChecks(&storeOpen, &stopping, o.adapters, m)
		side = metrics.NewServer(metrics.ServerOptions{
			Addr: o.cfg.HTTP.Listen, Metrics: m, Checks: checks, StoreStats: st.Stats, Logger: httpLog,
		})
		addr, err := side.Start()
		if err != nil {
			return err
		}
		log.Info("side port listening", "addr", addr.String(), "paths", "/healthz /readyz /metrics /debug/store")
		if o.onSidePort != nil {
			o.onSidePort(addr)
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
	if o.wrap != nil {
		h = o.wrap(h)
	}
	adaptersCtx, stopAdapters := context.WithCancel(context.Background())
	defer stopAdapters()
	type adapterEnd struct {
		name string
		err  error
	}
	ended := make(chan adapterEnd, len(o.adapters))
	var adapters sync.WaitGroup
	for _, a := range o.adapters {
		adapters.Go(func() {
			ended <- adapterEnd{a.Name(), a.Run(adaptersCtx, h)}
		})
	}
	log.Info("bridge running", "platforms", platformNames(o.adapters), "version", buildVersion())

	var fatal error
	bridgeEnded := false
	select {
	case <-ctx.Done():
		log.Info("shutting down", "reason", "signal")
	case <-o.stop:
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
	grace := o.cfg.Bridge.Runs.ShutdownGrace + 10*time.Second
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
	if err := closeStore(); err != nil {
		log.Error("store close failed", "err", err)
		fatal = errors.Join(fatal, err)
	}
	log.Info("stopped")
	return fatal
}

// readinessChecks are the conditions of /readyz: the store is open and not
// shutting down, and every adapter is connected (also exported as the
// adapter_ready gauge).
func readinessChecks(storeOpen, stopping *atomic.Bool, adapters []chat.Adapter, m *metrics.Metrics) []metrics.Check {
	checks := []metrics.Check{{Name: "store", Ready: func() error {
		switch {
		case stopping.Load():
			return errors.New("shutting down")
		case !storeOpen.Load():
			return errors.New("closed")
		}
		return nil
	}}}
	for _, a := range adapters {
		checks = append(checks, metrics.Check{Name: a.Name(), Ready: func() error {
			ready := a.Ready()
			m.SetAdapterReady(a.Name(), ready)
			if !ready {
				return errors.New("not connected")
			}
			return nil
		}})
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

// teeMetrics sends every measurement to two sinks.
type teeMetrics [2]bridge.Metrics

var _ bridge.Metrics = teeMetrics{}

func (t teeMetrics) MessageReceived(p string) {
	t[0].MessageReceived(p)
	t[1].MessageReceived(p)
}

func (t teeMetrics) DedupeHit(p string) { t[0].DedupeHit(p); t[1].DedupeHit(p) }

func (t teeMetrics) AgentEvent(p, ty string) { t[0].AgentEvent(p, ty); t[1].AgentEvent(p, ty) }

func (t teeMetrics) RunFinished(p, o string, d time.Duration) {
	t[0].RunFinished(p, o, d)
	t[1].RunFinished(p, o, d)
}

func (t teeMetrics) Edit(p, r string) { t[0].Edit(p, r); t[1].Edit(p, r) }

func (t teeMetrics) RateLimited(p, op string) { t[0].RateLimited(p, op); t[1].RateLimited(p, op) }

func (t teeMetrics) Approval(p, o string, d time.Duration) {
	t[0].Approval(p, o, d)
	t[1].Approval(p, o, d)
}

func (t teeMetrics) TimeToPlaceholder(p string, d time.Duration) {
	t[0].TimeToPlaceholder(p, d)
	t[1].TimeToPlaceholder(p, d)
}

func (t teeMetrics) TimeToFirstStatus(p string, d time.Duration) {
	t[0].TimeToFirstStatus(p, d)
	t[1].TimeToFirstStatus(p, d)
}
