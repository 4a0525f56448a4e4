package promptev

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of a new Client.
const (
	DefaultBaseURL     = "https://api.promptev.ai"
	DefaultTimeout     = 30 * time.Second
	DefaultMaxRetries  = 2
	DefaultIdleTimeout = 90 * time.Second
	// DefaultMaxEventSize bounds one stream event and one response body.
	DefaultMaxEventSize = 16 << 20
	// DefaultRetryBase and DefaultRetryMax bound the retry backoff.
	DefaultRetryBase = 500 * time.Millisecond
	DefaultRetryMax  = 8 * time.Second
	// MaxRetryAfter is the longest Retry-After the client waits for before a
	// retry; a longer one ends the retries with the error.
	MaxRetryAfter = time.Minute
)

// maxEventSizeLimit bounds WithMaxEventSize (1 GiB).
const maxEventSizeLimit = 1 << 30

// userAgent is sent unless the caller's headers set one.
const userAgent = "promptev-go/0.2"

// Client calls the Promptev agent API. It is safe for concurrent use.
type Client struct {
	projectKey   string
	baseURL      string
	timeout      time.Duration
	maxRetries   int
	headers      http.Header
	httpClient   *http.Client
	endpoints    Endpoints
	auth         Auth
	idleTimeout  time.Duration
	maxEventSize int
	retryBase    time.Duration
	retryMax     time.Duration
}

// Option configures a Client.
type Option func(*Client) error

// WithBaseURL sets the API base URL (default https://api.promptev.ai; ""
// keeps it); a trailing "/" is removed. It may contain a path prefix.
func WithBaseURL(u string) Option {
	return func(c *Client) error {
		if u == "" {
			c.baseURL = DefaultBaseURL
			return nil
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("promptev: base URL %q must be an absolute http or https URL", u)
		}
		if p.RawQuery != "" || p.Fragment != "" || p.User != nil {
			return fmt.Errorf("promptev: base URL %q must not carry a query, fragment or user info", u)
		}
		c.baseURL = strings.TrimRight(u, "/")
		return nil
	}
}

// WithTimeout bounds each attempt of Trigger and Start, and the wait for the
// response headers of Stream (default 30 s; 0 keeps it). A stream itself is
// bounded only by its context and the idle timeout.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d < 0 {
			return fmt.Errorf("promptev: timeout must not be negative, got %v", d)
		}
		c.timeout = cmp.Or(d, DefaultTimeout)
		return nil
	}
}

// WithMaxRetries sets how many times a 502/503/504 answer to an opening
// request is retried (default 2; 0 disables retries).
func WithMaxRetries(n int) Option {
	return func(c *Client) error {
		if n < 0 {
			return fmt.Errorf("promptev: max retries must not be negative, got %d", n)
		}
		c.maxRetries = n
		return nil
	}
}

// WithHeaders adds headers to every request. They cannot replace the auth,
// Content-Type or Accept headers; they may replace User-Agent.
func WithHeaders(h map[string]string) Option {
	return func(c *Client) error {
		for k, v := range h {
			if !ValidHeaderName(k) {
				return fmt.Errorf("promptev: header name %q is not valid", k)
			}
			if !validHeaderValue(v) {
				return fmt.Errorf("promptev: header %q has an invalid value", k)
			}
			c.headers.Set(k, v)
		}
		return nil
	}
}

// WithHTTPClient sets the HTTP client. Its Timeout should be zero: a
// client-wide timeout would cut long streams (use WithTimeout and
// WithIdleTimeout instead).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("promptev: http client is nil")
		}
		c.httpClient = hc
		return nil
	}
}

// WithEndpoints sets the path templates of the calls; empty fields keep the
// defaults (see DefaultEndpoints and Endpoints.Validate).
func WithEndpoints(e Endpoints) Option {
	return func(c *Client) error {
		c.endpoints = e.withDefaults()
		return nil
	}
}

// WithAuth sets where the project key is sent (default AuthBearer).
func WithAuth(a Auth) Option {
	return func(c *Client) error {
		if err := a.validate(); err != nil {
			return err
		}
		c.auth = a
		return nil
	}
}

// WithIdleTimeout sets how long a stream may go without receiving a byte
// before Next fails with a *NetworkError wrapping ErrStreamIdle (default 90 s;
// 0 keeps it).
func WithIdleTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d < 0 {
			return fmt.Errorf("promptev: idle timeout must not be negative, got %v", d)
		}
		c.idleTimeout = cmp.Or(d, DefaultIdleTimeout)
		return nil
	}
}

// WithMaxEventSize bounds one stream event and one Trigger/Start response
// body, in bytes (default 16 MiB; 0 keeps it). Larger input fails with
// ErrEventTooLarge instead of growing memory.
func WithMaxEventSize(n int) Option {
	return func(c *Client) error {
		if n < 0 || n > maxEventSizeLimit {
			return fmt.Errorf("promptev: max event size must be between 0 and %d, got %d", maxEventSizeLimit, n)
		}
		c.maxEventSize = cmp.Or(n, DefaultMaxEventSize)
		return nil
	}
}

// WithRetryBackoff sets the backoff before retry n (0-based): a random
// duration in [d/2, d] with d = min(base*2^n, max). Tests use a tiny base.
func WithRetryBackoff(base, max time.Duration) Option {
	return func(c *Client) error {
		if base <= 0 || max < base {
			return fmt.Errorf("promptev: retry backoff needs 0 < base <= max, got %v and %v", base, max)
		}
		c.retryBase, c.retryMax = base, max
		return nil
	}
}

// New returns a Client for projectKey. A missing or malformed key, or an
// invalid option, is an error.
func New(projectKey string, opts ...Option) (*Client, error) {
	if err := checkProjectKey(projectKey); err != nil {
		return nil, err
	}
	c := &Client{
		projectKey:   projectKey,
		baseURL:      DefaultBaseURL,
		timeout:      DefaultTimeout,
		maxRetries:   DefaultMaxRetries,
		headers:      http.Header{},
		endpoints:    DefaultEndpoints(),
		idleTimeout:  DefaultIdleTimeout,
		maxEventSize: DefaultMaxEventSize,
		retryBase:    DefaultRetryBase,
		retryMax:     DefaultRetryMax,
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	if err := c.endpoints.Validate(c.auth); err != nil {
		return nil, err
	}
	if c.httpClient == nil {
		c.httpClient = &http.Client{}
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			c.httpClient.Transport = t.Clone()
		}
	}
	return c, nil
}

// CloseIdleConnections closes the HTTP client's idle keep-alive connections
// (for example at shutdown, or before a goroutine-leak check in tests).
func (c *Client) CloseIdleConnections() {
	c.httpClient.CloseIdleConnections()
}
