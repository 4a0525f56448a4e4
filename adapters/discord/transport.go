package discord

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"
)

// transport sits under discordgo's REST client. It sends requests built on
// discordgo's fixed https://discord.com/api/v9/ endpoints to the configured
// api_url instead (discordgo's Endpoint* globals are never reassigned), and
// normalises 429 answers so discordgo always sees a JSON retry_after (a
// rate-limit proxy may answer with only a Retry-After header).
type transport struct {
	base http.RoundTripper
	// from is discordgo's API prefix; to is the configured one. rewrite is
	// false when they are the same.
	from, to *url.URL
	rewrite  bool
	// lifeCtx, when set, also bounds gateway discovery (GET /gateway), which
	// discordgo's Session.Open makes without a context: it then ends with Run
	// instead of running into the client timeout.
	lifeCtx func() context.Context
	// limit, when set, meters every request but interaction callbacks.
	limit *restLimiter
}

func newTransport(base http.RoundTripper, apiURL string) (*transport, error) {
	if base == nil {
		base = http.DefaultTransport
	}
	from, err := url.Parse(strings.TrimSuffix(discordgo.EndpointAPI, "/"))
	if err != nil {
		return nil, fmt.Errorf("discord: parse discordgo endpoint: %w", err)
	}
	to, err := url.Parse(strings.TrimSuffix(apiURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("discord: parse api_url: %w", err)
	}
	t := &transport{base: base, from: from, to: to}
	t.rewrite = from.Scheme != to.Scheme || from.Host != to.Host || from.Path != to.Path
	return t, nil
}

// RoundTrip implements http.RoundTripper. Every request but interaction
// callbacks first waits for the bot-wide REST budget (restLimiter).
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	route, key := routeOf(req.Method, req.URL.Path)
	if t.limit != nil && !isCallback(req.URL.Path) && req.Context().Value(prepaidKey{}) == nil {
		if err := t.limit.wait(req.Context(), key); err != nil {
			return nil, fmt.Errorf("wait for the rest budget: %w", err)
		}
	}
	resp, err := t.roundTrip(req)
	if err != nil || t.limit == nil {
		return resp, err
	}
	var global bool
	var retryAfter time.Duration
	if resp.StatusCode == http.StatusTooManyRequests {
		global, retryAfter = rateLimitInfo(resp)
	}
	t.limit.observe(req.Method, route, key, resp, global, retryAfter)
	return resp, nil
}

// roundTrip rewrites the host and normalises 429 answers.
func (t *transport) roundTrip(req *http.Request) (*http.Response, error) {
	var stop func()
	if t.lifeCtx != nil && req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, "/gateway") {
		ctx, cancel := context.WithCancel(req.Context())
		unhook := context.AfterFunc(t.lifeCtx(), cancel)
		stop = func() { unhook(); cancel() }
		req = req.WithContext(ctx)
	}
	if t.rewrite && req.URL.Host == t.from.Host &&
		(req.URL.Path == t.from.Path || strings.HasPrefix(req.URL.Path, t.from.Path+"/")) {
		r := req.Clone(req.Context())
		r.URL.Scheme = t.to.Scheme
		r.URL.Host = t.to.Host
		r.URL.Path = t.to.Path + strings.TrimPrefix(req.URL.Path, t.from.Path)
		r.URL.RawPath = ""
		r.Host = t.to.Host
		req = r
	}
	resp, err := t.base.RoundTrip(req)
	if stop != nil {
		if err != nil {
			stop()
		} else {
			resp.Body = &stopOnClose{ReadCloser: resp.Body, stop: stop}
		}
	}
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		return resp, err
	}
	return normalise429(resp)
}

// stopOnClose releases a request's context hooks when its body is closed.
type stopOnClose struct {
	io.ReadCloser
	stop func()
}

func (b *stopOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.stop()
	return err
}

// maxErrorBody caps how much of an error body is read.
const maxErrorBody = 64 << 10

// globalBucket is the bucket name a normalised 429 body carries when the
// bot-wide limit was hit: discordgo's RateLimitError has no global flag, but
// it keeps the body's bucket, which mapErr reads.
const globalBucket = "global"

// normalise429 makes sure a 429 body is JSON with a retry_after (seconds),
// taking it from the Retry-After or X-RateLimit-Reset-After header when the
// body lacks it, and marks a global 429 (body "global": true, or the header
// X-RateLimit-Scope: global or X-RateLimit-Global) with globalBucket.
func normalise429(resp *http.Response) (*http.Response, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read 429 body: %w", err)
	}
	var parsed struct {
		RetryAfter *float64 `json:"retry_after"`
		Global     bool     `json:"global"`
		Message    string   `json:"message"`
	}
	valid := json.Unmarshal(body, &parsed) == nil && parsed.RetryAfter != nil
	global := parsed.Global || strings.EqualFold(resp.Header.Get("X-RateLimit-Scope"), "global") ||
		resp.Header.Get("X-RateLimit-Global") != ""
	if !valid || global {
		secs := headerSeconds(resp.Header)
		if valid {
			secs = *parsed.RetryAfter
		}
		out := map[string]any{"message": cmp.Or(parsed.Message, "rate limited"), "retry_after": secs, "global": global}
		if global {
			out["bucket"] = globalBucket
			resp.Header.Set("X-RateLimit-Scope", "global")
		}
		body, _ = json.Marshal(out)
		resp.Header.Set("Content-Type", "application/json")
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return resp, nil
}

// rateLimitInfo reads a normalised 429: whether it is global and its retry delay.
func rateLimitInfo(resp *http.Response) (global bool, retryAfter time.Duration) {
	global = resp.Header.Get("X-RateLimit-Scope") == "global"
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var parsed struct {
		RetryAfter float64 `json:"retry_after"`
	}
	secs := 1.0
	if err == nil && json.Unmarshal(body, &parsed) == nil && parsed.RetryAfter > 0 {
		secs = parsed.RetryAfter
	}
	return global, time.Duration(secs * float64(time.Second))
}

// headerSeconds reads a retry delay from headers, defaulting to one second.
func headerSeconds(h http.Header) float64 {
	for _, name := range []string{"X-RateLimit-Reset-After", "Retry-After"} {
		if v := h.Get(name); v != "" {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
				return f
			}
			if t, err := http.ParseTime(v); err == nil {
				return max(time.Until(t).Seconds(), 0)
			}
		}
	}
	return 1
}
