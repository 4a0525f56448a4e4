package discordfake

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Discord's rate limits as the fake enforces them (EnforceRateLimits).
//
// Discord documents a global limit of 50 requests per second per bot across
// all routes, from which interaction callbacks are exempt, and per-route
// buckets whose sizes it announces in X-RateLimit-* headers rather than in
// the docs (https://discord.com/developers/docs/topics/rate-limits). The
// per-channel message bucket is the widely observed 5 writes per 5 s; the
// fake counts posts, edits and deletes in a channel, and the creation of a
// thread on one of its messages, against it. A thread is a channel with its
// own bucket.
const (
	// GlobalLimit is the most requests per GlobalWindow a bot may make.
	GlobalLimit  = 50
	GlobalWindow = time.Second
	// ChannelWrites is the most message writes per ChannelWindow in one channel.
	ChannelWrites = 5
	ChannelWindow = 5 * time.Second
)

// window is one fixed rate-limit window, started by its first request, as
// Discord's buckets behave: Limit requests, then none until the reset.
type window struct {
	start time.Time
	count int
}

// limiter holds the fake's rate-limit state; guarded by Server.mu.
type limiter struct {
	on      bool
	global  window
	buckets map[string]*window
	// requests are the times of every REST request the limits apply to
	// (all but interaction callbacks), refused ones included.
	requests []time.Time
}

// EnforceRateLimits turns Discord's global and per-channel limits on (see
// GlobalLimit and ChannelWrites): a request over a limit is answered 429
// with Discord's headers and body (global: true for the global limit), and
// every answer on a bucketed route carries X-RateLimit-* headers.
func (s *Server) EnforceRateLimits(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits.on = on
	if s.limits.buckets == nil {
		s.limits.buckets = make(map[string]*window)
	}
}

// RequestTimes returns when each rate-limited REST request arrived (every
// request but interaction callbacks), in order.
func (s *Server) RequestTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.limits.requests...)
}

// MaxPerWindow returns the most of times (sorted) that fall in any window of
// length d: the busiest stretch of a request log.
func MaxPerWindow(times []time.Time, d time.Duration) int {
	best, lo := 0, 0
	for hi := range times {
		for times[hi].Sub(times[lo]) >= d {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// routeBucket names the per-route bucket of a request, "" when the route
// has only the global limit. Thread creation counts on the parent channel.
func routeBucket(method, path string) string {
	rest, ok := strings.CutPrefix(path, "/api/v9/channels/")
	if !ok {
		return ""
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2 && parts[1] == "messages" && method == http.MethodPost,
		len(parts) == 3 && parts[1] == "messages" && (method == http.MethodPatch || method == http.MethodDelete),
		len(parts) == 4 && parts[1] == "messages" && parts[3] == "threads" && method == http.MethodPost:
		return "write:" + parts[0]
	case len(parts) == 2 && parts[1] == "typing":
		return "typing:" + parts[0]
	}
	return ""
}

// limited reports whether r counts against the rate limits at all.
func limited(r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, "/api/v9/") {
		return false
	}
	return !(strings.HasPrefix(r.URL.Path, "/api/v9/interactions/") && strings.HasSuffix(r.URL.Path, "/callback"))
}

// rateLimit wraps the REST routes with the limits; it answers 429 itself or
// sets the bucket headers and passes the request on.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !limited(r) {
			next.ServeHTTP(w, r)
			return
		}
		now := time.Now()
		s.mu.Lock()
		l := &s.limits
		l.requests = append(l.requests, now)
		if !l.on {
			s.mu.Unlock()
			next.ServeHTTP(w, r)
			return
		}
		if l.global.start.IsZero() || now.Sub(l.global.start) >= GlobalWindow {
			l.global = window{start: now}
		}
		if l.global.count >= GlobalLimit {
			reset := l.global.start.Add(GlobalWindow).Sub(now)
			s.tooManyLocked(w, reset, true, "", GlobalLimit)
			s.mu.Unlock()
			return
		}
		l.global.count++
		key := routeBucket(r.Method, r.URL.Path)
		if key == "" {
			s.mu.Unlock()
			next.ServeHTTP(w, r)
			return
		}
		b := l.buckets[key]
		if b == nil || now.Sub(b.start) >= ChannelWindow {
			b = &window{start: now}
			l.buckets[key] = b
		}
		reset := b.start.Add(ChannelWindow).Sub(now)
		if b.count >= ChannelWrites {
			s.tooManyLocked(w, reset, false, key, ChannelWrites)
			s.mu.Unlock()
			return
		}
		b.count++
		setBucketHeaders(w.Header(), key, ChannelWrites, ChannelWrites-b.count, reset, now)
		s.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// setBucketHeaders writes Discord's X-RateLimit-* headers of a bucket.
func setBucketHeaders(h http.Header, bucket string, limit, remaining int, reset time.Duration, now time.Time) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset-After", strconv.FormatFloat(reset.Seconds(), 'f', 3, 64))
	h.Set("X-RateLimit-Reset", strconv.FormatFloat(float64(now.Add(reset).UnixMilli())/1000, 'f', 3, 64))
	h.Set("X-RateLimit-Bucket", bucketHash(bucket))
}

// bucketHash is an opaque bucket id, as Discord sends one.
func bucketHash(key string) string {
	var h uint32 = 2166136261
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return strconv.FormatUint(uint64(h), 16)
}

// tooManyLocked writes a 429 as Discord does for a bucket or the global
// limit; s.mu must be held.
func (s *Server) tooManyLocked(w http.ResponseWriter, reset time.Duration, global bool, bucket string, limit int) {
	s.snap.RateLimited++
	if global {
		s.snap.GlobalRateLimited++
	}
	s.notifyLocked()
	secs := math.Max(reset.Seconds(), 0.001)
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(int(math.Ceil(secs))))
	if global {
		h.Set("X-RateLimit-Global", "true")
		h.Set("X-RateLimit-Scope", "global")
	} else {
		setBucketHeaders(h, bucket, limit, 0, reset, time.Now())
		h.Set("X-RateLimit-Scope", "user")
	}
	writeJSON(w, http.StatusTooManyRequests, map[string]any{
		"message": "You are being rate limited.", "retry_after": secs, "global": global,
	})
}
