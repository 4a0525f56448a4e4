package outbox_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/bridge/outbox"
	"github.com/promptev/promptev-bridge/chat"
)

// benchPlatform is a platform with no limits whose edits signal a channel.
type benchPlatform struct {
	seq    atomic.Int64
	edited chan struct{}
}

var _ chat.Platform = (*benchPlatform)(nil)

func (p *benchPlatform) Name() string { return "bench" }
func (p *benchPlatform) Limits() chat.Limits {
	return chat.Limits{MaxMessageChars: 4000}
}
func (p *benchPlatform) Post(_ context.Context, key chat.ConversationKey, _ chat.Message) (chat.MessageRef, error) {
	return chat.MessageRef{Key: key, ID: strconv.FormatInt(p.seq.Add(1), 10), Posted: time.Now()}, nil
}
func (p *benchPlatform) Edit(context.Context, chat.MessageRef, chat.Message) error {
	p.edited <- struct{}{}
	return nil
}

func startBenchOutbox(b *testing.B, p chat.Platform) (*outbox.Outbox, context.Context) {
	o := outbox.New(p, outbox.Options{FinalDeadline: 0})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); o.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	return o, ctx
}

// BenchmarkOutboxEditPath measures one live state from set() to the
// platform's Edit call: coalescing, dispatch, budget and the send goroutine.
func BenchmarkOutboxEditPath(b *testing.B) {
	p := &benchPlatform{edited: make(chan struct{}, 1)}
	o, ctx := startBenchOutbox(b, p)
	ref, err := o.Post(ctx, slackKey("C1"), chat.Message{Status: "thinking"}, outbox.PrioNormal)
	if err != nil {
		b.Fatal(err)
	}
	lm := o.Live(ref)
	msg := chat.Message{Kind: chat.KindStatus, Status: "Searching Jira...",
		Steps: []chat.Step{{Text: "Read the ticket", Done: true}, {Text: "Searching Jira..."}}}
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		lm.Set(msg)
		<-p.edited
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N)/1e3, "µs/edit")
}

// BenchmarkOutboxSetCoalesced measures set() alone while the message waits for
// its edit interval: the cost of an agent event that is coalesced.
func BenchmarkOutboxSetCoalesced(b *testing.B) {
	o, ctx := startBenchOutbox(b, &intervalPlatform{benchPlatform: benchPlatform{edited: make(chan struct{}, 1)}})
	ref, err := o.Post(ctx, slackKey("C1"), chat.Message{Status: "thinking"}, outbox.PrioNormal)
	if err != nil {
		b.Fatal(err)
	}
	lm := o.Live(ref)
	msgs := make([]chat.Message, 64)
	for i := range msgs {
		msgs[i] = chat.Message{Kind: chat.KindStatus, Status: fmt.Sprintf("step %d", i),
			Steps: []chat.Step{{Text: "Read the ticket", Done: true}, {Text: "Searching Jira..."}}}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		lm.Set(msgs[i&63])
		i++
	}
}

// intervalPlatform has an hour-long edit interval, so set() only coalesces.
type intervalPlatform struct{ benchPlatform }

func (p *intervalPlatform) Limits() chat.Limits {
	return chat.Limits{MaxMessageChars: 4000, MinEditInterval: time.Hour}
}

// BenchmarkOutboxPost measures a post through the post budget (unlimited).
func BenchmarkOutboxPost(b *testing.B) {
	o, ctx := startBenchOutbox(b, &benchPlatform{edited: make(chan struct{}, 1)})
	key := slackKey("C1")
	msg := chat.Message{Kind: chat.KindStatus, Status: "thinking"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := o.Post(ctx, key, msg, outbox.PrioNormal); err != nil {
			b.Fatal(err)
		}
	}
}

// slackBenchPlatform is a benchPlatform with Slack's limits: a 40/min
// workspace edit budget, so nearly every set only coalesces.
type slackBenchPlatform struct{ benchPlatform }

func (p *slackBenchPlatform) Limits() chat.Limits {
	return chat.Limits{MaxMessageChars: 3900, MinEditInterval: time.Second,
		EditRate: chat.Rate{Count: 40, Per: time.Minute, Burst: 1}, EditScope: chat.ScopeWorkspace,
		PostRate: chat.Rate{Count: 1, Per: time.Second, Burst: 3}, PostScope: chat.ScopeChannel}
}

func (p *slackBenchPlatform) Edit(context.Context, chat.MessageRef, chat.Message) error {
	return nil
}

// BenchmarkOutboxSet1000Conversations measures set() spread over 1,000 live
// messages in one Slack workspace (one shared edit budget), from 2 goroutines.
func BenchmarkOutboxSet1000Conversations(b *testing.B) {
	o, ctx := startBenchOutbox(b, &slackBenchPlatform{})
	live := make([]*outbox.LiveMessage, 1000)
	for i := range live {
		ref, err := o.Post(ctx, slackKey(fmt.Sprintf("C%d", i)), chat.Message{Status: "thinking"}, outbox.PrioHigh)
		if err != nil {
			b.Fatal(err)
		}
		live[i] = o.Live(ref)
	}
	msg := chat.Message{Kind: chat.KindStatus, Status: "Searching Jira...",
		Steps: []chat.Step{{Text: "Read the ticket", Done: true}, {Text: "Searching Jira..."}}}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			live[next.Add(1)%int64(len(live))].Set(msg)
		}
	})
}
