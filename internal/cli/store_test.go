package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDialAddr(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:9464":  "127.0.0.1:9464",
		":9464":           "127.0.0.1:9464",
		"0.0.0.0:9464":    "127.0.0.1:9464",
		"[::]:9464":       "[::1]:9464",
		"[::1]:9464":      "[::1]:9464",
		"bridge.lan:9464": "bridge.lan:9464",
	} {
		got, err := dialAddr(listen)
		require.NoError(t, err, listen)
		assert.Equal(t, want, got, listen)
	}
	for _, listen := range []string{"", "127.0.0.1:0", "nope"} {
		_, err := dialAddr(listen)
		assert.Error(t, err, listen)
	}
}
