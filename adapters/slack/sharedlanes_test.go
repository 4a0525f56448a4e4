package slack

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
)

// TestLaneBudgetsSharedByReplicas: with shared budgets, three adapters
// (three replicas) together start no more streams in a workspace than one
// adapter's budget allows, while a thread's status budget stays each
// adapter's own; an unreachable store leaves each adapter its own budget.
func TestLaneBudgetsSharedByReplicas(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		shared := bridgetest.NewMemBudgets()
		var as [3]*Adapter
		for i := range as {
			as[i] = newAdapter(DefaultConfig(), nil, nil)
			as[i].ShareBudgets(shared)
		}
		started := 0
		for i := range 12 {
			if ok, _ := as[i%3].takeLane(t.Context(), "chat.startStream", "T1"); ok {
				started++
			}
		}
		assert.Equal(t, 4, started, "the burst of one budget, whichever replica starts")
		ok, wait := as[0].takeLane(t.Context(), "chat.startStream", "T1")
		assert.False(t, ok)
		assert.Equal(t, 3750*time.Millisecond, wait, "16 a minute: one every 3.75 s")
		ok, _ = as[1].takeLane(t.Context(), "chat.startStream", "T2")
		assert.True(t, ok, "another workspace has its own budget")

		takes := shared.Takes()
		for _, a := range as {
			ok, _ := a.takeLane(t.Context(), "assistant.threads.setStatus", "C1 1.1")
			assert.True(t, ok, "a thread's status budget is each replica's own")
		}
		assert.Equal(t, takes, shared.Takes(), "a thread's budget never asks the store")

		shared.FailWith(errors.New("connection refused"))
		for _, a := range as {
			ok, _ := a.takeLane(t.Context(), "chat.startStream", "T3")
			assert.True(t, ok, "without the store, each replica meters itself")
		}
	})
}
