package bridgetest_test

import (
	"testing"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

func TestMemStoreRunRecordContract(t *testing.T) {
	bridgetest.RunRunRecordContract(t, func(*testing.T) chat.Store { return bridgetest.NewMemStore() })
}
