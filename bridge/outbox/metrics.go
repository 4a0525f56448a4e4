package outbox

// Metrics receives the outbox's measurements. Implementations must be safe
// for concurrent use and must not block.
type Metrics interface {
	// Edit counts a live edit by result: "sent", "coalesced" (replaced by a
	// newer state before sending), "dropped" (abandoned), "failed".
	Edit(platform, result string)
	// RateLimited counts a 429 from the platform ("post" or "edit").
	RateLimited(platform, op string)
}

// nopMetrics discards every measurement.
type nopMetrics struct{}

func (nopMetrics) Edit(string, string)        {}
func (nopMetrics) RateLimited(string, string) {}
