package cli

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDescribeBuild(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		name, version string
		bi            *debug.BuildInfo
		want          string
	}{
		{"no build info", "dev", nil, "promptev-bridge dev (unknown Go version)"},
		{"no VCS (go install of a tag)", "v1.2.3", &debug.BuildInfo{GoVersion: "go1.26.0"}, "promptev-bridge v1.2.3 (go1.26.0)"},
		{
			"a checkout", "dev",
			&debug.BuildInfo{GoVersion: "go1.26.0", Settings: vcs("vcs.revision", "0123456789abcdef0123", "vcs.time", "2026-12-06T05:00:00Z", "vcs.modified", "false")},
			"promptev-bridge dev (commit 0123456789ab, 2026-12-06T05:00:00Z, go1.26.0)",
		},
		{
			"a checkout with local changes", "dev",
			&debug.BuildInfo{GoVersion: "go1.26.0", Settings: vcs("vcs.revision", "abc", "vcs.modified", "true")},
			"promptev-bridge dev (commit abc with local changes, go1.26.0)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, describeBuild(tt.version, tt.bi))
		})
	}
}
