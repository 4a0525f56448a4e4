package bolt

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind (a batch
// timer, a writer) after its store is closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
