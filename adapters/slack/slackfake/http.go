package slackfake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Sign returns Slack's v0 signature of body sent at the given time with secret.
func Sign(secret string, at time.Time, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	_, _ = mac.Write([]byte("v0:" + strconv.FormatInt(at.Unix(), 10) + ":"))
	_, _ = mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// PostOptions controls how PostEvent and PostClick sign and send a request.
type PostOptions struct {
	// Secret signs the request; default SigningSecret.
	Secret string
	// At is the request timestamp; default now. Use a time over 5 minutes
	// old to send an expired request.
	At time.Time
	// Unsigned leaves out the signature headers.
	Unsigned bool
	// RetryNum, when > 0, marks a redelivery (X-Slack-Retry-Num, reason http_timeout).
	RetryNum int
	// Client sends the request; default http.DefaultClient.
	Client *http.Client
}

// PostSigned POSTs body with contentType to url, signed per opts. The
// caller closes the response body.
func PostSigned(url, contentType string, body []byte, opts PostOptions) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	if !opts.Unsigned {
		secret := first(opts.Secret, SigningSecret)
		at := opts.At
		if at.IsZero() {
			at = time.Now()
		}
		req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(at.Unix(), 10))
		req.Header.Set("X-Slack-Signature", Sign(secret, at, body))
	}
	if opts.RetryNum > 0 {
		req.Header.Set("X-Slack-Retry-Num", strconv.Itoa(opts.RetryNum))
		req.Header.Set("X-Slack-Retry-Reason", "http_timeout")
	}
	client := opts.Client
	if client == nil {
		client = http.DefaultClient
	}
	return client.Do(req)
}

// PostEvent POSTs ev as an Events API request to an adapter's events URL.
func (s *Server) PostEvent(eventsURL string, ev Event, opts PostOptions) (*http.Response, error) {
	return PostSigned(eventsURL, "application/json", s.EventBody(ev), opts)
}

// PostClick POSTs c as an interactivity request (form field "payload") to an
// adapter's interactions URL.
func (s *Server) PostClick(interactionsURL string, c Click, opts PostOptions) (*http.Response, error) {
	form := url.Values{"payload": {string(s.ClickBody(c))}}
	return PostSigned(interactionsURL, "application/x-www-form-urlencoded", []byte(form.Encode()), opts)
}
