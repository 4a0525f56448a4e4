package promptevtest

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// scriptFile is the JSON/YAML form of an Agent.
type scriptFile struct {
	Name          string        `yaml:"name"`
	MemoryEnabled bool          `yaml:"memory_enabled"`
	Script        []scriptEvent `yaml:"script"`
	OnApprove     []scriptEvent `yaml:"on_approve"`
	OnDeny        []scriptEvent `yaml:"on_deny"`
}

type scriptEvent struct {
	Type       string         `yaml:"type"`
	Output     string         `yaml:"output"`
	Tool       string         `yaml:"tool"`
	Arguments  map[string]any `yaml:"arguments"`
	ApprovalID string         `yaml:"approval_id"`
	Delay      string         `yaml:"delay"`
	Raw        string         `yaml:"raw"`
}

// LoadScript reads an agent script in YAML or JSON (JSON is read as YAML).
// Unknown keys are errors. Delays are Go durations ("250ms", "1.5s").
// Example (testdata/helpdesk.yaml):
//
//	name: Helpdesk
//	memory_enabled: true
//	script:
//	  - {type: thoughts, output: "Reading: {{query}}", delay: 20ms}
//	  - {type: processing, output: "Searching Jira..."}
//	  - type: approval_required
//	    output: "Create a ticket for {{query}}?"
//	    tool: jira.create_issue
//	    arguments: {project: HELP}
//	    approval_id: ap-1
//	on_approve:
//	  - {type: done, output: "Ticket HELP-1 created."}
//	on_deny:
//	  - {type: done, output: "Cancelled: no ticket created."}
func LoadScript(r io.Reader) (Agent, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	var f scriptFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return Agent{}, errors.New("promptevtest: empty script")
		}
		return Agent{}, fmt.Errorf("promptevtest: parse script: %w", scriptError(err))
	}
	a := Agent{Name: f.Name, MemoryEnabled: f.MemoryEnabled}
	var err error
	if a.Script, err = convertEvents("script", f.Script); err != nil {
		return Agent{}, err
	}
	if a.OnApprove, err = convertEvents("on_approve", f.OnApprove); err != nil {
		return Agent{}, err
	}
	if a.OnDeny, err = convertEvents("on_deny", f.OnDeny); err != nil {
		return Agent{}, err
	}
	return a, nil
}

// eventTypes are the event types a script may name.
var eventTypes = []string{TypeThoughts, TypeProcessing, TypeApprovalRequired, TypeDone, TypeError}

// unknownField matches yaml.v3's message for a key KnownFields refused.
var unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type promptevtest\.(\w+)$`)

// scriptError rewrites yaml.v3's unknown-key errors in the script's own words:
// the key, its line and the keys allowed there, with no Go type names.
func scriptError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = m
		if sm := unknownField.FindStringSubmatch(m); sm != nil {
			known := yamlKeys(reflect.TypeFor[scriptEvent]())
			if sm[3] == "scriptFile" {
				known = yamlKeys(reflect.TypeFor[scriptFile]())
			}
			msgs[i] = fmt.Sprintf("line %s: unknown key %q (known: %s)", sm[1], sm[2], known)
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}

// yamlKeys lists the YAML keys of a struct type, in field order.
func yamlKeys(t reflect.Type) string {
	keys := make([]string, t.NumField())
	for i := range keys {
		keys[i] = t.Field(i).Tag.Get("yaml")
	}
	return strings.Join(keys, ", ")
}

func convertEvents(field string, in []scriptEvent) ([]Event, error) {
	out := make([]Event, 0, len(in))
	for i, se := range in {
		e := Event{Type: se.Type, Output: se.Output, Tool: se.Tool, Arguments: se.Arguments, ApprovalID: se.ApprovalID, Raw: se.Raw}
		if se.Type == "" && se.Raw == "" {
			return nil, fmt.Errorf("promptevtest: %s[%d]: type or raw is required", field, i)
		}
		if se.Type != "" && !slices.Contains(eventTypes, se.Type) {
			return nil, fmt.Errorf("promptevtest: %s[%d].type: unknown event type %q (known: %s; use raw: for any other event)",
				field, i, se.Type, strings.Join(eventTypes, ", "))
		}
		if se.Delay != "" {
			d, err := time.ParseDuration(se.Delay)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("promptevtest: %s[%d].delay: invalid duration %q", field, i, se.Delay)
			}
			e.Delay = d
		}
		out = append(out, e)
	}
	return out, nil
}
