package bridge_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
)

// streamCall is one call of the streaming platform's native stream.
type nativeCall struct {
	Op  string // start, append, stop
	At  time.Time
	Ref chat.MessageRef
	Msg chat.Message
}

// streamingPlatform is a fake platform with a native stream: it grants
// streams unless decline is set, and answers stops with stopErr while it
// is not nil.
type streamingPlatform struct {
	*bridgetest.Platform
	mu      sync.Mutex
	decline error
	stopErr error
	calls   []nativeCall
	seq     int
}

var _ chat.NativeStreamer = (*streamingPlatform)(nil)

func (p *streamingPlatform) StartStream(ctx context.Context, req chat.StreamRequest) (chat.MessageRef, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.decline != nil {
		return chat.MessageRef{}, p.decline
	}
	p.seq++
	ref := chat.MessageRef{Key: req.Key, ID: fmt.Sprintf("stream-%d", p.seq), Posted: time.Now()}
	p.calls = append(p.calls, nativeCall{Op: "start", At: time.Now(), Ref: ref})
	return ref, nil
}

func (p *streamingPlatform) AppendStream(ctx context.Context, ref chat.MessageRef, m chat.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, nativeCall{Op: "append", At: time.Now(), Ref: ref, Msg: m})
	return nil
}

func (p *streamingPlatform) StopStream(ctx context.Context, ref chat.MessageRef, m chat.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopErr != nil {
		err := p.stopErr
		p.stopErr = nil // the next stop succeeds
		return err
	}
	p.calls = append(p.calls, nativeCall{Op: "stop", At: time.Now(), Ref: ref, Msg: m})
	return nil
}

func (p *streamingPlatform) nativeCalls(op string) []nativeCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []nativeCall
	for _, c := range p.calls {
		if c.Op == op {
			out = append(out, c)
		}
	}
	return out
}

// startStreamingBridge runs a bridge over p until the test ends.
func startStreamingBridge(t *testing.T, p *streamingPlatform, agent bridge.Agent) *bridge.Bridge {
	t.Helper()
	b, err := bridge.New(bridge.Options{Config: testConfig(), Agent: agent, Store: bridgetest.NewMemStore(), Platforms: []chat.Platform{p}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return b
}

func newStreamingPlatform() *streamingPlatform {
	return &streamingPlatform{Platform: bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())}
}

func stepsThenDone(answer string) func(streamCall) []step {
	return func(streamCall) []step {
		return []step{
			{Type: promptev.EventProcessing, Out: "Searching"},
			{Delay: 2 * time.Second, Type: promptev.EventProcessing, Out: "Reading"},
			{Type: promptev.EventProcessing, Out: "Writing"},
			{Delay: 2 * time.Second, Type: promptev.EventDone, Out: answer},
		}
	}
}

func TestNativeStreamIsTheLiveMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStreamingPlatform()
		b := startStreamingBridge(t, p, newFakeAgent(stepsThenDone("The answer.")))
		key := engKey("1")
		require.NoError(t, b.HandleMessage(context.Background(), chat.InboundMessage{Key: key, User: chat.User{ID: "U1"}, Text: "q", MessageID: "m1", Mentioned: true, Received: time.Now()}))
		time.Sleep(10 * time.Second)
		synctest.Wait()

		require.Len(t, p.nativeCalls("start"), 1)
		assert.Empty(t, p.Messages(key), "no placeholder was posted")
		appends := p.nativeCalls("append")
		require.NotEmpty(t, appends)
		for i := 1; i < len(appends); i++ {
			assert.GreaterOrEqual(t, appends[i].At.Sub(appends[i-1].At), time.Second, "appends are paced")
		}
		last := appends[len(appends)-1].Msg
		assert.Equal(t, "Writing", last.Status, "the latest state wins: Reading was replaced unsent")
		stops := p.nativeCalls("stop")
		require.Len(t, stops, 1)
		final := stops[0].Msg
		assert.Equal(t, chat.KindAnswer, final.Kind)
		assert.Equal(t, "The answer.", final.Body)
		require.Len(t, final.Steps, 3, "the stream ends with every step")
		for _, s := range final.Steps {
			assert.True(t, s.Done, "step %q completed", s.Text)
		}
		assert.Equal(t, []int{1, 2, 3}, []int{final.Steps[0].Seq, final.Steps[1].Seq, final.Steps[2].Seq})
	})
}

func TestDeclinedStreamFallsBackToThePlaceholder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStreamingPlatform()
		p.decline = fmt.Errorf("%w: budget short", chat.ErrNoLane)
		b := startStreamingBridge(t, p, newFakeAgent(stepsThenDone("Edited answer.")))
		key := engKey("1")
		require.NoError(t, b.HandleMessage(context.Background(), chat.InboundMessage{Key: key, User: chat.User{ID: "U1"}, Text: "q", MessageID: "m1", Mentioned: true, Received: time.Now()}))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		assert.Empty(t, p.nativeCalls("append"))
		msgs := p.Messages(key)
		require.Len(t, msgs, 1, "the placeholder, edited to the answer")
		assert.Equal(t, "Edited answer.", p.Current(msgs[0].Ref).Body)
	})
}

func TestStreamStopOverBudgetPostsTheAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStreamingPlatform()
		p.stopErr = &chat.RateLimitError{RetryAfter: 30 * time.Second}
		b := startStreamingBridge(t, p, newFakeAgent(stepsThenDone("Posted answer.")))
		key := engKey("1")
		require.NoError(t, b.HandleMessage(context.Background(), chat.InboundMessage{Key: key, User: chat.User{ID: "U1"}, Text: "q", MessageID: "m1", Mentioned: true, Received: time.Now()}))
		time.Sleep(5 * time.Second)
		synctest.Wait()
		msgs := p.Messages(key)
		require.Len(t, msgs, 1, "the answer was posted at once, not held for the stop budget")
		assert.Equal(t, "Posted answer.", p.Current(msgs[0].Ref).Body)
		assert.Empty(t, p.nativeCalls("stop"))

		time.Sleep(40 * time.Second)
		synctest.Wait()
		stops := p.nativeCalls("stop")
		require.Len(t, stops, 1, "the stream is stopped once its budget allows")
		assert.Equal(t, "✓ 3 steps", stops[0].Msg.Status, "stopped with the summary")
	})
}
