package bridge_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/store/bolt"
)

// genAgent is an in-memory Agent for benchmarks: every stream sends n
// processing events and then done. When n < 0 the stream never ends: it sends
// a processing event every every (or, when every is zero, blocks until closed).
type genAgent struct {
	n     int
	every time.Duration
}

var _ bridge.Agent = genAgent{}

func (a genAgent) Start(context.Context, string, promptev.StartOptions) (*promptev.AgentSession, error) {
	return &promptev.AgentSession{SessionToken: "tok"}, nil
}

// quickQuery is answered with one status and done, whatever the agent's n.
const quickQuery = "quick question"

func (a genAgent) Stream(ctx context.Context, _, _, query string) (bridge.EventStream, error) {
	if query == quickQuery {
		return &genStream{ctx: ctx, n: 1, closed: make(chan struct{})}, nil
	}
	return &genStream{ctx: ctx, n: a.n, every: a.every, closed: make(chan struct{})}, nil
}

func (a genAgent) Trigger(context.Context, string, string, promptev.TriggerOptions) (*promptev.AgentResult, error) {
	return &promptev.AgentResult{Response: "ok"}, nil
}

var benchStatuses = [...]string{"Searching Jira for open tickets", "Reading ticket PROJ-1234", "Summarising 12 comments", "Drafting the answer"}

type genStream struct {
	ctx    context.Context
	n, i   int
	every  time.Duration
	once   sync.Once
	closed chan struct{}
}

func (s *genStream) Next() (promptev.AgentEvent, error) {
	if s.n < 0 {
		var tick <-chan time.Time
		if s.every > 0 {
			t := time.NewTimer(s.every)
			defer t.Stop()
			tick = t.C
		}
		select {
		case <-tick:
			s.i++
			return promptev.AgentEvent{Type: promptev.EventProcessing, Output: benchStatuses[s.i%len(benchStatuses)]}, nil
		case <-s.closed:
			return promptev.AgentEvent{}, io.ErrClosedPipe
		case <-s.ctx.Done():
			return promptev.AgentEvent{}, s.ctx.Err()
		}
	}
	switch {
	case s.i < s.n:
		s.i++
		return promptev.AgentEvent{Type: promptev.EventProcessing, Output: benchStatuses[s.i%len(benchStatuses)]}, nil
	case s.i == s.n:
		s.i++
		return promptev.AgentEvent{Type: promptev.EventDone, Output: "All done."}, nil
	}
	return promptev.AgentEvent{}, io.EOF
}

func (s *genStream) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

// benchLimits are generous limits: the benchmarks measure the bridge, not the budgets.
func benchLimits() chat.Limits {
	return chat.Limits{
		MaxMessageChars: 3900,
		MinEditInterval: time.Millisecond,
		EditRate:        chat.Rate{Count: 1_000_000, Per: time.Second, Burst: 1000},
		EditScope:       chat.ScopeChannel,
		PostRate:        chat.Rate{Count: 1_000_000, Per: time.Second, Burst: 1000},
		PostScope:       chat.ScopeChannel,
	}
}

func benchKey(i int) chat.ConversationKey {
	return chat.ConversationKey{Platform: "slack", Workspace: fmt.Sprint("T", i), Channel: fmt.Sprint("C", i), Thread: "1.0"}
}

// BenchmarkAgentEvent measures the bridge's cost per agent event: one
// conversation streams b.N processing events (rendered, neutralised and
// handed to the coalescing editor) and a done. cpu-µs/event is the process's
// user+system CPU time per event.
func BenchmarkAgentEvent(b *testing.B) {
	p := bridgetest.NewPlatform("slack", benchLimits())
	r := startRig(b, genAgent{n: b.N}, withPlatform(p))
	defer r.stop()
	key := benchKey(0)
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	r.send(key, "U1", "go")
	poll(b, time.Minute, func() bool { return r.metrics.count("run:done") == 1 })
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "µs/event")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/1000, "cpu-µs/event")
}

// cpuTime is the user+system CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkInboundToPlaceholder measures the bridge-side time from an inbound
// message to its placeholder post while 1,000 other conversations are running
// (each streaming a status event every second): new messages arrive one per
// millisecond, each a new conversation whose agent answers at once, so that
// about 1,000 conversations stay running. It also reports the latency of the
// initial burst of 1,000 messages handed over at the same instant.
func BenchmarkInboundToPlaceholder(b *testing.B) {
	const conversations = 1000
	// Slack's figures: every conversation's status edits are metered (at most
	// one per second per message, 40 per minute per workspace). The platform
	// keeps no request log: a log of every edit of the run is not bridge-side,
	// but its growth (copies) and its scanning by the garbage collector would
	// be measured as bridge latency.
	p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits(), bridgetest.WithoutRecords())
	r := startRig(b, genAgent{n: -1, every: time.Second}, withPlatform(p))
	defer r.stop()
	for i := range conversations {
		r.send(benchKey(i), "U1", "hello")
	}
	poll(b, time.Minute, func() bool { return r.metrics.count("placeholder") == conversations })
	burst := r.metrics.durations("placeholder")
	slices.Sort(burst)

	b.ResetTimer()
	for i := range b.N {
		r.send(benchKey(conversations+i), "U1", quickQuery)
		time.Sleep(time.Millisecond)
	}
	poll(b, time.Minute, func() bool { return r.metrics.count("placeholder") == conversations+b.N })
	b.StopTimer()
	all := r.metrics.durations("placeholder")[conversations:]
	slices.Sort(all)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(all[len(all)/2]), "p50-ms")
	b.ReportMetric(ms(all[len(all)*99/100]), "p99-ms")
	b.ReportMetric(ms(all[len(all)-1]), "max-ms")
	b.ReportMetric(ms(burst[len(burst)*99/100]), "burst-p99-ms")
}

// BenchmarkMemoryPerConversation measures heap plus goroutine stacks held per
// active conversation (a stream open, its placeholder posted and live).
func BenchmarkMemoryPerConversation(b *testing.B) {
	const conversations = 2000
	for range b.N {
		p := bridgetest.NewPlatform("slack", benchLimits())
		r := startRig(b, genAgent{n: -1}, withPlatform(p))
		before := memInUse()
		for i := range conversations {
			r.send(benchKey(i), "U1", "hello")
		}
		poll(b, time.Minute, func() bool { return r.metrics.count("placeholder") == conversations })
		after := memInUse()
		b.ReportMetric(float64(after-before)/conversations/1024, "KiB/conversation")
		r.stop()
	}
}

func memInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// BenchmarkTenThousandConversations runs 10,000 conversations to their final
// answer and checks that no goroutine outlives Run.
func BenchmarkTenThousandConversations(b *testing.B) {
	const conversations = 10_000
	for range b.N {
		baseline := goleak.IgnoreCurrent()
		p := bridgetest.NewPlatform("slack", benchLimits())
		r := startRig(b, genAgent{n: 3}, withPlatform(p))
		for i := range conversations {
			r.send(benchKey(i), "U1", "hello")
		}
		poll(b, 5*time.Minute, func() bool { return r.metrics.count("run:done") == conversations })
		r.stop()
		require.NoError(b, goleak.Find(baseline), "no goroutine outlives Run")
		require.Equal(b, conversations, len(p.Keys()))
	}
}

// poll checks cond every millisecond (benchmarks run in real time) and fails
// after limit.
func poll(b *testing.B, limit time.Duration, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("condition not met within %s", limit)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkInboundToPlaceholderBolt measures the bridge-side time from an
// inbound Slack message to its placeholder post with the real bbolt store
// (bolt.Open in b.TempDir(), fsync on), so the dedupe ledger's commits are in
// the path. Each message is a new conversation carrying both Slack dedupe keys
// (event id and channel+ts); the next message is sent once the previous
// placeholder is out, and the agent answers at once, so the run's own store
// writes (in-flight record, session) overlap the next message's dedupe.
func BenchmarkInboundToPlaceholderBolt(b *testing.B) {
	st, err := bolt.Open(filepath.Join(b.TempDir(), "bridge.db"), bolt.Options{}) // fsync on
	require.NoError(b, err)
	defer func() { require.NoError(b, st.Close()) }()
	p := bridgetest.NewPlatform("slack", benchLimits())
	r := startRig(b, genAgent{n: 0}, withPlatform(p), withBackingStore(st))
	defer r.stop()
	ctx := context.Background()
	send := func(i int) {
		m := r.msg(benchKey(i), "U1", "hello")
		m.EventID = fmt.Sprintf("Ev%08d", i)
		require.NoError(b, r.b.HandleMessage(ctx, m))
		require.NoError(b, p.WaitFor(ctx, func() bool { return r.metrics.count("placeholder") == i+1 }))
	}
	const warm = 20
	for i := range warm {
		send(i)
	}
	b.ResetTimer()
	for i := range b.N {
		send(warm + i)
	}
	b.StopTimer()
	all := r.metrics.durations("placeholder")[warm:]
	slices.Sort(all)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(all[len(all)/2]), "p50-ms")
	b.ReportMetric(ms(all[len(all)*99/100]), "p99-ms")
	b.ReportMetric(ms(all[len(all)-1]), "max-ms")
}
