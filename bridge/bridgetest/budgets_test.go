package bridgetest_test

import (
	"testing"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

func TestMemBudgetsConformance(t *testing.T) {
	bridgetest.RunBudgetsConformance(t, func(*testing.T) [3]chat.SharedBudgets {
		m := bridgetest.NewMemBudgets()
		return [3]chat.SharedBudgets{m, m, m}
	})
}
