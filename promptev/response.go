package promptev

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxErrorBody caps how much of an error response is read; maxErrorText caps
// how much of it is kept in Error.ResponseText.
const (
	maxErrorBody = 64 << 10
	maxErrorText = 4 << 10
)

// statusError maps a non-2xx answer to its typed error.
func statusError(op string, code int, text string, retryAfter time.Duration) error {
	base := &Error{StatusCode: code, ResponseText: text}
	switch {
	case code == http.StatusBadRequest || code == http.StatusUnprocessableEntity:
		base.Message = op + ": invalid request"
		return &ValidationError{base}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		base.Message = op + ": authentication failed"
		return &AuthenticationError{base}
	case code == http.StatusNotFound:
		base.Message = op + ": not found"
		return &NotFoundError{base}
	case code == http.StatusTooManyRequests:
		base.Message = op + ": rate limited"
		return &RateLimitError{apiError: base, RetryAfter: retryAfter}
	case code >= 500:
		base.Message = op + ": server error"
		return &ServerError{base}
	}
	base.Message = op + ": unexpected status"
	return base
}

// readErrorBody reads a capped error body and returns it as trimmed text.
func readErrorBody(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, maxErrorBody))
	s := strings.TrimSpace(string(b))
	if len(s) > maxErrorText {
		s = s[:maxErrorText] + "..."
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// parseRetryAfter reads a Retry-After header (seconds or an HTTP date).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// redactedError hides the project key in an error's text while keeping the
// error chain for errors.Is and errors.As.
type redactedError struct {
	err error
	key string
}

func (e *redactedError) Error() string { return strings.ReplaceAll(e.err.Error(), e.key, "[redacted]") }
func (e *redactedError) Unwrap() error { return e.err }

// cleanTransportError drops the *url.Error layer (its text holds the URL,
// which may carry the key) and redacts the key from what is left.
func cleanTransportError(err error, key string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if key != "" && strings.Contains(err.Error(), key) {
		return &redactedError{err: err, key: key}
	}
	return err
}

func networkError(msg string, err error) error {
	return &NetworkError{&Error{Message: msg, Err: err}}
}

// detailError gives a sentinel (and an optional cause) a message of its own,
// so that an error reads "promptev: stream: idle for 1m30s" rather than
// repeating the sentinel's text, while errors.Is still finds the sentinel.
type detailError struct {
	msg  string
	errs []error
}

func (e *detailError) Error() string   { return e.msg }
func (e *detailError) Unwrap() []error { return e.errs }

func detail(msg string, errs ...error) error { return &detailError{msg: msg, errs: errs} }
