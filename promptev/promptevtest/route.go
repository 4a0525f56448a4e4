package promptevtest

import (
	"fmt"
	"net/url"
	"strings"
)

// Endpoints are the path templates the server answers; {agent_id} and
// {project_key} match one path segment each.
type Endpoints struct {
	Trigger string
	Start   string
	Stream  string
}

// DefaultEndpoints returns the default templates of the assumed protocol.
func DefaultEndpoints() Endpoints {
	return Endpoints{
		Trigger: "/api/sdk/v1/agent/{agent_id}/trigger",
		Start:   "/api/sdk/v1/agent/{agent_id}/start",
		Stream:  "/api/sdk/v1/agent/{agent_id}/stream",
	}
}

// match matches an escaped request path against a template and returns the
// unescaped placeholder values.
func match(template, path string) (vals map[string]string, ok bool) {
	vals = map[string]string{}
	for template != "" {
		open := strings.IndexByte(template, '{')
		if open < 0 {
			return vals, template == path
		}
		if !strings.HasPrefix(path, template[:open]) {
			return nil, false
		}
		path = path[open:]
		closing := strings.IndexByte(template[open:], '}')
		if closing < 0 {
			return nil, false
		}
		name := template[open+1 : open+closing]
		template = template[open+closing+1:]
		end := strings.IndexByte(path, '/')
		if end < 0 {
			end = len(path)
		}
		v, err := url.PathUnescape(path[:end])
		if err != nil || v == "" {
			return nil, false
		}
		vals[name] = v
		path = path[end:]
	}
	return vals, path == ""
}

// authMode is where the server expects the project key.
type authMode struct {
	kind   string // "bearer", "header", "path"
	header string
}

func parseAuth(spec string) (authMode, error) {
	switch {
	case spec == "bearer":
		return authMode{kind: "bearer"}, nil
	case spec == "path":
		return authMode{kind: "path"}, nil
	case strings.HasPrefix(spec, "header:") && len(spec) > len("header:"):
		return authMode{kind: "header", header: spec[len("header:"):]}, nil
	}
	return authMode{}, fmt.Errorf("promptevtest: unknown auth %q (want bearer, header:<Name> or path)", spec)
}
