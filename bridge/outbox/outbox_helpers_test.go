package outbox_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/bridge/outbox"
	"github.com/promptev/promptev-bridge/chat"
)

// obMetrics counts the outbox's edit and rate-limit measurements.
type obMetrics struct {
	mu          sync.Mutex
	edits       map[string]int
	rateLimited map[string]int
}

func newOBMetrics() *obMetrics {
	return &obMetrics{edits: map[string]int{}, rateLimited: map[string]int{}}
}

func (m *obMetrics) Edit(_, result string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.edits[result]++
}

func (m *obMetrics) RateLimited(_, op string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rateLimited[op]++
}

func (m *obMetrics) edit(result string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.edits[result]
}

func (m *obMetrics) limited(op string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rateLimited[op]
}

// obRig is an outbox running against a fake platform inside a synctest bubble
// (or in real time).
type obRig struct {
	t       *testing.T
	p       *bridgetest.Platform
	o       *outbox.Outbox
	metrics *obMetrics
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
}

// startOutbox runs an outbox for p; it is stopped (and its goroutines awaited)
// at cleanup, or earlier by stop.
func startOutbox(t *testing.T, p *bridgetest.Platform, finalDeadline time.Duration) *obRig {
	t.Helper()
	m := newOBMetrics()
	r := &obRig{t: t, p: p, o: outbox.New(p, outbox.Options{FinalDeadline: finalDeadline, Metrics: m}), metrics: m, done: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go func() {
		defer close(r.done)
		r.o.Run(r.ctx)
	}()
	t.Cleanup(r.stop)
	return r
}

// stop cancels the outbox and waits for run to return.
func (r *obRig) stop() {
	r.cancel()
	<-r.done
}

// placeholder posts a status placeholder into key and returns its live editor.
func (r *obRig) placeholder(key chat.ConversationKey) *outbox.LiveMessage {
	r.t.Helper()
	ref, err := r.o.Post(r.ctx, key, chat.Message{Kind: chat.KindStatus, Status: "thinking..."}, outbox.PrioNormal)
	require.NoError(r.t, err)
	return r.o.Live(ref)
}

// slackKey returns a conversation in workspace T1, channel C<n>.
func slackKey(ch string) chat.ConversationKey {
	return chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: ch, Thread: "1.0"}
}

// discordKey returns a conversation in guild G1, channel ch.
func discordKey(ch string) chat.ConversationKey {
	return chat.ConversationKey{Platform: "discord", Workspace: "G1", Channel: ch}
}

// maxInWindow returns the most of times that fall in any half-open window
// [t, t+window).
func maxInWindow(times []time.Time, window time.Duration) int {
	ts := append([]time.Time(nil), times...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	best, j := 0, 0
	for i := range ts {
		for j < len(ts) && ts[j].Before(ts[i].Add(window)) {
			j++
		}
		best = max(best, j-i)
	}
	return best
}

// recordTimes returns the times of the applied records of the given ops.
func recordTimes(p *bridgetest.Platform, ops ...bridgetest.Op) []time.Time {
	var out []time.Time
	for _, rec := range p.Records() {
		if rec.Err != nil {
			continue
		}
		for _, op := range ops {
			if rec.Op == op {
				out = append(out, rec.Time)
			}
		}
	}
	return out
}

// editsOf returns the applied edits of ref, in order.
func editsOf(p *bridgetest.Platform, ref chat.MessageRef) []bridgetest.Record {
	var out []bridgetest.Record
	for _, rec := range p.Applied(bridgetest.OpEdit) {
		if rec.Ref.ID == ref.ID {
			out = append(out, rec)
		}
	}
	return out
}

// answer is a one-chunk final answer.
func answer(text string) []chat.Message {
	return []chat.Message{{Kind: chat.KindAnswer, Body: text, Final: true}}
}
