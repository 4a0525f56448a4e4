package bridge

import (
	"time"

	"github.com/promptev/promptev-bridge/bridge/outbox"
)

// Metrics receives the bridge's measurements. The operator's implementation
// (package metrics) exports them to Prometheus; NopMetrics discards them.
// Implementations must be safe for concurrent use and must not block.
type Metrics interface {
	// Edit and RateLimited are the outbox's measurements.
	outbox.Metrics
	// MessageReceived counts an inbound message handed to the bridge.
	MessageReceived(platform string)
	// DedupeHit counts an inbound message dropped as a duplicate delivery.
	DedupeHit(platform string)
	// AgentEvent counts one agent event by type.
	AgentEvent(platform, eventType string)
	// RunFinished counts a finished run by outcome ("done", "error",
	// "approval", "interrupted", "cancelled", "busy") and observes its
	// duration.
	RunFinished(platform, outcome string, d time.Duration)
	// Approval counts a decided approval by outcome ("approved", "denied",
	// "expired", "unauthorized", "duplicate") and observes the wait.
	Approval(platform, outcome string, wait time.Duration)
	// TimeToPlaceholder observes the time from receiving a message to its placeholder post.
	TimeToPlaceholder(platform string, d time.Duration)
	// TimeToFirstStatus observes the time from receiving a message to its first status edit.
	TimeToFirstStatus(platform string, d time.Duration)
	// Feedback counts a rating of an answer that changed the record (a
	// first press or a changed one; replays are not counted), by value
	// ("up" or "down").
	Feedback(platform, value string)
}

// NopMetrics discards every measurement.
type NopMetrics struct{}

var _ Metrics = NopMetrics{}

func (NopMetrics) MessageReceived(string)                    {}
func (NopMetrics) DedupeHit(string)                          {}
func (NopMetrics) AgentEvent(string, string)                 {}
func (NopMetrics) RunFinished(string, string, time.Duration) {}
func (NopMetrics) Edit(string, string)                       {}
func (NopMetrics) RateLimited(string, string)                {}
func (NopMetrics) Approval(string, string, time.Duration)    {}
func (NopMetrics) TimeToPlaceholder(string, time.Duration)   {}
func (NopMetrics) TimeToFirstStatus(string, time.Duration)   {}
func (NopMetrics) Feedback(string, string)                   {}
