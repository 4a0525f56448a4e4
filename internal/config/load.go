package config

import (
	"encoding"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"gopkg.in/yaml.v3"
)

// LookupEnv reads an environment variable; os.LookupEnv in production.
type LookupEnv func(name string) (string, bool)

// Load reads, expands, strictly decodes and validates a config file.
// The problems carry YAML paths; the line a path was written on is appended
// where known. Secrets are never part of a problem.
func Load(path string, env LookupEnv) (Config, chat.ConfigProblems) {
	return LoadWith(path, env, nil)
}

// Parse is Load on the file's contents.
func Parse(data []byte, env LookupEnv) (Config, chat.ConfigProblems) {
	return ParseWith(data, env, nil)
}

// LoadWith is Load with override applied before validation.
func LoadWith(path string, env LookupEnv, override func(*Config)) (Config, chat.ConfigProblems) {
	data, err := os.ReadFile(path)
	if err != nil {
		var ps chat.ConfigProblems
		ps.Add("", "cannot read config file: %v", err)
		return Config{}, ps
	}
	return ParseWith(data, env, override)
}

// ParseWith is Parse with override applied before validation.
func ParseWith(data []byte, env LookupEnv, override func(*Config)) (Config, chat.ConfigProblems) {
	cfg := DefaultConfig()
	res, ps := decodeConfig(data, &cfg, env)
	if len(ps) > 0 && ps[0].Path == "" {
		return cfg, ps // not a YAML mapping: nothing to validate
	}
	if override != nil {
		override(&cfg)
	}
	cfg.Normalize()
	for _, p := range cfg.Validate() {
		if res.covered(p.Path) {
			continue // already reported as undecodable
		}
		if name, ok := res.unset[p.Path]; ok {
			p.Message = fmt.Sprintf("%s: environment variable %s is not set (export it; see .env.example)", p.Message, name)
		}
		if !strings.Contains(p.Message, "(line ") {
			p.Message += res.where(p.Path)
		}
		ps = append(ps, p)
	}
	for i := range ps {
		// Values from the environment are often secrets: never echo them.
		ps[i].Message = res.redact(ps[i].Message)
	}
	return cfg, ps
}

// decodeResult is what decodeConfig learned besides the problems.
type decodeResult struct {
	// lines maps a YAML path to the line it was written on.
	lines map[string]int
	// fromEnv holds the paths whose values came from ${ENV} expansion.
	fromEnv map[string]bool
	// envValues are the values read from the environment, redacted from
	// every problem message.
	envValues []string
	// bad holds the paths that already have a problem; they were left out of
	// the decoded value, so validation problems at or under them are noise.
	bad map[string]bool
	// unset maps the paths of an enabled platform's section whose ${NAME}
	// was not set to NAME. Such a value is empty; it is a problem only when
	// the section's validation needs it (Slack's signing secret is not needed
	// in Socket Mode), and the problem then names the variable.
	unset map[string]string
}

// removedKeys are the keys earlier versions accepted, each with the key to
// use instead.
var removedKeys = map[string]string{
	// The engine's event watchdog duplicated the client's read-idle timeout.
	"runs.idle_timeout": "promptev.idle_timeout",
}

// Replacement returns the key to use instead of path when path is a key
// earlier versions accepted and this one rejects.
func Replacement(path string) (string, bool) {
	use, ok := removedKeys[path]
	return use, ok
}

// minRedacted is the shortest environment value redacted from problem
// messages; shorter ones would mangle ordinary words.
const minRedacted = 4

// redact replaces every environment value in msg.
func (r decodeResult) redact(msg string) string {
	for _, v := range r.envValues {
		msg = strings.ReplaceAll(msg, v, "[redacted]")
	}
	return msg
}

// where says where path is in the file: " (line N)" where it was written,
// else where to add it: under the nearest section the file has, or as a
// new section.
func (r decodeResult) where(path string) string {
	if path == "" {
		return ""
	}
	if line, ok := r.lines[path]; ok {
		return fmt.Sprintf(" (line %d)", line)
	}
	for p := path; ; {
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
		if line, ok := r.lines[p]; ok {
			return fmt.Sprintf(" (not in the file: add it under %s, line %d)", p, line)
		}
	}
	section, _, _ := strings.Cut(path, ".")
	return fmt.Sprintf(" (not in the file: add a %s: section)", section)
}

// covered reports whether path is at or under a path with a problem.
func (r decodeResult) covered(path string) bool {
	for p := path; ; {
		if r.bad[p] {
			return true
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}

// decodeConfig decodes YAML data into out, which holds the defaults.
//
// It expands ${NAME} and ${NAME:-default} in scalar values (an unset NAME
// without a default is a problem, except inside the registered platforms'
// sections, whose expansion errors only count when the section has
// enabled: true),
// then checks the whole document against out's type and reports every
// unknown key and every value of the wrong type, each with its YAML path.
// The values without a problem are decoded into out even when others have
// one, so that validation can report the remaining problems too.
func decodeConfig(data []byte, out *Config, env LookupEnv) (decodeResult, chat.ConfigProblems) {
	d := newDocument()
	optional := PlatformNames()
	res := decodeResult{lines: map[string]int{}, fromEnv: map[string]bool{}, bad: map[string]bool{}, unset: map[string]string{}}
	var probs chat.ConfigProblems
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		probs.Add("", "%s", syntaxError(data, err))
		return res, probs
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return res, nil // empty file: all defaults
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		probs.Add("", "the config must be a mapping of sections (line %d)", doc.Line)
		return res, probs
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		name, val := doc.Content[i].Value, doc.Content[i+1]
		mode := expandStrict
		for _, o := range optional {
			switch {
			case o != name:
			case sectionEnabled(val, env):
				mode = expandDeferred
			default:
				mode = expandLenient
			}
		}
		expandNode(val, name, env, mode, &res, &probs)
	}
	checkNode(doc, d.typ, "", false, &res, &probs)
	for _, p := range probs {
		res.bad[p.Path] = true
	}
	prune(doc, "", res.bad)
	v := d.value(*out)
	if err := doc.Decode(v.Interface()); err != nil {
		probs.Add("", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	d.save(v, out)
	return res, probs
}

// prune removes the mapping entries at bad paths and nulls bad list items.
func prune(n *yaml.Node, path string, bad map[string]bool) {
	switch n.Kind {
	case yaml.MappingNode:
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := childPath(path, n.Content[i].Value)
			if bad[p] {
				continue
			}
			prune(n.Content[i+1], p, bad)
			kept = append(kept, n.Content[i], n.Content[i+1])
		}
		n.Content = kept
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if bad[p] {
				n.Content[i] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
				continue
			}
			prune(c, p, bad)
		}
	}
}

// sectionEnabled reports whether a section mapping says enabled: true.
func sectionEnabled(n *yaml.Node, env LookupEnv) bool {
	if n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != "enabled" {
			continue
		}
		v, err := expandString(n.Content[i+1].Value, env)
		if err != nil {
			return true // let the strict pass report it
		}
		b, err := strconv.ParseBool(v)
		return err != nil || b
	}
	return false
}

// expandMode says what an unset ${NAME} without a default is.
type expandMode int

const (
	// expandStrict: a problem at once.
	expandStrict expandMode = iota
	// expandLenient: nothing (a disabled platform's section).
	expandLenient
	// expandDeferred: an empty value, a problem only if validation needs the
	// value (an enabled platform's section; see decodeResult.unset).
	expandDeferred
)

// expandNode expands ${ENV} references in the scalar values under n.
func expandNode(n *yaml.Node, path string, env LookupEnv, mode expandMode, res *decodeResult, probs *chat.ConfigProblems) {
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		v, err := expandString(n.Value, func(name string) (string, bool) {
			val, ok := env(name)
			if ok && len(val) >= minRedacted {
				res.envValues = append(res.envValues, val)
			}
			return val, ok
		})
		if err != nil {
			var unset *unsetError
			if mode == expandStrict || !errors.As(err, &unset) {
				probs.Add(path, "%v (line %d)", err, n.Line)
				return
			}
			if mode == expandDeferred {
				res.unset[path] = unset.name
			}
			v, _ = expandString(n.Value, func(string) (string, bool) { return "", true })
		}
		if v != n.Value && strings.Contains(n.Value, "${") {
			res.fromEnv[path] = true
		}
		n.Value = v
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			n.Tag = "" // re-resolve: "${PORT}" may now be a number
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			expandNode(n.Content[i+1], childPath(path, n.Content[i].Value), env, mode, res, probs)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			expandNode(c, fmt.Sprintf("%s[%d]", path, i), env, mode, res, probs)
		}
	}
}

// expandString replaces ${NAME} and ${NAME:-default}; "$$" is a literal "$".
// A "$" not followed by "{" or "$" is kept as it is.
func expandString(s string, env LookupEnv) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in value")
		}
		expr := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("invalid environment variable name %q", name)
		}
		v, ok := env(name)
		switch {
		case hasDef && (!ok || v == ""):
			v = def
		case !ok:
			return "", &unsetError{name: name}
		}
		b.WriteString(v)
		i += 2 + end
	}
	return b.String(), nil
}

// unsetError reports a ${NAME} whose variable is not set.
type unsetError struct{ name string }

func (e *unsetError) Error() string {
	return fmt.Sprintf("environment variable %s is not set: export it (see .env.example), or write ${%s:-} if the value may be empty", e.name, e.name)
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func childPath(prefix, key string) string { return chat.JoinPath(prefix, key) }

var (
	durationType        = reflect.TypeFor[time.Duration]()
	yamlUnmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// checkNode reports unknown keys and mistyped values under n, against t.
// secret is true under a field tagged secret, whose values are never shown.
func checkNode(n *yaml.Node, t reflect.Type, path string, secret bool, res *decodeResult, probs *chat.ConfigProblems) {
	if _, ok := res.lines[path]; path != "" && !ok {
		res.lines[path] = n.Line
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if isNull(n) {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType || reflect.PointerTo(t).Implements(yamlUnmarshalerType) ||
		reflect.PointerTo(t).Implements(textUnmarshalerType) {
		checkLeaf(n, t, path, secret, res, probs)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			probs.Add(path, "expected a mapping, got %s (line %d)", nodeKind(n), n.Line)
			return
		}
		fields := yamlFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.ShortTag() == "!!merge" {
				// "<<: *anchor" (or a list of anchors) merges mappings in.
				merged := []*yaml.Node{v}
				if v.Kind == yaml.SequenceNode {
					merged = v.Content
				}
				for _, m := range merged {
					checkNode(m, t, path, secret, res, probs)
				}
				continue
			}
			p := childPath(path, k.Value)
			if seen[k.Value] {
				probs.Add(p, "duplicate key (line %d)", k.Line)
				continue
			}
			seen[k.Value] = true
			res.lines[p] = k.Line
			f, ok := fields[k.Value]
			if use, gone := removedKeys[p]; !ok && gone {
				probs.Add(p, "is no longer an option: use %s instead (line %d)", use, k.Line)
				continue
			}
			if !ok {
				probs.Add(p, "unknown key%s (line %d)", suggest(k.Value, fields), k.Line)
				continue
			}
			checkNode(v, f.typ, p, secret || f.secret, res, probs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			probs.Add(path, "expected a mapping, got %s (line %d)", nodeKind(n), n.Line)
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkNode(n.Content[i+1], t.Elem(), childPath(path, n.Content[i].Value), secret, res, probs)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			probs.Add(path, "expected a list, got %s (line %d)", nodeKind(n), n.Line)
			return
		}
		for i, c := range n.Content {
			checkNode(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), secret, res, probs)
		}
	case reflect.Interface:
		// Any YAML value fits.
	default:
		checkLeaf(n, t, path, secret, res, probs)
	}
}

// checkLeaf decodes n alone into a fresh value of type t and reports failure
// without echoing the value when it is secret or came from the environment.
func checkLeaf(n *yaml.Node, t reflect.Type, path string, secret bool, res *decodeResult, probs *chat.ConfigProblems) {
	if n.Kind != yaml.ScalarNode && t.Kind() != reflect.Struct && t.Kind() != reflect.Map && t.Kind() != reflect.Slice {
		probs.Add(path, "expected %s, got %s (line %d)", typeWant(t), nodeKind(n), n.Line)
		return
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		shown := ""
		if n.Kind == yaml.ScalarNode && !res.fromEnv[path] && !secret {
			shown = fmt.Sprintf(" %q", n.Value)
		}
		probs.Add(path, "expected %s, got%s (line %d)", typeWant(t), orKind(shown, n), n.Line)
	}
}

func orKind(shown string, n *yaml.Node) string {
	if shown != "" {
		return shown
	}
	return " " + nodeKind(n)
}

func typeWant(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration such as 30s, 5m or 1h30m"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64,
		t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.String:
		return "a string"
	}
	return "a valid " + t.String()
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar"
	}
	return "something else"
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// field is one YAML key of a struct.
type field struct {
	typ reflect.Type
	// secret is true when the field is tagged secret:"true".
	secret bool
}

// yamlFields maps the YAML keys of struct t (following inline fields) to
// their fields.
func yamlFields(t reflect.Type) map[string]field {
	fields := map[string]field{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range yamlFields(ft) {
					fields[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's default key
		}
		fields[name] = field{typ: f.Type, secret: f.Tag.Get("secret") == "true"}
	}
	return fields
}

// suggest returns " (did you mean x?)" for a near miss among the known keys.
func suggest(key string, fields map[string]field) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	best, bestD := "", 3
	for _, k := range names {
		if d := editDistance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
