package discord

import (
	"bytes"
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

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
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

// normalise429 makes sure a 429 body is JSON with a retry_after (seconds),
// taking it from the Retry-After or X-RateLimit-Reset-After header when the
// body lacks it.
func normalise429(resp *http.Response) (*http.Response, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read 429 body: %w", err)
	}
	var parsed struct {
		RetryAfter *float64 `json:"retry_after"`
	}
	if json.Unmarshal(body, &parsed) != nil || parsed.RetryAfter == nil {
		secs := headerSeconds(resp.Header)
		body, _ = json.Marshal(map[string]any{
			"message":     "rate limited",
			"retry_after": secs,
			"global":      resp.Header.Get("X-RateLimit-Global") != "",
		})
		resp.Header.Set("Content-Type", "application/json")
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return resp, nil
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
