package promptev_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/promptev/promptev-bridge/promptev"
)

func TestValidHeaderName(t *testing.T) {
	for name, want := range map[string]bool{
		"X-Api-Key": true, "x_team.v2": true, "!#$%&'*+-.^_`|~": true, "A1": true,
		"": false, "X Api": false, "X:Key": false, "X\tKey": false, "Ä-Key": false,
		`X"Key`: false, "X(Key)": false, "X/Key": false, "X@Key": false, "X{Key}": false, "X\x7f": false,
	} {
		assert.Equal(t, want, promptev.ValidHeaderName(name), "%q", name)
	}
}
