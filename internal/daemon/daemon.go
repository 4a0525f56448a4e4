// Package daemon wires promptev-bridge together: it builds the Promptev
// client, the adapters of the enabled platforms (from the list of platforms
// in internal/config), the store (store.Open), the engine and the side port,
// serves until told to stop, and shuts them down in order.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/internal/config"
	"github.com/promptev/promptev-bridge/promptev"
)

// Options are what Run needs besides the configuration.
type Options struct {
	// Logger is the root logger.
	Logger *slog.Logger
	// Host is the terminal the process runs in; Run sets Host.Logger per
	// platform.
	Host chat.Host
	// Version is the build's version, for the log and /metrics.
	Version string
	// OnSidePort, when set, is told the side port's bound address.
	OnSidePort func(net.Addr)
}

// ErrNoPlatform is returned when the config enables no platform.
var ErrNoPlatform = errors.New(config.NoPlatform())

// Run builds the adapters of the platforms cfg enables, in the order of the
// list of platforms, and serves until ctx ends or an adapter fails.
func Run(ctx context.Context, cfg config.Config, o Options) error {
	ag, err := NewAgent(cfg.Promptev)
	if err != nil {
		return err
	}
	adapters, err := Adapters(cfg, o.Logger, o.Host)
	if err != nil {
		return err
	}
	if len(adapters) == 0 {
		return ErrNoPlatform
	}
	stop := make(chan struct{})
	watchDone := make(chan struct{})
	defer close(watchDone)
	if ended := inputEnded(adapters); ended != nil {
		go func() {
			select {
			case <-ended:
				o.Logger.Info("terminal input ended (Ctrl-D or /quit): shutting down")
				close(stop)
			case <-watchDone:
			}
		}()
	}
	return Serve(ctx, ServeOptions{
		Config: cfg, Logger: o.Logger, Agent: ag, Adapters: adapters,
		Version: o.Version, OnSidePort: o.OnSidePort, Stop: stop,
	})
}

// inputEnder is the ability of an adapter that reads a terminal (the
// console): InputDone is closed when its input ends.
type inputEnder interface {
	InputDone() <-chan struct{}
}

// inputEnded returns the InputDone channel of the first adapter that reads
// the terminal, or nil: the end of the terminal's input (Ctrl-D) ends run,
// as it ends demo and chat.
func inputEnded(adapters []chat.Adapter) <-chan struct{} {
	for _, a := range adapters {
		if ie, ok := a.(inputEnder); ok {
			return ie.InputDone()
		}
	}
	return nil
}

// Adapters builds the adapter of every platform cfg enables, in the order of
// the list of platforms; each gets the logger with its component attribute.
func Adapters(cfg config.Config, log *slog.Logger, host chat.Host) ([]chat.Adapter, error) {
	var adapters []chat.Adapter
	for _, r := range config.Platforms() {
		s := cfg.Section(r.Name)
		if s == nil || !s.IsEnabled() {
			continue
		}
		h := host
		h.Logger = log.With("component", r.Name)
		a, err := r.New(s, h)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Name, err)
		}
		adapters = append(adapters, a)
	}
	return adapters, nil
}

// NewLogger builds the root logger from the log section.
func NewLogger(w io.Writer, c config.LogConfig) *slog.Logger {
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

// NewAgent builds the Promptev client from the promptev section; extra
// options (an HTTP client) come last.
func NewAgent(c config.PromptevConfig, extra ...promptev.Option) (bridge.Agent, error) {
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
	client, err := promptev.New(c.ProjectKey, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("promptev client: %w", err)
	}
	return bridge.ClientAgent(client), nil
}
