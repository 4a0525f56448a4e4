package slack

import (
	"context"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

var _ chat.BudgetSharing = (*Adapter)(nil)

// ShareBudgets implements chat.BudgetSharing: the lanes' budgets per
// workspace (chat.startStream, chat.appendStream, chat.stopStream,
// agents.sessions.setStatus) are drawn from b, which the other replicas
// draw from too, so together they stay within one replica's budget. The
// status line's budget per thread stays in the process. Call it before Run.
func (a *Adapter) ShareBudgets(b chat.SharedBudgets) {
	a.lanes.mu.Lock()
	defer a.lanes.mu.Unlock()
	a.lanes.shared = b
}

// takeLane draws one call of method in scope from its budget: a shared
// one for a workspace budget when the replicas share budgets, else this
// adapter's (lanes.take). When the budget is short it draws nothing and
// returns how long to wait. When the shared budgets cannot be reached, the
// call is metered by this adapter's budget alone.
func (a *Adapter) takeLane(ctx context.Context, method, scope string) (bool, time.Duration) {
	r, known := laneRates[method]
	a.lanes.mu.Lock()
	shared := a.lanes.shared
	a.lanes.mu.Unlock()
	if !known || !r.workspace || shared == nil {
		return a.lanes.take(method, scope, a.now())
	}
	rate := chat.Rate{Count: r.count, Per: r.per, Burst: r.burst}
	ok, states, err := shared.TakeBudget(ctx, []chat.BudgetTake{{Key: Name + ":lane:" + method + ":" + scope, Rate: rate}})
	if err != nil {
		a.log.Debug("shared lane budget unavailable; using this replica's", "method", method, "error", err)
		return a.lanes.take(method, scope, a.now())
	}
	if ok {
		return true, 0
	}
	wait := states[0].Backlog - time.Duration(r.burst-1)*chat.BudgetInterval(rate)
	return false, max(wait, states[0].Paused)
}
