package chat

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestActionKindValid(t *testing.T) {
	tests := []struct {
		kind ActionKind
		want bool
	}{
		{Approve, true},
		{Deny, true},
		{"stop", true},
		{"deny_reason", true},
		{"a", true},
		{"v2", true},
		{ActionKind(strings.Repeat("k", 32)), true},
		{ActionKind(strings.Repeat("k", 33)), false},
		{"", false},
		{"Approve", false},
		{"2fa", false},
		{"_x", false},
		{"deny-reason", false},
		{"deny:x", false},
		{"deny reason", false},
		{"apprové", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.kind.Valid(), "%q", tt.kind)
	}
}
