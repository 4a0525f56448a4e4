package config

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxSyntaxSearchLines bounds the line-by-line search for the first bad
// line; longer files keep the YAML parser's own line.
const maxSyntaxSearchLines = 2000

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// syntaxError describes a YAML syntax error by the line that makes the file
// invalid. The YAML parser often names the line where the enclosing block
// began (a tab on line 3 is reported on line 2), so the line is found again
// as the first one whose prefix of the file fails with the same error; a tab
// in the indentation is named as the cause.
func syntaxError(data []byte, err error) string {
	msg := bareMessage(err)
	lines := bytes.SplitAfter(data, []byte("\n"))
	bad := 0
	if len(lines) <= maxSyntaxSearchLines {
		var n yaml.Node
		for i := range lines {
			perr := yaml.Unmarshal(bytes.Join(lines[:i+1], nil), &n)
			if perr != nil && bareMessage(perr) == msg {
				bad = i + 1
				break
			}
		}
	}
	if bad == 0 {
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			return fmt.Sprintf("invalid YAML at line %s: %s", m[1], msg)
		}
		return "invalid YAML: " + msg
	}
	line := string(lines[bad-1])
	indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
	switch {
	case strings.Contains(indent, "\t"):
		return fmt.Sprintf("invalid YAML at line %d: a tab indents this line; YAML indents with spaces only (replace the tab with spaces)", bad)
	case strings.Contains(msg, "mapping values are not allowed"):
		return fmt.Sprintf("invalid YAML at line %d: %s (is the \":\" missing after the key on the line above, or is this line indented too far?)", bad, msg)
	case strings.Contains(msg, "end of stream") || strings.Contains(msg, "did not find expected"):
		return fmt.Sprintf("invalid YAML at line %d: %s (is a quote or bracket opened here left unclosed, or an item indented wrongly?)", bad, msg)
	}
	return fmt.Sprintf("invalid YAML at line %d: %s", bad, msg)
}

// bareMessage is a YAML error's message without its "yaml: line N: " prefix.
func bareMessage(err error) string {
	return strings.TrimPrefix(yamlLine.ReplaceAllString(err.Error(), ""), "yaml: ")
}
