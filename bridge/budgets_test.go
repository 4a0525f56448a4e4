package bridge_test

import (
	"fmt"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

// budgetStore is a store that shares rate budgets, as a store several
// replicas share does.
type budgetStore struct {
	*bridgetest.MemStore
	*bridgetest.MemBudgets
}

// TestReplicasShareBudgets runs three bridges, each with its own store, on
// one Slack-like workspace, 15 conversations each streaming 20 status
// events over 10 s. When their stores share rate budgets (New hands them
// to the outbox), the workspace sees at most 40 edits in any minute, no
// 429 and every final within 3 s of its done; when they do not, the three
// together overrun the server's 50 edits a minute.
func TestReplicasShareBudgets(t *testing.T) {
	for _, shared := range []bool{true, false} {
		t.Run("shared="+strconv.FormatBool(shared), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits(),
					bridgetest.WithServerLimits(bridgetest.WorkspaceServerLimits()...), bridgetest.WithVisitorID(workspaceVisitor))
				budgets := bridgetest.NewMemBudgets()
				agent := newFakeAgent(agentScript{turn: statusFlow(20, 500*time.Millisecond).turn}.fake())
				rigs := make([]*rig, 3)
				for i := range rigs {
					var st chat.Store = bridgetest.NewMemStore()
					if shared {
						st = budgetStore{MemStore: st.(*bridgetest.MemStore), MemBudgets: budgets}
					}
					rigs[i] = startRig(t, agent, withPlatform(p), withBackingStore(st))
					defer rigs[i].stop()
				}
				start := time.Now()
				keys := make([]chat.ConversationKey, 45)
				for i := range keys {
					keys[i] = chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: fmt.Sprint("C", i), Thread: "1.0"}
					rigs[i%3].send(keys[i], "U1", fmt.Sprint("conv", i))
				}
				doneAt := start.Add(21 * 500 * time.Millisecond)
				time.Sleep(3 * time.Minute)
				synctest.Wait()

				var edits []time.Time
				for _, rec := range p.Records() {
					if rec.Op == bridgetest.OpEdit {
						edits = append(edits, rec.Time) // refused ones too
					}
				}
				if !shared {
					assert.Positive(t, p.ServerRateLimited(), "three budgets of 40 a minute overrun the server's 50")
					return
				}
				assert.LessOrEqual(t, maxPerWindow(edits, time.Minute), 40, "edits per minute in the workspace, refused ones included")
				assert.Zero(t, p.ServerRateLimited(), "the replicas caused no 429")
				assert.Positive(t, budgets.Takes(), "the outboxes drew from the shared budgets")
				for i, key := range keys {
					at, ok := firstShown(p, key, fmt.Sprint("final conv", i))
					require.True(t, ok, "final of conversation %d visible", i)
					assert.LessOrEqual(t, at.Sub(doneAt), 3*time.Second, "final %d after its done", i)
				}
			})
		})
	}
}

// sharingPlatform records the shared budgets the bridge hands it.
type sharingPlatform struct {
	*bridgetest.Platform
	got chat.SharedBudgets
}

func (p *sharingPlatform) ShareBudgets(b chat.SharedBudgets) { p.got = b }

// TestNewHandsSharedBudgetsToPlatforms: a platform with budgets of its own
// (chat.BudgetSharing) gets the store's shared budgets; with a store that
// shares none it gets nothing.
func TestNewHandsSharedBudgetsToPlatforms(t *testing.T) {
	for _, shared := range []bool{true, false} {
		t.Run("shared="+strconv.FormatBool(shared), func(t *testing.T) {
			budgets := bridgetest.NewMemBudgets()
			var store chat.Store = bridgetest.NewMemStore()
			if shared {
				store = budgetStore{MemStore: store.(*bridgetest.MemStore), MemBudgets: budgets}
			}
			p := &sharingPlatform{Platform: bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())}
			_, err := bridge.New(bridge.Options{Config: testConfig(), Agent: newFakeAgent(replyWith("hi")), Store: store, Platforms: []chat.Platform{p}})
			require.NoError(t, err)
			if !shared {
				assert.Nil(t, p.got)
				return
			}
			require.NotNil(t, p.got)
			_, _, err = p.got.TakeBudget(t.Context(), []chat.BudgetTake{{Key: "k", Rate: chat.Rate{Count: 1, Per: time.Second}}})
			require.NoError(t, err)
			assert.Equal(t, 1, budgets.Takes(), "the platform draws from the store's budgets")
		})
	}
}
