package promptev

import (
	"errors"
	"fmt"
	"time"
)

// ErrIncompleteStream is returned by Stream.Next when the stream ended (EOF)
// before a done, error or approval_required event.
var ErrIncompleteStream = errors.New("promptev: stream ended before done or error")

// ErrStreamIdle is returned by Stream.Next when no bytes arrived within the
// read-idle timeout. It is wrapped in a *NetworkError.
var ErrStreamIdle = errors.New("promptev: stream idle timeout")

// Error is the common form of every error returned for an API request. Every
// typed error below can be reached from a returned error with errors.As(err, &*Error).
type Error struct {
	// StatusCode is the HTTP status, or 0 when no response arrived.
	StatusCode int
	// ResponseText is the (capped) response body.
	ResponseText string
	// Message is a short description.
	Message string
	// Err is the underlying cause, if any.
	Err error
}

func (e *Error) Error() string {
	switch {
	case e.StatusCode != 0 && e.ResponseText != "":
		return fmt.Sprintf("promptev: %s (status %d): %s", e.Message, e.StatusCode, e.ResponseText)
	case e.StatusCode != 0:
		return fmt.Sprintf("promptev: %s (status %d)", e.Message, e.StatusCode)
	case e.Err != nil:
		return fmt.Sprintf("promptev: %s: %v", e.Message, e.Err)
	}
	return "promptev: " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// apiError lets the typed errors embed *Error without a field named Error,
// which would hide the promoted Error method.
type apiError = Error

// ValidationError reports a request the API rejected as invalid (400, 422).
type ValidationError struct{ *apiError }

// AuthenticationError reports a missing, wrong or unauthorised project key or
// session (401, 403).
type AuthenticationError struct{ *apiError }

// NotFoundError reports an unknown agent or session (404).
type NotFoundError struct{ *apiError }

// RateLimitError reports a 429 answer. RetryAfter is zero when the API gave none.
type RateLimitError struct {
	*apiError
	RetryAfter time.Duration
}

// ServerError reports a 5xx answer (after retries, where they apply).
type ServerError struct{ *apiError }

// NetworkError reports a failure to reach the API or to keep reading from it:
// connection refused, DNS, timeout, idle stream, cut connection.
type NetworkError struct{ *apiError }

// Unwrap lets errors.As reach the common *Error from each typed error.
func (e *ValidationError) Unwrap() error     { return e.apiError }
func (e *AuthenticationError) Unwrap() error { return e.apiError }
func (e *NotFoundError) Unwrap() error       { return e.apiError }
func (e *RateLimitError) Unwrap() error      { return e.apiError }
func (e *ServerError) Unwrap() error         { return e.apiError }
func (e *NetworkError) Unwrap() error        { return e.apiError }

var (
	_ error = (*ValidationError)(nil)
	_ error = (*AuthenticationError)(nil)
	_ error = (*NotFoundError)(nil)
	_ error = (*RateLimitError)(nil)
	_ error = (*ServerError)(nil)
	_ error = (*NetworkError)(nil)
)

// ErrEventTooLarge is returned (wrapped in an *Error) when one stream event or
// one response body exceeds the configured maximum size.
var ErrEventTooLarge = errors.New("promptev: event exceeds the maximum size")

// ErrStreamClosed is returned by Stream.Next, wrapped in a *NetworkError,
// after Stream.Close.
var ErrStreamClosed = errors.New("promptev: stream closed")
