package slackfake

import (
	"math"
	"time"
)

// Slack's documented rate limits, as the fake enforces them with
// WithRateLimits:
//
//   - chat.postMessage: about one message per second per channel, with short
//     bursts allowed; modelled as a token bucket of PostBurst messages that
//     refills one a second.
//   - chat.update: Tier 3, 50 calls a minute per workspace; modelled as at
//     most 50 calls in any 60-second window.
//   - chat.startStream and chat.stopStream: Tier 2, 20 a minute per
//     workspace; chat.appendStream: Tier 4, 100 a minute per workspace.
//   - assistant.threads.setStatus: Slack documents "special rate limits"
//     without a figure; modelled as one call a second per thread.
//   - agents.sessions.setStatus: modelled as Tier 3, 50 a minute per
//     workspace.
const (
	PostPerSecond  = 1
	PostBurst      = 3
	UpdatePerMin   = 50
	updateWindow   = time.Minute
	postRetryAfter = time.Second
)

// WithRateLimits makes the fake answer HTTP 429 (error "ratelimited", with
// Retry-After) to chat.postMessage and chat.update calls over Slack's
// documented limits (PostPerSecond with a burst of PostBurst per channel;
// UpdatePerMin per workspace). Calls answered 429 do not count.
func WithRateLimits() Option {
	return func(s *Server) { s.limits = &limiter{posts: map[string]*bucket{}, windows: map[string][]time.Time{}} }
}

// windowLimits are the methods limited to Max calls in any Window, per
// scope (the workspace, or for assistant.threads.setStatus the thread).
var windowLimits = map[string]struct {
	Max    int
	Window time.Duration
}{
	"chat.startStream":            {20, time.Minute},
	"chat.stopStream":             {20, time.Minute},
	"chat.appendStream":           {100, time.Minute},
	"assistant.threads.setStatus": {1, time.Second},
	"agents.sessions.setStatus":   {50, time.Minute},
}

// limiter is the state of WithRateLimits.
type limiter struct {
	posts   map[string]*bucket // by channel
	updates []time.Time        // successful chat.update calls in the last window
	windows map[string][]time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// admit reports whether a call of method on channel (its scope: the
// channel, or the thread for assistant.threads.setStatus) at now is within the
// limits (and counts it), or how long to wait.
func (l *limiter) admit(method, channel string, now time.Time) (bool, time.Duration) {
	switch method {
	case "chat.postMessage":
		b := l.posts[channel]
		if b == nil {
			b = &bucket{tokens: PostBurst, last: now}
			l.posts[channel] = b
		}
		b.tokens = math.Min(PostBurst, b.tokens+now.Sub(b.last).Seconds()*PostPerSecond)
		b.last = now
		if b.tokens < 1 {
			return false, postRetryAfter
		}
		b.tokens--
		return true, 0
	case "chat.update":
		cut := 0
		for cut < len(l.updates) && now.Sub(l.updates[cut]) >= updateWindow {
			cut++
		}
		l.updates = l.updates[cut:]
		if len(l.updates) >= UpdatePerMin {
			return false, updateWindow - now.Sub(l.updates[0])
		}
		l.updates = append(l.updates, now)
		return true, 0
	}
	if w, ok := windowLimits[method]; ok {
		k := method + " " + channel
		calls := l.windows[k]
		cut := 0
		for cut < len(calls) && now.Sub(calls[cut]) >= w.Window {
			cut++
		}
		calls = calls[cut:]
		if len(calls) >= w.Max {
			l.windows[k] = calls
			return false, w.Window - now.Sub(calls[0])
		}
		l.windows[k] = append(calls, now)
	}
	return true, 0
}

// retryAfterSeconds is Slack's Retry-After for a wait: whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
