package config

import (
	"bytes"
	"fmt"
	"reflect"

	"gopkg.in/yaml.v3"
)

// Redacted replaces every set secret in printed configuration.
const Redacted = "[redacted]"

// Printable renders cfg as YAML with every secret value (each field tagged
// secret:"true", in every section, the platforms' included) replaced by
// [redacted].
func Printable(cfg Config) ([]byte, error) {
	d := newDocument()
	var root yaml.Node
	if err := root.Encode(d.value(cfg).Interface()); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	redactNode(&root, d.typ, false)
	dropNulls(&root)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	return b.Bytes(), nil
}

// redactNode replaces the non-empty scalars under n that are secret: under a
// field tagged secret, following t, the type n was encoded from.
func redactNode(n *yaml.Node, t reflect.Type, secret bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			redactNode(c, t, secret)
		}
	case yaml.ScalarNode:
		if secret && n.Value != "" && n.ShortTag() != "!!null" {
			n.Value, n.Tag, n.Style = Redacted, "!!str", 0
		}
	case yaml.SequenceNode:
		elem := anyType
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			elem = t.Elem()
		}
		for _, c := range n.Content {
			redactNode(c, elem, secret)
		}
	case yaml.MappingNode:
		var fields map[string]field
		if t.Kind() == reflect.Struct {
			fields = yamlFields(t)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			child := field{typ: anyType}
			switch {
			case fields != nil:
				child = fields[n.Content[i].Value]
				if child.typ == nil {
					child.typ = anyType
				}
			case t.Kind() == reflect.Map:
				child.typ = t.Elem()
			}
			redactNode(n.Content[i+1], child.typ, secret || child.secret)
		}
	}
}

var anyType = reflect.TypeFor[any]()

// dropNulls removes the mapping entries whose value is null: the optional
// parts left unset (a route's approvals override), which the file leaves out
// too.
func dropNulls(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			if isNull(n.Content[i+1]) {
				continue
			}
			kept = append(kept, n.Content[i], n.Content[i+1])
		}
		n.Content = kept
	}
	for _, c := range n.Content {
		dropNulls(c)
	}
}
