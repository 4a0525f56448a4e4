package discord

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// Discord starts at most max_concurrency sessions of a bot every 5 seconds:
// the shards whose shard_id % max_concurrency is the same (a bucket)
// identify one at a time, 5 s apart, and a bot that identifies faster has
// every session invalidated. A shard of a bot with several shards waits for
// its turn before it identifies: in this process (identifyGate) and, with
// a leaser, across replicas (the lease "discord:identify:<bucket>", held
// for the spacing and never released). A resume is not an identify and
// does not wait; one shard alone never waits.

// IdentifySpacing is the time between two identifies of one bucket.
const IdentifySpacing = 5 * time.Second

// identifyLeasePrefix names the leases that space identifies across replicas.
const identifyLeasePrefix = "discord:identify:"

// withIdentifySpacing sets the time between identifies of a bucket (tests).
func withIdentifySpacing(d time.Duration) Option { return func(o *options) { o.identifySpacing = d } }

// identifyGate spaces the identifies of this process, per bucket.
type identifyGate struct {
	spacing time.Duration
	mu      sync.Mutex
	next    map[int]time.Time // bucket -> earliest next identify
}

func newIdentifyGate(spacing time.Duration) *identifyGate {
	return &identifyGate{spacing: spacing, next: map[int]time.Time{}}
}

// wait takes bucket's next turn and waits for it; false when ctx ended
// first.
func (g *identifyGate) wait(ctx context.Context, bucket int) bool {
	g.mu.Lock()
	now := time.Now()
	at := now
	if n := g.next[bucket]; n.After(now) {
		at = n
	}
	g.next[bucket] = at.Add(g.spacing)
	g.mu.Unlock()
	return chat.SleepContext(ctx, at.Sub(now))
}

// awaitIdentify waits until shard s may identify; false when ctx ended
// first.
func (a *Adapter) awaitIdentify(ctx context.Context, s *shard) bool {
	if s.count <= 1 {
		return true
	}
	bucket := s.id % max(s.concurrency, 1)
	if !a.identify.wait(ctx, bucket) {
		return false
	}
	cc := a.cluster.Load()
	if cc == nil {
		return true
	}
	name := identifyLeasePrefix + strconv.Itoa(bucket)
	owner := cc.owner + "/shard-" + strconv.Itoa(s.id) // two shards of this process are two holders
	warned := false
	for {
		_, ok, err := cc.leaser.AcquireLease(ctx, name, owner, a.identify.spacing)
		if ok {
			return true
		}
		if err != nil && !warned && ctx.Err() == nil {
			s.log.WarnContext(ctx, "cannot take the identify turn from the store; retrying", "err", err)
			warned = true
		}
		if !chat.SleepContext(ctx, a.identify.spacing/10) {
			return false
		}
	}
}
