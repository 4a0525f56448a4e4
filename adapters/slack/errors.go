package slack

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"

	"github.com/slack-go/slack"
)

// ErrAuth is matched (with errors.Is) by the error Run returns when Slack
// refuses a token or the app's installation: reconnecting would not help, so
// the adapter stops instead of looping.
var ErrAuth = errors.New("slack: authentication failed")

// authError names the refused call, Slack's error code and the setting to check.
type authError struct {
	method, code, setting string
}

func (e *authError) Error() string {
	return fmt.Sprintf("slack: %s refused with %q: check %s (wrong, revoked or under-scoped token, or the app is not installed); not reconnecting",
		e.method, e.code, e.setting)
}

func (e *authError) Is(target error) bool { return target == ErrAuth }

// fatalCodes are Slack error codes after which retrying cannot succeed.
var fatalCodes = map[string]bool{
	"invalid_auth":            true,
	"not_authed":              true,
	"account_inactive":        true,
	"token_revoked":           true,
	"token_expired":           true,
	"not_allowed_token_type":  true,
	"missing_scope":           true,
	"no_permission":           true,
	"app_uninstalled":         true,
	"team_access_not_granted": true,
	"invalid_token":           true,
}

// asAuthError returns the fatal error for err, or nil when err may be transient.
func asAuthError(method, setting string, err error) error {
	if err == nil {
		return nil
	}
	if se, ok := errors.AsType[slack.SlackErrorResponse](err); ok && fatalCodes[se.Err] {
		return &authError{method: method, code: se.Err, setting: setting}
	}
	if fatalCodes[err.Error()] {
		return &authError{method: method, code: err.Error(), setting: setting}
	}
	if sc, ok := errors.AsType[slack.StatusCodeError](err); ok {
		switch sc.Code {
		case http.StatusNotFound:
			// No such method at this base URL: the API URL is wrong.
			return &authError{method: method, code: sc.Status, setting: "slack.api_url"}
		case http.StatusUnauthorized, http.StatusForbidden:
			return &authError{method: method, code: sc.Status, setting: setting}
		}
	}
	return nil
}

var secretRE = regexp.MustCompile(`(ticket=)[^&\s"']+|xox[a-z]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+`)

// redact removes Socket Mode tickets and tokens from a text meant for logs.
func redact(s string) string {
	return secretRE.ReplaceAllStringFunc(s, func(m string) string {
		if len(m) > 7 && m[:7] == "ticket=" {
			return "ticket=REDACTED"
		}
		return "REDACTED"
	})
}

// errAttr is a log attribute with the redacted error text.
func errAttr(err error) slog.Attr {
	if err == nil {
		return slog.String("error", "")
	}
	return slog.String("error", redact(err.Error()))
}
