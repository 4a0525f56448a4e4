package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/adapters/console"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// BenchmarkParseExampleConfig measures loading config.example.yaml: env
// expansion, the strict key and type walk, decoding and every Validate.
func BenchmarkParseExampleConfig(b *testing.B) {
	data, err := os.ReadFile("config.example.yaml")
	if err != nil {
		b.Fatal(err)
	}
	env := mapEnv(exampleEnv)
	b.ReportAllocs()
	for b.Loop() {
		if _, ps := ParseConfig(data, env); len(ps) > 0 {
			b.Fatal(ps)
		}
	}
}

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
	cfg := DefaultConfig()
	cfg.Promptev.ProjectKey, cfg.Promptev.BaseURL = "pk", srv.URL
	cfg.Bridge.Routes.Default.Agent = "a"
	cfg.Store.Path = filepath.Join(b.TempDir(), "bench.db")
	cfg.HTTP.Listen = ""
	ag, err := newAgent(cfg.Promptev)
	if err != nil {
		b.Fatal(err)
	}
	in, w := io.Pipe()
	out := newOutput()
	a := console.New(console.Options{In: in, Out: out, Session: "bench"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, serveOptions{cfg: cfg, log: slog.New(slog.DiscardHandler), agent: ag, adapters: []chat.Adapter{a}})
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
