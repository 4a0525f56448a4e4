package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestInterruptsTakeOnlyWhileSet(t *testing.T) {
	var nilHook *Interrupts
	assert.False(t, nilHook.Take(), "a nil hook takes nothing")
	nilHook.Set(func() bool { return true })()

	var h Interrupts
	assert.False(t, h.Take(), "nothing set: the signal is not taken")
	calls := 0
	used := true
	unset := h.Set(func() bool { calls++; return used })
	assert.True(t, h.Take(), "a run was under way: the signal stopped it")
	used = false
	assert.False(t, h.Take(), "no run under way: the signal goes to the program")
	unset()
	assert.False(t, h.Take())
	assert.Equal(t, 2, calls)
}
