package bolt

import (
	"testing"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

var _ bridgetest.StatsReporter = (*Store)(nil)

// The bbolt store passes the store contract, each check on a fresh file with
// fsync off (TestOpen_NoSyncIsOptIn and the crash tests cover fsync).
func TestStoreConformance(t *testing.T) {
	bridgetest.RunStoreConformance(t, func(t *testing.T) chat.Store { return openTemp(t) })
}
