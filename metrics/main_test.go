package metrics

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind (the side
// port's server goroutine ends with Shutdown).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
