package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/adapters/console"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/internal/config"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// BenchmarkConsoleRoundTrip measures one message through the whole daemon:
// console line in, placeholder, agent stream from the fake Promptev API on
// loopback (three events, no delays), answer rendered, with the real bbolt
// store (fsync on) in a temp dir. It reports the mean round trip.
func BenchmarkConsoleRoundTrip(b *testing.B) {
	agent, err := promptevtest.LoadScript(strings.NewReader(`
script:
  - {type: thoughts, output: "thinking"}
  - {type: processing, output: "Searching Jira..."}
  - {type: done, output: "answer {{query}}"}
`))
	if err != nil {
		b.Fatal(err)
	}
	srv := promptevtest.NewServer("pk")
	defer srv.Close()
	srv.AddAgent("a", agent)
	cfg := config.DefaultConfig()
	cfg.Promptev.ProjectKey, cfg.Promptev.BaseURL = "pk", srv.URL
	cfg.Bridge.Routes.Default.Agent = "a"
	cfg.Store.Path = filepath.Join(b.TempDir(), "bench.db")
	cfg.HTTP.Listen = ""
	ag, err := NewAgent(cfg.Promptev)
	if err != nil {
		b.Fatal(err)
	}
	in, w := io.Pipe()
	out := &waitWriter{changed: make(chan struct{})}
	a := console.New(console.Options{In: in, Out: out, Session: "bench"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServeOptions{Config: cfg, Logger: slog.New(slog.DiscardHandler), Agent: ag, Adapters: []chat.Adapter{a}})
	}()

	b.ReportAllocs()
	var toPlaceholder time.Duration
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		sent := time.Now()
		if _, err := fmt.Fprintf(w, "q%d\n", i); err != nil {
			b.Fatal(err)
		}
		out.waitForCount(b, "… Thinking", i+1)
		toPlaceholder += time.Since(sent)
		out.waitFor(b, fmt.Sprintf("answer q%d\n", i))
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N)/1000, "ms/roundtrip")
	b.ReportMetric(float64(toPlaceholder.Microseconds())/float64(b.N)/1000, "ms/placeholder")
	cancel()
	_ = w.Close()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// waitWriter is a goroutine-safe writer that a benchmark can wait on.
type waitWriter struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func (o *waitWriter) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.b.Write(p)
	close(o.changed)
	o.changed = make(chan struct{})
	return n, err
}

func (o *waitWriter) waitFor(tb testing.TB, s string) { tb.Helper(); o.waitForCount(tb, s, 1) }

// waitForCount blocks until the output contains s at least n times. The
// timeout is a failure guard only.
func (o *waitWriter) waitForCount(tb testing.TB, s string, n int) {
	tb.Helper()
	guard := time.NewTimer(30 * time.Second)
	defer guard.Stop()
	for {
		o.mu.Lock()
		ok := strings.Count(o.b.String(), s) >= n
		ch := o.changed
		o.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-guard.C:
			tb.Fatalf("output never contained %q", s)
		}
	}
}
