package promptev

import (
	"errors"
	"fmt"
	"strings"
)

// authKind is where the project key is sent.
type authKind int

const (
	authBearer authKind = iota
	authHeader
	authPath
)

// Auth says where requests carry the project key. The zero value is AuthBearer.
type Auth struct {
	kind   authKind
	header string
}

// AuthBearer sends the key as "Authorization: Bearer <key>" (the default).
func AuthBearer() Auth { return Auth{kind: authBearer} }

// AuthHeader sends the key as the value of the named header, for example
// AuthHeader("X-Api-Key").
func AuthHeader(name string) Auth { return Auth{kind: authHeader, header: name} }

// AuthPath sends the key as the {project_key} segment of the endpoint
// templates (the placement of older SDKs); every template must contain it.
func AuthPath() Auth { return Auth{kind: authPath} }

// ParseAuth parses the config form of an Auth: "bearer", "header:<Name>" or
// "path"; an empty string means "bearer". It is the inverse of Auth.String.
func ParseAuth(s string) (Auth, error) {
	switch {
	case s == "bearer" || s == "":
		return AuthBearer(), nil
	case s == "path":
		return AuthPath(), nil
	case strings.HasPrefix(s, "header:"):
		a := AuthHeader(strings.TrimPrefix(s, "header:"))
		if err := a.validate(); err != nil {
			return Auth{}, err
		}
		return a, nil
	}
	return Auth{}, fmt.Errorf("promptev: unknown auth %q: want bearer, header:<Name> or path", s)
}

// String returns the config form: "bearer", "header:<Name>" or "path".
func (a Auth) String() string {
	switch a.kind {
	case authHeader:
		return "header:" + a.header
	case authPath:
		return "path"
	}
	return "bearer"
}

func (a Auth) validate() error {
	if a.kind == authHeader && !ValidHeaderName(a.header) {
		return fmt.Errorf("promptev: auth header name %q is not a valid HTTP header name", a.header)
	}
	return nil
}

// ValidHeaderName reports whether s is a valid HTTP header name (an RFC 9110
// token). The configuration checks promptev.headers with it too.
func ValidHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s can be sent as a header value.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

// maxKeyLen bounds a project key.
const maxKeyLen = 512

// checkProjectKey rejects a missing or malformed key without echoing it.
func checkProjectKey(key string) error {
	if key == "" {
		return errors.New("promptev: project key is missing")
	}
	if len(key) > maxKeyLen {
		return fmt.Errorf("promptev: project key is malformed: longer than %d bytes", maxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c >= 0x7f {
			return errors.New("promptev: project key is malformed: it must be printable ASCII without spaces (check for quotes, newlines or an unexpanded variable)")
		}
	}
	if strings.HasPrefix(key, "${") {
		return errors.New("promptev: project key is malformed: it looks like an unexpanded environment variable")
	}
	return nil
}
