package console

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind (the input
// reader ends with its reader; Run ends with its context).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
