package promptev

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"
)

// operation is one API call to send.
type operation struct {
	name    string // "trigger", "start" or "stream"
	tmpl    string
	agentID string
	body    any
	stream  bool
}

// newRequest builds the HTTP request of op.
func (c *Client) newRequest(ctx context.Context, op operation, body []byte) (*http.Request, error) {
	u := c.baseURL + expand(op.tmpl, op.agentID, c.projectKey)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Message: op.name + ": cannot build request", Err: cleanTransportError(err, c.projectKey)}
	}
	req.Header = c.headers.Clone()
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}
	req.Header.Set("Content-Type", "application/json")
	if op.stream {
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Cache-Control", "no-cache")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	switch c.auth.kind {
	case authBearer:
		req.Header.Set("Authorization", "Bearer "+c.projectKey)
	case authHeader:
		req.Header.Set(c.auth.header, c.projectKey)
	}
	return req, nil
}

// send sends op, retrying 502, 503 and 504 answers, and returns a 2xx
// response with the cancel function that ends it. Any other answer becomes
// a typed error. For unary calls each attempt, body included, is bounded by
// the client timeout; for streams only the wait for response headers is.
func (c *Client) send(ctx context.Context, op operation) (*http.Response, context.CancelFunc, error) {
	body, err := json.Marshal(op.body)
	if err != nil {
		return nil, nil, &ValidationError{&Error{Message: op.name + ": cannot encode request", Err: err}}
	}
	for attempt := 0; ; attempt++ {
		resp, cancel, err := c.attempt(ctx, op, body)
		if err != nil {
			return nil, nil, err
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return resp, cancel, nil
		}
		text := readErrorBody(resp.Body)
		_ = resp.Body.Close()
		cancel()
		retryAfter := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		serr := statusError(op.name, resp.StatusCode, text, retryAfter)
		if !retryable(resp.StatusCode) || attempt >= c.maxRetries || retryAfter > MaxRetryAfter {
			return nil, nil, serr
		}
		wait := c.backoff(attempt)
		if retryAfter > 0 {
			wait = retryAfter
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, networkError(op.name, detail(fmt.Sprintf("cancelled while waiting to retry after: %v", serr), ctx.Err(), serr))
		case <-t.C:
		}
	}
}

// attempt sends one request.
func (c *Client) attempt(ctx context.Context, op operation, body []byte) (*http.Response, context.CancelFunc, error) {
	var (
		actx     context.Context
		cancel   context.CancelFunc
		timer    *time.Timer
		timedOut atomic.Bool
	)
	if op.stream {
		actx, cancel = context.WithCancel(ctx)
		timer = time.AfterFunc(c.timeout, func() {
			timedOut.Store(true)
			cancel()
		})
	} else {
		actx, cancel = context.WithTimeout(ctx, c.timeout)
	}
	req, err := c.newRequest(actx, op, body)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	resp, err := c.httpClient.Do(req)
	if timer != nil && !timer.Stop() && timedOut.Load() {
		if err == nil {
			_ = resp.Body.Close()
		}
		cancel()
		return nil, nil, networkError(op.name, detail(fmt.Sprintf("no response headers within %v", c.timeout), context.DeadlineExceeded))
	}
	if err != nil {
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil, nil, networkError(op.name+": cancelled", ctx.Err())
		case actx.Err() == context.DeadlineExceeded:
			return nil, nil, networkError(op.name, detail(fmt.Sprintf("timed out after %v", c.timeout), context.DeadlineExceeded))
		}
		return nil, nil, networkError(op.name+": request failed", cleanTransportError(err, c.projectKey))
	}
	return resp, cancel, nil
}

func retryable(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// backoff returns the wait before retry n: a random duration in [d/2, d]
// with d = min(base*2^n, max).
func (c *Client) backoff(n int) time.Duration {
	d := c.retryBase
	for range n {
		if d >= c.retryMax/2 {
			d = c.retryMax
			break
		}
		d *= 2
	}
	d = min(d, c.retryMax)
	half := d / 2
	return half + rand.N(d-half+1)
}

// readBody reads a unary response body through the size cap.
func (c *Client) readBody(op string, r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(c.maxEventSize)+1))
	if err != nil {
		return nil, networkError(op+": reading response", cleanTransportError(err, c.projectKey))
	}
	if len(b) > c.maxEventSize {
		return nil, &Error{StatusCode: http.StatusOK, Message: op, Err: detail(fmt.Sprintf("response larger than %d bytes", c.maxEventSize), ErrEventTooLarge)}
	}
	return b, nil
}
