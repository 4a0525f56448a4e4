package bridge

import (
	"context"
	"time"
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
func NewOutboxForTest(p Platform, finalDeadline time.Duration, m Metrics) *OutboxForTest {
	return &OutboxForTest{o: newOutbox(p, outboxOptions{FinalDeadline: finalDeadline, Metrics: m})}
}

// Run runs the outbox until ctx ends.
func (t *OutboxForTest) Run(ctx context.Context) { t.o.run(ctx) }

// Post posts msg at priority pri.
func (t *OutboxForTest) Post(ctx context.Context, key ConversationKey, msg Message, pri int) (MessageRef, error) {
	return t.o.post(ctx, key, msg, priority(pri))
}

// Live returns the live editor of ref.
func (t *OutboxForTest) Live(ref MessageRef) *LiveForTest { return &LiveForTest{l: t.o.live(ref)} }

// Set sets the pending state.
func (l *LiveForTest) Set(msg Message) { l.l.set(msg) }

// Finish delivers the final state.
func (l *LiveForTest) Finish(ctx context.Context, chunks []Message, tidy Message) ([]MessageRef, error) {
	return l.l.finish(ctx, chunks, tidy)
}

// Ref returns the message's ref.
func (l *LiveForTest) Ref() MessageRef { return l.l.ref() }

// SplitTextForTest exposes splitText to benchmarks in bridge_test.
func SplitTextForTest(md string, max int) []string { return splitText(md, max) }
