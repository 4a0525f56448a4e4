package config

import (
	"strings"
	"testing"
)

// FuzzParseConfig feeds arbitrary documents to the strict loader: it must
// never panic, every problem must name a path or explain the whole file, and
// a secret set through the environment must never appear in a problem.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(minimalConfig))
	f.Add([]byte("promptev: {project_key: '${K}', timeout: x}\nroutes: {default: {agent: [a]}}\n"))
	f.Add([]byte("routes:\n  default: &a {agent: x}\n  channels: [{<<: *a, chanel: 1}]\n"))
	f.Add([]byte("slack: {enabled: '${K}'}\nstore: ~\nlog: [1]\n"))
	f.Add([]byte("- just\n- a list\n"))
	f.Add([]byte("log: {level: '${K}', format: 'x${K}x'}\n"))
	const secret = "fuzz-secret-value-9f8e7d"
	env := mapEnv(map[string]string{"K": secret})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, ps := Parse(data, env)
		for _, p := range ps {
			if strings.Contains(p.Error(), secret) {
				t.Fatalf("secret leaked in problem %q", p.Error())
			}
			if p.Message == "" {
				t.Fatalf("problem without a message at %q", p.Path)
			}
		}
	})
}

// FuzzExpandString checks that expansion never panics and that text without
// "$" is returned unchanged.
func FuzzExpandString(f *testing.F) {
	for _, s := range []string{"plain", "${A}", "${A:-d}", "$$", "${", "${}", "a$b${A}c", "${A:-${B}}"} {
		f.Add(s)
	}
	env := mapEnv(map[string]string{"A": "alpha"})
	f.Fuzz(func(t *testing.T, s string) {
		out, err := expandString(s, env)
		if !strings.Contains(s, "$") && (err != nil || out != s) {
			t.Fatalf("text without $ changed: %q -> %q, %v", s, out, err)
		}
	})
}
