package promptev

import (
	"fmt"
	"net/url"
	"strings"
)

// Endpoints are the path templates of the three calls, appended to the base
// URL. {agent_id} and {project_key} are replaced by the path-escaped agent id
// and project key.
type Endpoints struct {
	Trigger string `yaml:"trigger,omitempty" json:"trigger,omitempty"`
	Start   string `yaml:"start,omitempty" json:"start,omitempty"`
	Stream  string `yaml:"stream,omitempty" json:"stream,omitempty"`
}

// DefaultEndpoints returns the templates of the assumed wire protocol.
func DefaultEndpoints() Endpoints {
	return Endpoints{
		Trigger: "/api/sdk/v1/agent/{agent_id}/trigger",
		Start:   "/api/sdk/v1/agent/{agent_id}/start",
		Stream:  "/api/sdk/v1/agent/{agent_id}/stream",
	}
}

// withDefaults fills empty templates from DefaultEndpoints.
func (e Endpoints) withDefaults() Endpoints {
	d := DefaultEndpoints()
	if e.Trigger == "" {
		e.Trigger = d.Trigger
	}
	if e.Start == "" {
		e.Start = d.Start
	}
	if e.Stream == "" {
		e.Stream = d.Stream
	}
	return e
}

// Validate checks the templates for use with auth: each must start with "/",
// contain {agent_id}, use no other placeholder, and contain {project_key}
// when auth is AuthPath. Empty templates are checked as their defaults.
func (e Endpoints) Validate(auth Auth) error {
	e = e.withDefaults()
	for _, t := range []struct{ name, tmpl string }{{"trigger", e.Trigger}, {"start", e.Start}, {"stream", e.Stream}} {
		if !strings.HasPrefix(t.tmpl, "/") {
			return fmt.Errorf("promptev: %s endpoint %q must start with /", t.name, t.tmpl)
		}
		if !strings.Contains(t.tmpl, "{agent_id}") {
			return fmt.Errorf("promptev: %s endpoint %q must contain {agent_id}", t.name, t.tmpl)
		}
		rest := strings.NewReplacer("{agent_id}", "", "{project_key}", "").Replace(t.tmpl)
		if strings.ContainsAny(rest, "{}") {
			return fmt.Errorf("promptev: %s endpoint %q has an unknown placeholder (known: {agent_id}, {project_key})", t.name, t.tmpl)
		}
		if auth.kind == authPath && !strings.Contains(t.tmpl, "{project_key}") {
			return fmt.Errorf("promptev: %s endpoint %q must contain {project_key} with path auth", t.name, t.tmpl)
		}
		if _, err := url.Parse(t.tmpl); err != nil {
			return fmt.Errorf("promptev: %s endpoint %q is not a valid path: %w", t.name, t.tmpl, err)
		}
	}
	return nil
}

// expand substitutes the placeholders of tmpl.
func expand(tmpl, agentID, projectKey string) string {
	if strings.Contains(tmpl, "{project_key}") {
		tmpl = strings.ReplaceAll(tmpl, "{project_key}", url.PathEscape(projectKey))
	}
	return strings.ReplaceAll(tmpl, "{agent_id}", url.PathEscape(agentID))
}
