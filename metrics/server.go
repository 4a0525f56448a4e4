package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Check is one readiness condition of /readyz.
type Check struct {
	// Name identifies the condition in the /readyz body ("store", "slack").
	Name string
	// Ready returns nil when the condition holds, or why it does not. It must
	// be quick and must not block on the network.
	Ready func() error
	// Detail, when set, adds a note to a condition that holds (broken
	// installations of a platform whose other teams go on); "" adds none.
	// The same rules as Ready apply.
	Detail func() string
}

// ServerOptions configure NewServer.
type ServerOptions struct {
	// Addr is the TCP address to listen on; port 0 picks a free port (see Start).
	Addr string
	// Metrics is served on /metrics; nil serves no /metrics.
	Metrics *Metrics
	// Checks are the readiness conditions of /readyz, all of which must hold.
	Checks []Check
	// StoreStats, when set, is served on /debug/store: the open store's
	// record counts, for `promptev-bridge store stats --addr` (a running
	// bridge holds the store file's lock, so it cannot be opened from outside).
	StoreStats StoreStatsFunc
	// Logger receives serve errors.
	Logger *slog.Logger
}

// Server is the HTTP side port: /healthz (the process is up), /readyz (every
// check holds), /metrics (Prometheus) and /debug/store (the store's counts).
type Server struct {
	opts    ServerOptions
	handler http.Handler
	srv     *http.Server

	mu      sync.Mutex
	started bool
	done    chan struct{}
}

// NewServer builds the side port; Start begins serving.
func NewServer(opts ServerOptions) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", opts.Metrics.Handler())
	}
	if opts.StoreStats != nil {
		mux.HandleFunc("GET /debug/store", s.debugStore)
	}
	s.handler = mux
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	return s
}

// Handler returns the side port's routes, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens on the configured address and serves in a goroutine owned by
// the server until Shutdown. It returns the bound address (useful with port 0).
func (s *Server) Start() (net.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return nil, errors.New("metrics: server already started")
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", s.opts.Addr, err)
	}
	s.started = true
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opts.Logger.Error("side port stopped", "err", err)
		}
	}()
	return ln.Addr(), nil
}

// Shutdown stops accepting connections, waits for active requests until ctx
// ends, and waits for the serving goroutine to return.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		// Deadline passed: cut the remaining connections.
		_ = s.srv.Close()
	}
	<-s.done
	if err != nil {
		return fmt.Errorf("metrics: shutdown side port: %w", err)
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	var b strings.Builder
	ready := true
	for _, c := range s.opts.Checks {
		if err := c.Ready(); err != nil {
			ready = false
			fmt.Fprintf(&b, "%s: %v\n", c.Name, err)
			continue
		}
		if c.Detail != nil {
			if d := c.Detail(); d != "" {
				fmt.Fprintf(&b, "%s: ok (%s)\n", c.Name, d)
				continue
			}
		}
		fmt.Fprintf(&b, "%s: ok\n", c.Name)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready\n" + b.String()))
		return
	}
	_, _ = w.Write([]byte("ready\n" + b.String()))
}
