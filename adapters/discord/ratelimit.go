package discord

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// The adapter's rate budgets, each with a margin under Discord's limit
// (https://discord.com/developers/docs/topics/rate-limits). The README's
// "Rate budgets" section lists them beside the documented limits.
const (
	// restRate and restBurst bound every REST call but interaction
	// callbacks, in the transport: 44 a second with a burst of 2, so no
	// second sends more than 45 of Discord's 50; the rest absorbs network
	// jitter that bunches requests on arrival.
	restRate  = 44
	restBurst = 2
	// outboxRate and outboxBurst are the bot-wide budget of the bridge's
	// posts, edits and thread creations (chat.Limits.GlobalRate): the
	// transport's 44 a second, so a placeholder (a thread and a post) is not
	// held below the rate every call is allowed anyway, with a burst of 4 of
	// which live status edits leave 2 to finals and posts. Writes queue in
	// the outbox (by priority, then arrival), and every call still passes
	// the transport, so no second exceeds 45; typing is the first dropped
	// there, as it goes only with the transport's burst unspent.
	outboxRate  = restRate
	outboxBurst = 4
	// typingReserve is how many tokens of the REST burst a typing indicator
	// leaves for other calls: when fewer are left, it is skipped.
	typingReserve = 1
	// assumedChannelWrites is the per-channel write bucket the budgets
	// assume (5 per 5 s); a smaller X-RateLimit-Limit is logged.
	assumedChannelWrites = 5
)

// Invalid requests: Discord bans an IP for an hour after 10,000 answers 401,
// 403 or 429 in 10 minutes. The adapter warns at a tenth of that.
const (
	invalidWarnAt     = 1000
	invalidWarnWindow = 10 * time.Minute
)

// restLimiter meters the adapter's REST calls: one bot-wide token bucket
// (GCRA), a bot-wide pause after a global 429, and per-route gates that hold
// a route whose X-RateLimit-Remaining reached 0 until its reset, so a bucket
// smaller than assumed costs waiting, not 429s.
type restLimiter struct {
	log     *slog.Logger
	now     func() time.Time
	counter func() chat.RequestCounter

	mu          sync.Mutex
	interval    time.Duration
	tolerance   time.Duration
	tat         time.Time
	pausedUntil time.Time
	gates       map[string]time.Time // route key -> held until
	invalid     []time.Time          // invalid answers within invalidWarnWindow
	warnedAt    time.Time
	warnedSmall bool
	// shared, when set, holds the bot-wide bucket shared with the other
	// replicas (sharedrest.go); the local one then meters only while the
	// store cannot be reached.
	shared chat.SharedBudgets
}

func newRESTLimiter(log *slog.Logger, now func() time.Time) *restLimiter {
	interval := (time.Second + restRate - 1) / restRate
	return &restLimiter{
		log: log, now: now, interval: interval, tolerance: (restBurst - 1) * interval,
		gates: make(map[string]time.Time),
	}
}

// wait takes a token for a request on route key, sleeping until one is
// free, or returns ctx's error. The token is taken when the request goes,
// not reserved ahead: a goroutine that wakes late cannot join a burst.
func (l *restLimiter) wait(ctx context.Context, key string) error {
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		l.mu.Lock()
		now := l.now()
		at := now
		if g, ok := l.gates[key]; ok {
			if g.After(at) {
				at = g
			} else {
				delete(l.gates, key)
			}
		}
		if l.pausedUntil.After(at) {
			at = l.pausedUntil
		}
		shared := l.shared
		if n := l.tat.Add(-l.tolerance); shared == nil && n.After(at) {
			at = n
		}
		if !at.After(now) && shared == nil {
			l.tat = maxTime(l.tat, now).Add(l.interval)
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		if !at.After(now) {
			wait, err := l.drawShared(ctx, shared, 0)
			if err != nil || wait == 0 {
				return err
			}
			at = now.Add(wait)
		}
		if t == nil {
			t = time.NewTimer(at.Sub(now))
		} else {
			t.Reset(at.Sub(now))
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// tryTake takes a token now if at least keep more are left, for calls that
// are better skipped than delayed (the typing indicator).
func (l *restLimiter) tryTake(keep int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.pausedUntil.After(now) {
		return false
	}
	if shared := l.shared; shared != nil {
		l.mu.Unlock()
		wait, err := l.drawShared(context.Background(), shared, keep)
		l.mu.Lock()
		return err == nil && wait == 0
	}
	if l.tat.Add(-l.tolerance + time.Duration(keep)*l.interval).After(now) {
		return false
	}
	l.tat = maxTime(l.tat, now).Add(l.interval)
	return true
}

// fullAt returns when the bot-wide bucket is full again.
func (l *restLimiter) fullAt() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maxTime(l.tat, l.pausedUntil)
}

// observe learns from an answer on route key: a global 429 pauses every
// call, an exhausted bucket holds its route until the reset, and invalid
// answers are counted.
func (l *restLimiter) observe(method, route, key string, resp *http.Response, global bool, retryAfter time.Duration) {
	if resp.StatusCode == http.StatusTooManyRequests && global {
		l.sharePause(retryAfter)
	}
	h := resp.Header
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if resp.StatusCode == http.StatusTooManyRequests && global {
		if until := now.Add(retryAfter); until.After(l.pausedUntil) {
			l.pausedUntil = until
		}
		l.log.Warn("discord global rate limit hit; pausing every request", "route", method+" "+route, "retry_after", retryAfter)
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		if after, err := strconv.ParseFloat(h.Get("X-RateLimit-Reset-After"), 64); err == nil && after > 0 {
			until := now.Add(time.Duration(after * float64(time.Second)))
			if until.After(l.gates[key]) {
				l.gates[key] = until
			}
		}
	}
	if n, err := strconv.Atoi(h.Get("X-RateLimit-Limit")); err == nil && n < assumedChannelWrites &&
		strings.HasPrefix(key, "channel ") && !l.warnedSmall {
		l.warnedSmall = true
		l.log.Warn("discord announces a channel bucket smaller than the budget assumes; requests wait for its resets",
			"route", method+" "+route, "limit", n, "assumed", assumedChannelWrites)
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
	default:
		return
	}
	if l.counter == nil {
		return
	}
	if c := l.counter(); c != nil {
		c.InvalidRequest(Name, method+" "+route, resp.StatusCode)
	}
	cut := 0
	for cut < len(l.invalid) && now.Sub(l.invalid[cut]) >= invalidWarnWindow {
		cut++
	}
	l.invalid = append(l.invalid[cut:], now)
	if len(l.invalid) >= invalidWarnAt && now.Sub(l.warnedAt) >= invalidWarnWindow {
		l.warnedAt = now
		l.log.Warn("discord refused many requests as invalid (401/403/429); at 10,000 in 10 minutes Discord bans the IP for an hour",
			"count", len(l.invalid), "window", invalidWarnWindow, "route", method+" "+route, "status", resp.StatusCode)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// routeOf returns a request path with its ids replaced by placeholders
// (for logs and metrics), and the key of its rate-limit gate: the channel
// for writes in a channel, else the route itself.
func routeOf(method, path string) (route, key string) {
	if i := strings.Index(path, "/api/v"); i >= 0 {
		path = path[i:]
		if j := strings.IndexByte(path[len("/api/v"):], '/'); j >= 0 {
			path = path[len("/api/v")+j:]
		}
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	major := ""
	for i, p := range parts {
		switch {
		case i > 0 && (parts[i-1] == "webhooks" || parts[i-1] == "interactions") && i+1 < len(parts):
			parts[i] = "{id}"
		case i > 1 && (parts[i-2] == "webhooks" || parts[i-2] == "interactions"):
			parts[i] = "{token}"
		case isSnowflake(p):
			if i == 1 && parts[0] == "channels" {
				major = p
			}
			parts[i] = "{id}"
		}
	}
	route = "/" + strings.Join(parts, "/")
	if major != "" && method != http.MethodGet {
		return route, "channel " + major
	}
	return route, method + " " + route
}

func isSnowflake(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// prepaidKey marks a request context whose token was already taken.
type prepaidKey struct{}

// withPrepaid marks ctx: the transport does not take another token.
func withPrepaid(ctx context.Context) context.Context {
	return context.WithValue(ctx, prepaidKey{}, true)
}

// isCallback reports whether path is an interaction callback, which
// Discord exempts from the global limit.
func isCallback(path string) bool {
	return strings.Contains(path, "/interactions/") && strings.HasSuffix(path, "/callback")
}
