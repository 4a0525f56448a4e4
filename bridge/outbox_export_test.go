package bridge

import (
	"context"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// This file exposes the unexported outbox to the external test package
// bridge_test, whose tests need bridgetest (an import cycle for package
// bridge's own tests).

// OutboxForTest wraps an outbox for tests.
type OutboxForTest struct{ o *outbox }

// LiveForTest wraps a liveMessage for tests.
type LiveForTest struct{ l *liveMessage }

// Priorities for OutboxForTest.Post.
const (
	PrioLowForTest    = int(prioLow)
	PrioNormalForTest = int(prioNormal)
	PrioHighForTest   = int(prioHigh)
)

// NewOutboxForTest builds an outbox for p.
func NewOutboxForTest(p chat.Platform, finalDeadline time.Duration, m Metrics) *OutboxForTest {
	return &OutboxForTest{o: newOutbox(p, outboxOptions{FinalDeadline: finalDeadline, Metrics: m})}
}

// Run runs the outbox until ctx ends.
func (t *OutboxForTest) Run(ctx context.Context) { t.o.run(ctx) }

// Post posts msg at priority pri.
func (t *OutboxForTest) Post(ctx context.Context, key chat.ConversationKey, msg chat.Message, pri int) (chat.MessageRef, error) {
	return t.o.post(ctx, key, msg, priority(pri))
}

// Live returns the live editor of ref.
func (t *OutboxForTest) Live(ref chat.MessageRef) *LiveForTest { return &LiveForTest{l: t.o.live(ref)} }

// Set sets the pending state.
func (l *LiveForTest) Set(msg chat.Message) { l.l.set(msg) }

// Finish delivers the final state.
func (l *LiveForTest) Finish(ctx context.Context, chunks []chat.Message, tidy chat.Message) ([]chat.MessageRef, error) {
	return l.l.finish(ctx, chunks, tidy)
}

// Ref returns the message's ref.
func (l *LiveForTest) Ref() chat.MessageRef { return l.l.ref() }

// SplitTextForTest exposes splitText to benchmarks in bridge_test.
func SplitTextForTest(md string, max int) []string { return splitText(md, max) }
