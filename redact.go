package main

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"
)

// redacted replaces every set secret in printed configuration.
const redacted = "[redacted]"

// printableConfig renders cfg as YAML with every secret value (project key,
// tokens, signing secret, extra header values) replaced by [redacted].
func printableConfig(cfg Config) ([]byte, error) {
	var root yaml.Node
	if err := root.Encode(cfg); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	redactNode(&root, "")
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

func redactNode(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			redactNode(c, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := childPath(path, n.Content[i].Value)
			v := n.Content[i+1]
			if v.Kind == yaml.ScalarNode && v.Value != "" && isSecretPath(p) {
				v.Value, v.Tag, v.Style = redacted, "!!str", 0
				continue
			}
			redactNode(v, p)
		}
	}
}

// isSecretPath reports whether the value at path is a secret of the
// configuration. It is stricter than looksSecret, which errs on the side of
// hiding values in problem messages.
func isSecretPath(path string) bool {
	switch path {
	case "promptev.project_key", "slack.bot_token", "slack.app_token", "slack.signing_secret", "discord.token":
		return true
	}
	return len(path) > len("promptev.headers.") && path[:len("promptev.headers.")] == "promptev.headers."
}
