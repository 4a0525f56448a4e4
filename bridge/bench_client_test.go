package bridge_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// helperServerEnv makes TestHelperPromptevServer serve instead of returning.
const helperServerEnv = "PVB_HELPER_PROMPTEVTEST"

// newStallingServer returns a loopback promptevtest server whose agent
// "agent-1" sends one status event and then keeps every stream open.
func newStallingServer() *promptevtest.Server {
	srv := promptevtest.NewServer("pk-test")
	srv.AddAgent("agent-1", promptevtest.Agent{Script: []promptevtest.Event{
		{Type: promptevtest.TypeProcessing, Output: "Searching Jira for open tickets"},
		{Type: promptevtest.TypeDone, Output: "never sent"},
	}})
	srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultStall, AfterEvents: 1}) // every stream, until Close
	return srv
}

// TestHelperPromptevServer is not a test: run by
// BenchmarkMemoryPerConversationClient as a child process (with
// helperServerEnv set), it serves newStallingServer, prints its URL and
// stops when its standard input is closed.
func TestHelperPromptevServer(t *testing.T) {
	if os.Getenv(helperServerEnv) != "1" {
		return
	}
	srv := newStallingServer()
	defer srv.Close()
	fmt.Println(srv.URL)
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// startHelperServer runs newStallingServer in a child process and returns its
// URL; the child stops when the benchmark ends.
func startHelperServer(b *testing.B) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPromptevServer$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperServerEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(b, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start())
	b.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(b, err, "helper server URL")
	go func() { _, _ = io.Copy(io.Discard, stdout) }() // the child's "PASS" at exit
	return strings.TrimSpace(line)
}

// BenchmarkMemoryPerConversationClient measures the heap plus goroutine
// stacks held per active conversation on the real promptev client: 2,000
// conversations, each with its placeholder posted and live (one status
// event rendered) and its SSE stream open on a loopback promptevtest server
// that stalls it.
//
// server=same-process counts the bridge, the promptev client and its HTTP/1
// connection (transport goroutines and buffers) and the fake server's side of
// each connection (net/http server conn and handler goroutine). With
// server=helper-process the server runs in a child process, so the figure is
// the bridge process alone; the difference is the server's share.
func BenchmarkMemoryPerConversationClient(b *testing.B) {
	b.Run("server=same-process", func(b *testing.B) {
		for range b.N {
			srv := newStallingServer()
			measureClientConversations(b, srv.URL)
			srv.Close()
		}
	})
	b.Run("server=helper-process", func(b *testing.B) {
		url := startHelperServer(b)
		for range b.N {
			measureClientConversations(b, url)
		}
	})
}

// measureClientConversations opens the conversations against the API at url
// and reports the memory and goroutines they hold.
func measureClientConversations(b *testing.B, url string) {
	b.Helper()
	const conversations = 2000
	client, err := promptev.New("pk-test", promptev.WithBaseURL(url))
	require.NoError(b, err)
	defer client.CloseIdleConnections()
	p := bridgetest.NewPlatform("slack", benchLimits())
	r := startRig(b, bridge.ClientAgent(client), withPlatform(p))
	defer r.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	heap0, stack0 := memSplit()
	goroutines := runtime.NumGoroutine()
	for i := range conversations {
		r.send(benchKey(i), "U1", "hello")
	}
	// The status edit follows the event, so the last event wakes WaitFor.
	require.NoError(b, p.WaitFor(ctx, func() bool {
		return r.metrics.count("event:processing") == conversations
	}))
	heap1, stack1 := memSplit()
	require.Equal(b, conversations, r.metrics.count("placeholder"))
	require.Zero(b, r.metrics.count("run:done")+r.metrics.count("run:error"), "every stream still open")
	kib := func(before, after uint64) float64 { return (float64(after) - float64(before)) / conversations / 1024 }
	b.ReportMetric(kib(heap0+stack0, heap1+stack1), "KiB/conversation")
	b.ReportMetric(kib(heap0, heap1), "heap-KiB/conversation")
	b.ReportMetric(kib(stack0, stack1), "stack-KiB/conversation")
	b.ReportMetric(float64(runtime.NumGoroutine()-goroutines)/conversations, "goroutines/conversation")
}

// memSplit is memInUse split into HeapInuse and StackInuse.
func memSplit() (heap, stack uint64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse, m.StackInuse
}
