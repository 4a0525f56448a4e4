package promptev_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// BenchmarkStream measures the client reading events over loopback HTTP: one
// op is one event. The server writes a pre-encoded body so that the figures
// (events/s, allocs/event) are the client's. events/s is wall-clock; on a
// shared machine events/cpu-s (process CPU time, server included) is the
// steadier figure.
func BenchmarkStream(b *testing.B) {
	for _, bc := range []struct {
		name      string
		output    int // bytes of output per event
		perStream int
	}{
		{name: "100B", output: 100 - len(`data: {"type":"processing","output":""}`+"\n\n"), perStream: 2000},
		{name: "64KiB", output: 64<<10 - len(`data: {"type":"processing","output":""}`+"\n\n"), perStream: 64},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ev := promptevtest.EncodeEvent(promptevtest.Event{Type: "processing", Output: strings.Repeat("x", bc.output)}, promptevtest.FramingLF)
			body := append(bytes.Repeat(ev, bc.perStream), promptevtest.EncodeEvent(promptevtest.Event{Type: "done", Output: "ok"}, promptevtest.FramingLF)...)
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = w.Write(body)
			}))
			defer ts.Close()
			c, err := promptev.New("pk_bench", promptev.WithBaseURL(ts.URL))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(ev)))
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			mallocs := ms.Mallocs
			cpu0 := cpuTime()
			b.ResetTimer()
			n := 0
			for n < b.N {
				st, err := c.Stream(b.Context(), "bench", "tok", "go")
				if err != nil {
					b.Fatal(err)
				}
				for n < b.N {
					ev, err := st.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					if len(ev.Output) == 0 {
						b.Fatal("empty event")
					}
					n++
				}
				_ = st.Close()
			}
			b.StopTimer()
			cpu := cpuTime() - cpu0
			runtime.ReadMemStats(&ms)
			if cpu > 0 {
				// CPU time of the whole process (client, loopback server, GC)
				// per event: the figure that does not depend on machine load.
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/event")
				b.ReportMetric(float64(n)/cpu.Seconds(), "events/cpu-s")
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(ms.Mallocs-mallocs)/float64(n), "allocs/event")
		})
	}
}
