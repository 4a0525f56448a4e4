package config

import (
	"os"
	"testing"
)

// BenchmarkParseExampleConfig measures loading config.example.yaml: env
// expansion, the strict key and type walk, decoding and every Validate.
func BenchmarkParseExampleConfig(b *testing.B) {
	data, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		b.Fatal(err)
	}
	env := mapEnv(exampleEnv)
	b.ReportAllocs()
	for b.Loop() {
		if _, ps := Parse(data, env); len(ps) > 0 {
			b.Fatal(ps)
		}
	}
}
