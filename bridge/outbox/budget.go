package outbox

import (
	"container/heap"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// Priority orders waiting writes within a budget.
type Priority int

// Priorities, lowest first: tidy-ups of superseded placeholders, live status
// edits and ordinary posts, then final edits and approval cards.
const (
	PrioLow Priority = iota
	PrioNormal
	PrioHigh
)

// numPriorities is the number of Priority classes.
const numPriorities = int(PrioHigh) + 1

// Budget operations: which writes a budget meters.
const (
	opEdit  = "edit"  // message edits only
	opPost  = "post"  // new messages only
	opWrite = "write" // posts and edits together (Limits.SharedBudget)
)

// budgetKey names one rate budget of a platform: an operation and its scope
// (a workspace, or one channel of a workspace).
type budgetKey struct {
	op        string
	workspace string
	channel   string
}

// gcra is a token bucket in the form of the generic cell rate algorithm: Burst
// requests at once, then one per interval. It holds no float state, so fake
// time in tests gives exact results. The zero interval means unlimited.
type gcra struct {
	interval  time.Duration // time per token; 0 means unlimited
	tolerance time.Duration // (burst-1) * interval
	tat       time.Time     // theoretical arrival time of the next request
}

func newGCRA(r chat.Rate) gcra {
	if r.Count <= 0 || r.Per <= 0 {
		return gcra{}
	}
	// Round the interval up so the budget is never exceeded by rounding.
	interval := (r.Per + time.Duration(r.Count) - 1) / time.Duration(r.Count)
	burst := max(r.Burst, 1)
	return gcra{interval: interval, tolerance: time.Duration(burst-1) * interval}
}

// next returns when the next request may be sent (now or later).
func (g *gcra) next(now time.Time) time.Time {
	if g.interval == 0 {
		return now
	}
	if t := g.tat.Add(-g.tolerance); t.After(now) {
		return t
	}
	return now
}

// take spends one token at now; the caller has checked next.
func (g *gcra) take(now time.Time) {
	if g.interval == 0 {
		return
	}
	if g.tat.Before(now) {
		g.tat = now
	}
	g.tat = g.tat.Add(g.interval)
}

// nextFor returns when a write of class pri may take a token (now or
// later): finals, approval cards and posts while any token is left; live
// status edits leave half the burst to them, and tidy-ups all but one token.
// Under load the bucket so keeps a reserve, and a final finds a token at
// once instead of waiting behind the live edits for the next one; a higher
// class is woken as soon as one token is back, a lower one only when more are.
func (g *gcra) nextFor(pri Priority, now time.Time) time.Time {
	if g.interval == 0 {
		return now
	}
	if t := g.tat.Add(-g.tolerance + time.Duration(g.keep(pri))*g.interval); t.After(now) {
		return t
	}
	return now
}

// burst is the bucket's size in tokens (1 when unlimited).
func (g *gcra) burst() int {
	if g.interval == 0 {
		return 1
	}
	return int(g.tolerance/g.interval) + 1
}

// keep is how many tokens a write of class pri leaves in the bucket (see
// nextFor): none for finals, half the burst for live edits, all but one
// for tidy-ups.
func (g *gcra) keep(pri Priority) int {
	switch pri {
	case PrioNormal:
		return g.burst() / 2
	case PrioLow:
		return g.burst() - 1
	}
	return 0
}

// fullAt returns when the bucket is full again (a fresh bucket is equivalent).
func (g *gcra) fullAt() time.Time { return g.tat }

// waiter is one write waiting for budget.
type waiter struct {
	pri Priority
	// lm is the message an edit is for; nil for posts.
	lm *LiveMessage
	// live marks a live edit: the message's pending state is sent when granted.
	live bool
	// msg is the state a final or tidy edit sends.
	msg chat.Message
	// seq is the write's place in arrival order (set when first queued, kept
	// by its retries): the bot-wide budget serves the writes of all scopes
	// in this order within a class.
	seq uint64
	// grant, for writes the caller performs itself (posts and final edits), is
	// closed when the write may go. Live and tidy edits have none: the outbox
	// sends them itself.
	grant chan struct{}
	// giveUp, for a final edit, is closed when the shared budgets' answer
	// shows it cannot be granted before deadline: it is posted instead.
	giveUp   chan struct{}
	deadline time.Time
	// granted and cancelled are guarded by the outbox's mutex.
	granted   bool
	cancelled bool
}

// budget is one rate budget with its waiting writes, one queue per Priority.
type budget struct {
	key budgetKey
	// r is the budget's rate as the platform gives it, and rate its bucket.
	r           chat.Rate
	rate        gcra
	pausedUntil time.Time
	queues      [numPriorities][]*waiter
	waiting     int // entries in queues, cancelled ones included
	dirty       bool
	wakeAt      time.Time // pending timer entry, zero when none
	removed     bool
	// head is the write this budget has granted but the bot-wide budget not
	// yet: it waits in Outbox.heads (at index headIdx) with the heads of the
	// other scopes. It is in none of the queues meanwhile.
	head    *waiter
	headIdx int
	// taking is the write granted locally whose tokens the shared budgets
	// (Options.Shared) are asked for; nil when none. It is in none of the
	// queues meanwhile, and the budget is not forgotten.
	taking *waiter
}

// wakeEntry is a timer heap entry: process budget b at time at; a nil b
// looks at the heads waiting for the bot-wide budget.
type wakeEntry struct {
	at time.Time
	b  *budget
}

// wakeHeap orders wake entries by time.
type wakeHeap []wakeEntry

func (h wakeHeap) Len() int           { return len(h) }
func (h wakeHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h wakeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *wakeHeap) Push(x any)        { *h = append(*h, x.(wakeEntry)) }
func (h *wakeHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = wakeEntry{}
	*h = old[:n-1]
	return e
}

// headHeap orders the budgets whose head waits for the bot-wide budget: the
// highest class first, then the earliest arrival (waiter.seq).
type headHeap []*budget

func (h headHeap) Len() int { return len(h) }
func (h headHeap) Less(i, j int) bool {
	a, b := h[i].head, h[j].head
	if a.pri != b.pri {
		return a.pri > b.pri
	}
	return a.seq < b.seq
}
func (h headHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].headIdx, h[j].headIdx = i, j
}
func (h *headHeap) Push(x any) {
	b := x.(*budget)
	b.headIdx = len(*h)
	*h = append(*h, b)
}
func (h *headHeap) Pop() any {
	old := *h
	n := len(old)
	b := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	b.headIdx = -1
	return b
}

// budgetFor returns the budget named by key, creating it. Guarded by o.mu.
func (o *Outbox) budgetFor(key budgetKey) *budget {
	if b, ok := o.budgets[key]; ok {
		return b
	}
	r := o.limits.EditRate
	if key.op == opPost {
		r = o.limits.PostRate
	}
	b := &budget{key: key, r: r, rate: o.newRate(r)}
	o.budgets[key] = b
	return b
}

// editKey returns the budget that meters edits of ref. With
// Limits.ThreadScope a thread conversation's edits are metered on its thread,
// like its posts.
func (o *Outbox) editKey(ref chat.MessageRef) budgetKey {
	op := opEdit
	if o.limits.SharedBudget {
		op = opWrite
	}
	ch := ref.Channel
	if ch == "" || (o.limits.ThreadScope && ref.Key.Thread != "") {
		ch = o.scopeChannel(ref.Key)
	}
	return o.scopedKey(op, o.limits.EditScope, ref.Key.Workspace, ch)
}

// postKey returns the budget that meters posts into key.
func (o *Outbox) postKey(key chat.ConversationKey) budgetKey {
	if o.limits.SharedBudget {
		return o.scopedKey(opWrite, o.limits.EditScope, key.Workspace, o.scopeChannel(key))
	}
	return o.scopedKey(opPost, o.limits.PostScope, key.Workspace, o.scopeChannel(key))
}

// scopeChannel is the channel scope of a conversation: its thread when
// threads are their own scope (Limits.ThreadScope), else its channel.
func (o *Outbox) scopeChannel(key chat.ConversationKey) string {
	if o.limits.ThreadScope && key.Thread != "" {
		return key.Thread
	}
	return key.Channel
}

func (o *Outbox) scopedKey(op string, scope chat.Scope, workspace, channel string) budgetKey {
	if scope == chat.ScopeWorkspace {
		channel = ""
	}
	return budgetKey{op: op, workspace: workspace, channel: channel}
}

// enqueueLocked adds w to the budget named by key (at the front of its class
// when front is set, for a retry after a 429) and wakes the dispatcher.
func (o *Outbox) enqueueLocked(key budgetKey, w *waiter, front bool) {
	b := o.budgetFor(key)
	if w.seq == 0 {
		o.seq++
		w.seq = o.seq
	}
	q := b.queues[w.pri]
	if front {
		q = append(q, nil)
		copy(q[1:], q)
		q[0] = w
	} else {
		q = append(q, w)
	}
	b.queues[w.pri] = q
	b.waiting++
	o.markDirtyLocked(b)
}

// markDirtyLocked asks the dispatcher to look at b again.
func (o *Outbox) markDirtyLocked(b *budget) {
	o.addDirtyLocked(b)
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// addDirtyLocked adds b to the budgets the dispatcher processes next.
func (o *Outbox) addDirtyLocked(b *budget) {
	if !b.dirty {
		b.dirty = true
		o.dirty = append(o.dirty, b)
	}
}

// markKeyDirtyLocked marks the budget named by key, if it exists.
func (o *Outbox) markKeyDirtyLocked(key budgetKey) {
	if b, ok := o.budgets[key]; ok {
		o.markDirtyLocked(b)
	}
}

// pauseLocked pauses the budget named by key for d after a 429; after a 429
// of the platform's bot-wide limit (rl.Global) it pauses every budget.
func (o *Outbox) pauseLocked(key budgetKey, rl *chat.RateLimitError, now time.Time) {
	d := rl.RetryAfter
	if d <= 0 {
		d = time.Second
	}
	if rl.Global {
		if until := now.Add(d); until.After(o.globalPaused) {
			o.globalPaused = until
		}
	}
	b := o.budgetFor(key)
	if until := now.Add(d); until.After(b.pausedUntil) {
		b.pausedUntil = until
	}
	o.markDirtyLocked(b)
}

// scheduleGlobalLocked makes the dispatcher look at the heads waiting for
// the bot-wide budget again at (or after) at.
func (o *Outbox) scheduleGlobalLocked(at time.Time) {
	if o.globalWakeAt.IsZero() || at.Before(o.globalWakeAt) {
		o.globalWakeAt = at
		heap.Push(&o.timers, wakeEntry{at: at})
	}
}

// scheduleLocked makes the dispatcher process b again at (or after) at.
func (o *Outbox) scheduleLocked(b *budget, at time.Time) {
	if b.wakeAt.IsZero() || at.Before(b.wakeAt) {
		b.wakeAt = at
		heap.Push(&o.timers, wakeEntry{at: at, b: b})
	}
}

// processLocked offers the next write of b that its own budget allows now
// to the bot-wide budget (see grantHeadsLocked) and schedules the next look.
// A head offered before goes back to its queue first, so a write that
// arrived since (a final) or a pause is taken into account.
func (o *Outbox) processLocked(b *budget, now time.Time) {
	if b.head != nil {
		heap.Remove(&o.heads, b.headIdx)
		b.queues[b.head.pri] = append([]*waiter{b.head}, b.queues[b.head.pri]...)
		b.waiting++
		b.head = nil
	}
	for b.waiting > 0 {
		if now.Before(b.pausedUntil) {
			o.scheduleLocked(b, b.pausedUntil)
			return
		}
		if at := b.rate.next(now); at.After(now) {
			o.scheduleLocked(b, at)
			return
		}
		w, hold := o.pickLocked(b, now)
		if w == nil {
			if !hold.IsZero() {
				o.scheduleLocked(b, hold)
			}
			break
		}
		if at := b.rate.nextFor(scopeClass(w), now); at.After(now) {
			// The budget is spent, or its last tokens are kept for higher
			// classes: w goes back to the head of its class until then.
			b.queues[w.pri] = append([]*waiter{w}, b.queues[w.pri]...)
			b.waiting++
			o.scheduleLocked(b, at)
			return
		}
		// The scope allows w: it waits for the bot-wide budget in arrival
		// order with the heads of the other scopes.
		b.head = w
		heap.Push(&o.heads, b)
		return
	}
	if b.waiting > 0 || b.taking != nil || now.Before(b.pausedUntil) {
		return
	}
	// Idle: forget the budget once it is full again (a new one is the same).
	if full := b.rate.fullAt(); full.After(now) {
		o.scheduleLocked(b, full)
		return
	}
	b.removed = true
	delete(o.budgets, b.key)
}

// grantHeadsLocked grants the heads of the scope budgets as the bot-wide
// budget (Limits.GlobalRate) allows: the highest class first, within a
// class the earliest arrival, whatever its scope. A head that cannot go
// holds back every later one, so a write waiting for the bot-wide budget is
// never overtaken by one that arrived after it. Each budget granted is
// processed again for its next write, as is one whose head was withdrawn;
// it reports whether any budget is to be processed again.
func (o *Outbox) grantHeadsLocked(now time.Time) bool {
	changed := false
	for len(o.heads) > 0 {
		b := o.heads[0]
		w := b.head
		if w.cancelled {
			heap.Pop(&o.heads)
			b.head = nil
			o.addDirtyLocked(b)
			changed = true
			continue
		}
		// Reserves grow as the class falls, so when the first head must
		// wait, every other one must too.
		if at := o.globalNextLocked(w.pri, now); at.After(now) {
			o.scheduleGlobalLocked(at)
			break
		}
		if o.taking {
			break // the shared budgets answer one write at a time; the answer wakes the dispatcher
		}
		heap.Pop(&o.heads)
		b.head = nil
		if o.shared != nil && o.startTakeLocked(b, w) {
			break
		}
		b.rate.take(now)
		o.global.take(now)
		o.grantLocked(w, now)
		o.addDirtyLocked(b)
		changed = true
	}
	return changed
}

// scopeClass is the class whose reserve a write keeps in its scope's
// budget: only the outbox's own edits (live and tidy) leave one; posts and
// finals of every class may use it.
func scopeClass(w *waiter) Priority {
	if w.grant == nil {
		return w.pri
	}
	return PrioHigh
}

// pickLocked removes and returns the write to grant next: the first eligible
// one of the highest class. A class whose writes all wait for their message's
// edit interval holds back the lower classes (so a final is not overtaken by
// a live edit while it waits a moment); hold is then when to look again.
func (o *Outbox) pickLocked(b *budget, now time.Time) (w *waiter, hold time.Time) {
	for p := numPriorities - 1; p >= 0; p-- {
		q := b.queues[p]
		for i := 0; i < len(q); {
			c := q[i]
			ok, at, drop := o.eligibleLocked(c, now)
			if drop || ok {
				q = append(q[:i], q[i+1:]...)
				b.queues[p] = q
				b.waiting--
				if ok {
					return c, time.Time{}
				}
				continue
			}
			if !at.IsZero() && (hold.IsZero() || at.Before(hold)) {
				hold = at
			}
			i++
		}
		if !hold.IsZero() {
			return nil, hold
		}
	}
	return nil, time.Time{}
}

// globalNextLocked returns when a write of class pri may pass the bot-wide
// budget (Limits.GlobalRate), under the class reserves of nextFor. A
// bot-wide 429 pauses every class.
func (o *Outbox) globalNextLocked(pri Priority, now time.Time) time.Time {
	at := o.global.nextFor(pri, now)
	if o.globalPaused.After(at) {
		at = o.globalPaused
	}
	return at
}

// eligibleLocked reports whether w may be granted now; when it must wait for
// its message's edit interval, at is when it may go; drop means w is obsolete.
func (o *Outbox) eligibleLocked(w *waiter, now time.Time) (ok bool, at time.Time, drop bool) {
	if w.cancelled {
		return false, time.Time{}, true
	}
	lm := w.lm
	if lm == nil {
		return true, time.Time{}, false
	}
	if w.live && lm.pending == nil {
		if lm.queued == w {
			lm.queued = nil
		}
		return false, time.Time{}, true
	}
	if w.grant == nil && o.tooOld(lm, now) {
		// Never edit a message past the platform's edit age.
		if w.live {
			lm.pending = nil
			if lm.queued == w {
				lm.queued = nil
			}
		}
		o.metrics.Edit(o.name, "dropped")
		return false, time.Time{}, true
	}
	if lm.inFlight {
		return false, time.Time{}, false
	}
	// The interval between edits of one message saves budget for live
	// status edits only: a final or a tidy-up goes as soon as budget allows.
	if next := lm.lastWrite.Add(o.limits.MinEditInterval); w.live && next.After(now) {
		return false, next, false
	}
	return true, time.Time{}, false
}

// grantLocked lets w go: a caller-driven write is signalled, a live or tidy
// edit is sent on a goroutine of the outbox.
func (o *Outbox) grantLocked(w *waiter, now time.Time) {
	w.granted = true
	if lm := w.lm; lm != nil {
		lm.inFlight = true
		lm.lastWrite = now
	}
	if w.grant != nil {
		close(w.grant)
		return
	}
	msg := w.msg
	if w.live {
		msg = *w.lm.pending
		w.lm.pending = nil
		w.lm.queued = nil
	}
	o.wg.Add(1)
	go o.sendEdit(w, msg)
}
