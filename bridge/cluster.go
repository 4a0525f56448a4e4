package bridge

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// With a store that several replicas share (chat.Cluster), every
// conversation has one owner at a time: the replica holding its lease
// (chat.ConversationLease). A message accepted by any replica is queued in
// the store, in the same transaction as its dedupe marks; the owner runs
// the conversation's queued turns in order and lets the lease go once the
// queue is empty, after which it looks once more, so a turn queued by a
// replica that found the lease held is never left behind. Every write a
// run makes carries its lease as a fence (chat.WithFence): the store checks
// the token in the write's transaction, and the outbox asks the fence
// before each platform request. A replica that dies loses its leases when
// they expire; the survivors' orphan sweep then finalises its in-flight
// runs as interrupted and runs its queued turns.

// ReplicaOptions tune the bridge when its store is shared by replicas.
type ReplicaOptions struct {
	// ID names this replica in leases and logs; empty means the host name
	// and a random suffix. Every process needs its own: a restarted
	// process must not take its predecessor's leases for its own.
	ID string
	// LeaseTTL is how long a conversation's lease lasts without renewal
	// (default 15s): a dead replica's conversations are taken over this
	// long after its last renewal.
	LeaseTTL time.Duration
}

// defaultLeaseTTL is ReplicaOptions.LeaseTTL's default.
const defaultLeaseTTL = 15 * time.Second

// Signal topics.
const (
	// signalStop asks the owner of run Payload to cancel it (a Stop
	// handled by another replica).
	signalStop = "stop"
	// signalInbox says conversation Payload has queued turns and no owner
	// (a replica handing its conversations back as it shuts down).
	signalInbox = "inbox"
)

// errLeaseLost is the cause a run is cancelled with when its replica
// loses its conversation's lease.
var errLeaseLost = fmt.Errorf("conversation taken over: %w", chat.ErrLeaseLost)

// shared is the engine's part of a shared store; nil without one.
type shared struct {
	store chat.Cluster
	id    string
	ttl   time.Duration
	// paused stops lease renewals (tests stand a long pause in with it).
	paused atomic.Bool
	// halted makes every lease count as lost and skips every clean-up
	// (tests stand a killed process in with it).
	halted atomic.Bool
}

func newShared(st chat.Store, o ReplicaOptions) *shared {
	cl, ok := st.(chat.Cluster)
	if !ok {
		return nil
	}
	if o.ID == "" {
		o.ID = defaultReplicaID()
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = defaultLeaseTTL
	}
	return &shared{store: cl, id: o.ID, ttl: o.LeaseTTL}
}

// defaultReplicaID is the host name and a random suffix.
func defaultReplicaID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "replica"
	}
	return host + "-" + rand.Text()[:8]
}

// Replica returns this bridge's replica id, or "" when its store is not
// shared.
func (b *Bridge) Replica() string {
	if b.shared == nil {
		return ""
	}
	return b.shared.id
}

// renewEvery and heldFor are chat.LeaseRenewal of the lease TTL.
func (s *shared) renewEvery() time.Duration { every, _ := chat.LeaseRenewal(s.ttl); return every }
func (s *shared) heldFor() time.Duration    { _, held := chat.LeaseRenewal(s.ttl); return held }

// leaseHold is a conversation lease this replica holds, renewed on a
// goroutine until released or lost.
type leaseHold struct {
	b     *Bridge
	key   chat.ConversationKey
	lease chat.Lease

	mu       sync.Mutex
	deadline time.Time
	lost     bool
	// released is set once the lease was given back with every turn under
	// it delivered: the outbox may still tidy their messages, which no
	// other replica touches.
	released bool

	done chan struct{}
	wg   sync.WaitGroup
}

// acquire takes the lease of key; ok is false when another live replica
// holds it.
func (b *Bridge) acquire(key chat.ConversationKey) (h *leaseHold, ok bool, err error) {
	s := b.shared
	t0 := time.Now()
	l, ok, err := s.store.AcquireLease(b.life, chat.ConversationLease(key), s.id, s.ttl)
	if err != nil || !ok {
		return nil, false, err
	}
	h = &leaseHold{b: b, key: key, lease: l, deadline: t0.Add(s.heldFor()), done: make(chan struct{})}
	h.wg.Go(h.renew)
	return h, true, nil
}

// renew renews the lease every third of its TTL. A renewal refused marks
// the lease lost; a lease whose deadline passed without a renewal (the
// store unreachable) is lost too. Either way the conversation's run is
// cancelled: it could write nothing more.
func (h *leaseHold) renew() {
	s := h.b.shared
	t := time.NewTicker(s.renewEvery())
	defer t.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-t.C:
		}
		if s.paused.Load() {
			continue
		}
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(h.b.life, s.renewEvery())
		l, err := s.store.RenewLease(ctx, h.lease, s.ttl)
		cancel()
		switch {
		case err == nil:
			h.mu.Lock()
			h.lease.Expires, h.deadline = l.Expires, t0.Add(s.heldFor())
			h.mu.Unlock()
			continue
		case errors.Is(err, chat.ErrLeaseLost):
			h.markLost("taken over")
			return
		case h.b.life.Err() != nil:
			return
		}
		h.b.log.Warn("conversation lease not renewed", "conversation", h.key.String(), "err", err)
		if !h.held() {
			h.markLost("not renewed in time")
			return
		}
	}
}

// held reports whether the lease may still be assumed held.
func (h *leaseHold) held() bool {
	if h.b.shared.halted.Load() {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.lost && (h.released || time.Now().Before(h.deadline))
}

func (h *leaseHold) markLost(why string) {
	h.mu.Lock()
	h.lost = true
	h.mu.Unlock()
	h.b.log.Warn("conversation lease lost: its run writes nothing more", "conversation", h.key.String(), "why", why)
	h.b.cancelConversation(h.key, errLeaseLost)
}

// fence is the lease as the fence of the writes made under it.
func (h *leaseHold) fence() chat.Fence {
	return chat.Fence{Name: h.lease.Name, Token: h.lease.Token, Held: h.held}
}

// release stops the renewals and gives the lease back at once.
func (h *leaseHold) release() {
	close(h.done)
	h.wg.Wait()
	h.mu.Lock()
	lost := h.lost
	h.mu.Unlock()
	if lost || h.b.shared.halted.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.b.life), h.b.shared.renewEvery())
	defer cancel()
	if err := h.b.shared.store.ReleaseLease(ctx, h.lease); err != nil {
		h.b.log.Warn("conversation lease not released; it expires on its own", "conversation", h.key.String(), "err", err)
		return
	}
	h.mu.Lock()
	h.released = true
	h.mu.Unlock()
}

// acceptShared queues a message's turn in the store with its dedupe marks
// (limit bounds the conversation's queue; zero for none), then makes sure
// a replica runs it.
func (b *Bridge) acceptShared(ctx context.Context, keys []string, j job, limit int) (seen, full bool, err error) {
	seen, full, err = b.shared.store.AcceptQueued(ctx, keys, b.cfg.Runs.DedupeTTL, time.Now(), queuedOf(j), limit)
	if err != nil {
		return false, false, fmt.Errorf("bridge: queue the turn: %w", err)
	}
	if !seen && !full {
		b.kickShared(j.key, nil)
	}
	return seen, full, nil
}

// queuedOf is j as the store queues it.
func queuedOf(j job) chat.Queued {
	q := chat.Queued{Key: j.key, User: j.user, Query: j.query, InboundID: j.inboundID, Received: j.received}
	if j.decided != nil {
		q.Approval = j.decided.ID
	}
	return q
}

// jobOf is the job of queued turn q.
func (b *Bridge) jobOf(ctx context.Context, q chat.Queued) (job, error) {
	j := job{key: q.Key, user: q.User, query: q.Query, inboundID: q.InboundID, received: q.Received, seq: q.Seq}
	if q.Approval != "" {
		a, err := b.store.GetApproval(ctx, q.Approval)
		if err != nil {
			return j, fmt.Errorf("load the decided approval %s: %w", q.Approval, err)
		}
		j.decided = &a
	}
	return j, nil
}

// kickShared makes sure this replica tries to run key's queued turns: it
// starts the conversation's worker, or tells the one running to look
// again. orphan, when set, is a dead replica's in-flight run of key that
// the worker finalises first.
func (b *Bridge) kickShared(key chat.ConversationKey, orphan *chat.InFlightRun) {
	if _, ok := b.platform(key.Platform); !ok {
		b.log.Debug("queued turn of a platform not served here", "platform", key.Platform)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.convs[key]; ok {
		c.more = true
		return
	}
	c := &conversation{key: key}
	if b.workers.Go(func() { b.workShared(c, orphan) }) {
		b.convs[key] = c
	}
}

// workShared owns key while it has queued turns. It ends when another
// live replica holds the lease (that replica runs them), or when the
// queue is empty once the lease is given back.
func (b *Bridge) workShared(c *conversation, orphan *chat.InFlightRun) {
	log := b.log.With("platform", c.key.Platform, "conversation", c.key.String())
	for {
		h, ok, err := b.acquire(c.key)
		if err != nil {
			log.Warn("conversation lease not taken; the orphan sweep tries again", "err", err)
		}
		left := 0
		if ok {
			if orphan != nil {
				b.finaliseOrphan(h, *orphan)
				orphan = nil
			}
			b.drain(h, log)
			h.release()
			// A replica that found the lease held queued its turn for us.
			left, err = b.shared.store.CountQueued(context.WithoutCancel(b.life), c.key)
			if err != nil {
				log.Warn("queue not read after the lease was given back; the orphan sweep looks again", "err", err)
			}
		}
		b.mu.Lock()
		closing := b.isClosing()
		again := ok && !closing && (c.more || left > 0)
		c.more = false
		if !again {
			delete(b.convs, c.key)
		}
		b.mu.Unlock()
		if again {
			continue
		}
		if closing && left > 0 && !b.shared.halted.Load() {
			// Hand the waiting turns to a live replica now rather than at
			// its next orphan sweep.
			sig := chat.Signal{Topic: signalInbox, Payload: c.key.String()}
			if err := b.shared.store.Publish(context.WithoutCancel(b.life), sig); err != nil {
				log.Warn("queued turns not handed over; the orphan sweep finds them", "err", err)
			}
		}
		return
	}
}

// drain runs the queued turns of h's conversation, in order, while the
// lease is held and the bridge is not closing.
func (b *Bridge) drain(h *leaseHold, log *slog.Logger) {
	fenced := chat.WithFence(b.life, h.fence())
	for !b.isClosing() && h.held() {
		q, err := b.shared.store.NextQueued(fenced, h.key)
		if errors.Is(err, chat.ErrNotFound) {
			return
		}
		if err != nil {
			log.Warn("queued turn not read", "err", err)
			return
		}
		j, err := b.jobOf(fenced, q)
		started := false
		if err == nil {
			j.hold, j.started = h, &started
			b.runJob(j)
		} else {
			log.Warn("queued turn dropped", "err", err)
		}
		// A turn that started left the queue as it did; one that could not
		// start (its placeholder not posted) leaves it now. Under a lost
		// lease nothing is dropped: the next owner runs it.
		if started {
			continue
		}
		if err := b.shared.store.DropQueued(context.WithoutCancel(fenced), q.Seq); err != nil && !errors.Is(err, chat.ErrLeaseLost) {
			log.Warn("turn that did not start not removed from the queue", "err", err)
		}
	}
}

// finaliseOrphan finalises r, an in-flight run of h's conversation that
// no replica holds, when it is still the conversation's in-flight run
// (another survivor may have finalised it first).
func (b *Bridge) finaliseOrphan(h *leaseHold, r chat.InFlightRun) {
	ctx := chat.WithFence(b.life, h.fence())
	cur, err := b.shared.store.GetRun(ctx, r.Key)
	if err != nil || cur.Placeholder.ID != r.Placeholder.ID || cur.RunID != r.RunID {
		return
	}
	b.recoverRun(ctx, r, true)
}

// sweepOrphans takes over what no replica holds: each orphan in-flight run
// is finalised and each conversation with queued turns run.
func (b *Bridge) sweepOrphans(ctx context.Context, _ time.Time) {
	runs, queued, err := b.shared.store.Orphans(ctx)
	if err != nil {
		b.log.Warn("orphan sweep failed", "err", err)
		return
	}
	for _, r := range runs {
		b.kickShared(r.Key, &r)
	}
	for _, key := range queued {
		b.kickShared(key, nil)
	}
}

// leaseSweepAge is how long after its expiry a lease is deleted: a
// conversation or a replica that has not held it for an hour.
const leaseSweepAge = time.Hour

// sweepLeases deletes leases long expired, in batches.
func (b *Bridge) sweepLeases(ctx context.Context, _ time.Time) {
	for ctx.Err() == nil {
		n, err := b.shared.store.SweepLeases(ctx, leaseSweepAge, sweepBatch)
		if err != nil {
			b.log.Warn("lease sweep failed", "err", err)
			return
		}
		if n < sweepBatch {
			return
		}
	}
}

// listen applies the other replicas' signals until ctx ends.
func (b *Bridge) listen(ctx context.Context) {
	for ctx.Err() == nil {
		sigs, err := b.shared.store.Subscribe(ctx)
		if err != nil {
			b.log.Warn("not listening for other replicas' signals; trying again", "err", err)
			if !chat.SleepContext(ctx, time.Second) {
				return
			}
			continue
		}
		for sig := range sigs {
			b.onSignal(sig)
		}
	}
}

func (b *Bridge) onSignal(sig chat.Signal) {
	switch sig.Topic {
	case signalStop:
		// The Stop was decided in the store by the replica that got the
		// press; the run, if it is ours, ends as stopped.
		b.cancelRun(sig.Payload, fmt.Errorf("%w on another replica", errStopped))
	case signalInbox:
		key, err := chat.ParseConversationKey(sig.Payload)
		if err != nil {
			b.log.Warn("bad inbox signal ignored", "payload", sig.Payload)
			return
		}
		b.kickShared(key, nil)
	}
}

// publishStop asks the replica running run id to cancel it.
func (b *Bridge) publishStop(ctx context.Context, id string) {
	if err := b.shared.store.Publish(ctx, chat.Signal{Topic: signalStop, Payload: id}); err != nil {
		b.log.Warn("stop not passed to the run's replica", "run", id, "err", err)
	}
}
