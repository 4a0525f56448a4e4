package discord

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// Replicas that share a store with leases (PostgreSQL) share the bot's
// shards: each shard's gateway runs in one replica at a time, the holder of
// the lease "discord:shard:<n>". Each replica runs a claim loop every third
// of the lease's time to live:
//
//   - it renews its presence, the lease "discord:replica:<owner>", which
//     tells the others how many replicas are live;
//   - it renews the leases of the shards it holds; a lease it lost (another
//     replica took it over) closes that shard's gateway at once, and a lease
//     it could not renew in time (the store unreachable) closes it when the
//     lease may have expired;
//   - it claims free or expired shards while it holds fewer than its share,
//     ceil(shards / live replicas), and hands one back per round while it
//     holds more (a replica that joined gets its share without a restart).
//
// A replica waits one round after start before claiming, so replicas
// started together split the shards instead of one taking all and handing
// them back. A graceful stop closes the gateways, then releases the leases:
// a survivor takes the shards over on its next round. A replica that died
// loses them when they expire; a survivor then identifies the shard anew
// (the dead session's id and sequence died with it), within the lease's
// time to live plus one round: 20 s by default. docs/ARCHITECTURE.md
// ("Discord shards") gives the reasons.

// DefaultShardLeaseTTL is the time to live of a replica's lease on a shard
// (and of its presence) without renewal.
const DefaultShardLeaseTTL = 15 * time.Second

// Lease names of the claim.
const (
	leasePrefix        = "discord:"
	shardLeasePrefix   = "discord:shard:"
	replicaLeasePrefix = "discord:replica:"
)

// releaseTimeout bounds handing the leases back at shutdown.
const releaseTimeout = 5 * time.Second

// shardLeaseName is the lease of shard id.
func shardLeaseName(id int) string { return shardLeasePrefix + strconv.Itoa(id) }

// clusterConfig is what SetLeaser gave.
type clusterConfig struct {
	leaser chat.Leaser
	// owner names this replica in the leases; ttl is their time to live.
	owner string
	ttl   time.Duration
}

// SetLeaser makes the next Run share the bot's shards with the other
// replicas that use l (a store shared by several replicas): each shard's
// gateway then runs in one replica at a time. owner names this replica in
// the leases (empty: the adapter's own name, host, process and a random
// part; every process needs its own) and ttl is their time to live (0:
// DefaultShardLeaseTTL). Without a leaser (nil, the default) Run runs every
// shard it is configured for. Call it before Run.
func (a *Adapter) SetLeaser(l chat.Leaser, owner string, ttl time.Duration) {
	if l == nil {
		a.cluster.Store(nil)
		return
	}
	a.cluster.Store(&clusterConfig{leaser: l, owner: cmp.Or(owner, a.owner), ttl: cmp.Or(ttl, a.claimTTL)})
}

// WithLeaser is SetLeaser(l, "", 0) as an option of New.
func WithLeaser(l chat.Leaser) Option { return func(o *options) { o.leaser = l } }

// withClaimTTL sets the time to live of the claim's leases (tests).
func withClaimTTL(d time.Duration) Option { return func(o *options) { o.claimTTL = d } }

// withClaimTick makes the claim loop run a round on each value of tick
// instead of on a ticker (tests).
func withClaimTick(tick <-chan time.Time) Option { return func(o *options) { o.claimTick = tick } }

// Owner returns the name this replica holds its leases under.
func (a *Adapter) Owner() string {
	if cc := a.cluster.Load(); cc != nil {
		return cc.owner
	}
	return a.owner
}

// newOwnerID names this process in leases: host, process id and a random
// part, so a restarted process is a new owner.
func newOwnerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b)
}

// claimShards runs the claim loop of plan's shards until ctx ends (nil) or a
// shard is refused for good (its error).
func (a *Adapter) claimShards(ctx context.Context, in *intake, plan shardPlan, cc *clusterConfig) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type running struct {
		s      *shard
		cancel context.CancelFunc
		done   chan struct{}
	}
	fatal := make(chan error, 1)
	live := map[int]*running{} // the claim loop's goroutine alone uses it
	c := &claimer{
		leaser: cc.leaser, owner: cc.owner, ttl: cc.ttl, count: plan.count, ids: plan.ids,
		log: a.log, now: time.Now, held: map[int]heldShard{},
		start: func(id int) error {
			s, err := a.newShard(id, plan)
			if err != nil {
				return err
			}
			sctx, scancel := context.WithCancel(ctx)
			r := &running{s: s, cancel: scancel, done: make(chan struct{})}
			live[id] = r
			a.addShard(s)
			go func() {
				defer close(r.done)
				if err := s.run(sctx, in); err != nil {
					select {
					case fatal <- err:
					default:
					}
				}
			}()
			return nil
		},
		stop: func(id int) {
			r, ok := live[id]
			if !ok {
				return
			}
			delete(live, id)
			r.cancel()
			<-r.done
			a.removeShard(r.s)
		},
		claimed: a.setClaimed,
	}
	defer a.setClaimed(false)
	tick := a.claimTick
	if tick == nil {
		t := time.NewTicker(c.interval())
		defer t.Stop()
		tick = t.C
	}
	return c.run(ctx, tick, fatal)
}

// claimer is the claim loop of one replica (see the top of this file).
// Its methods run on one goroutine.
type claimer struct {
	leaser chat.Leaser
	owner  string
	ttl    time.Duration
	// count is the bot's shard count; ids the shards this replica may run.
	count int
	ids   []int
	log   *slog.Logger
	// now is the local clock, for how long a lease may be assumed held.
	now func() time.Time
	// start opens shard id's gateway; stop closes it and returns once it
	// is closed.
	start func(id int) error
	stop  func(id int)
	// claimed, when set, is told after each round whether it succeeded.
	claimed func(bool)

	presence    *chat.Lease
	held        map[int]heldShard
	rounds      int
	warnedCount bool
}

// heldShard is a shard lease this replica holds.
type heldShard struct {
	lease chat.Lease
	// until is when, by the local clock, the lease may have expired
	// unrenewed: the time its renewal was asked for, plus most of the ttl.
	until time.Time
}

// interval is the time between rounds (chat.LeaseRenewal).
func (c *claimer) interval() time.Duration {
	every, _ := chat.LeaseRenewal(c.ttl)
	return every
}

// hold is how long after asking for a lease it may be assumed held
// (chat.LeaseRenewal).
func (c *claimer) hold() time.Duration {
	_, held := chat.LeaseRenewal(c.ttl)
	return held
}

// run runs rounds until ctx ends or fatal delivers, then closes the
// gateways and hands the leases back.
func (c *claimer) run(ctx context.Context, tick <-chan time.Time, fatal <-chan error) error {
	defer c.handBack(ctx)
	for {
		c.round(ctx)
		select {
		case <-ctx.Done():
			return nil
		case err := <-fatal:
			return err
		case <-tick:
		}
	}
}

// round is one pass of the claim loop; its failures are logged and the
// next round tries again.
func (c *claimer) round(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, c.interval())
	err := c.claim(rctx)
	cancel()
	if err != nil {
		c.dropOverdue(ctx) // the shards this round could not renew
	}
	ok := err == nil && c.rounds > 0
	c.rounds++
	if c.claimed != nil {
		c.claimed(ok)
	}
	if err != nil && ctx.Err() == nil {
		c.log.WarnContext(ctx, "claiming discord shards failed; retrying next round", "err", err, "held", c.heldIDs())
	}
}

// claim renews this replica's presence and shard leases, then claims or
// hands back shards toward its share.
func (c *claimer) claim(ctx context.Context) error {
	me, ok, err := c.leaser.AcquireLease(ctx, replicaLeasePrefix+c.owner, c.owner, c.ttl)
	if err != nil {
		return fmt.Errorf("renew this replica's presence: %w", err)
	}
	if !ok {
		return fmt.Errorf("another live replica uses this replica's name %q", c.owner)
	}
	c.presence = &me
	// The store's clock at the renewal: lease expiries are compared with
	// it, never with this machine's clock.
	storeNow := me.Expires.Add(-c.ttl)

	var errs []error
	for _, id := range c.heldIDs() {
		began := c.now()
		l, err := c.leaser.RenewLease(ctx, c.held[id].lease, c.ttl)
		switch {
		case err == nil:
			c.held[id] = heldShard{lease: l, until: began.Add(c.hold())}
		case errors.Is(err, chat.ErrLeaseLost):
			c.log.WarnContext(ctx, "lost the lease of a discord shard; closing its gateway", "shard", id)
			delete(c.held, id)
			c.stop(id)
		default:
			errs = append(errs, fmt.Errorf("renew shard %d: %w", id, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if c.rounds == 0 {
		return nil // first round: let replicas starting together see each other
	}

	leases, err := c.leaser.ListLeases(ctx, leasePrefix)
	if err != nil {
		return fmt.Errorf("list leases: %w", err)
	}
	replicas, taken := 1, map[int]bool{}
	for _, l := range leases {
		if !l.Expires.After(storeNow) || l.Owner == c.owner {
			continue
		}
		if strings.HasPrefix(l.Name, replicaLeasePrefix) {
			replicas++
		} else if id, err := strconv.Atoi(strings.TrimPrefix(l.Name, shardLeasePrefix)); err == nil && strings.HasPrefix(l.Name, shardLeasePrefix) {
			taken[id] = true
			if id >= c.count && !c.warnedCount {
				c.warnedCount = true
				c.log.WarnContext(ctx, "another replica runs more discord shards than this one: every replica must run the same count (restart them all after changing it)",
					"shard", id, "holder", l.Owner, "shards", c.count)
			}
		}
	}
	share := (c.count + replicas - 1) / replicas

	for _, id := range c.ids {
		if len(c.held) >= share {
			break
		}
		if _, mine := c.held[id]; mine || taken[id] {
			continue
		}
		began := c.now()
		l, ok, err := c.leaser.AcquireLease(ctx, shardLeaseName(id), c.owner, c.ttl)
		if err != nil {
			return fmt.Errorf("claim shard %d: %w", id, err)
		}
		if !ok {
			continue // another replica was quicker
		}
		c.held[id] = heldShard{lease: l, until: began.Add(c.hold())}
		c.log.InfoContext(ctx, "claimed a discord shard; opening its gateway", "shard", id, "shards", c.count, "token", l.Token)
		if err := c.start(id); err != nil {
			c.release(ctx, id)
			return fmt.Errorf("open shard %d: %w", id, err)
		}
	}
	if len(c.held) > share {
		id := slices.Max(c.heldIDs())
		c.log.InfoContext(ctx, "handing a discord shard back to balance the replicas", "shard", id, "replicas", replicas, "share", share)
		c.stop(id)
		c.release(ctx, id)
	}
	return nil
}

// dropOverdue closes the gateway of every shard whose lease may expire
// unrenewed before the next round: another replica may hold it then. It
// runs after a round that failed; with rounds every third of the ttl, one
// failed renewal is tolerated, and after two the gateway closes before the
// lease expires on the store. A round that comes late but renews keeps its
// shards: a lease nobody took over is still this replica's.
func (c *claimer) dropOverdue(ctx context.Context) {
	next := c.now().Add(c.interval())
	for _, id := range c.heldIDs() {
		if next.Before(c.held[id].until) {
			continue
		}
		c.log.WarnContext(ctx, "the lease of a discord shard could not be renewed in time; closing its gateway", "shard", id)
		c.stop(id)
		rctx, cancel := context.WithTimeout(ctx, c.interval())
		c.release(rctx, id)
		cancel()
	}
}

// release gives shard id's lease back and forgets it; a failure only
// means the lease expires instead.
func (c *claimer) release(ctx context.Context, id int) {
	h, ok := c.held[id]
	if !ok {
		return
	}
	delete(c.held, id)
	if err := c.leaser.ReleaseLease(ctx, h.lease); err != nil {
		c.log.WarnContext(ctx, "releasing a discord shard's lease failed; it expires instead", "shard", id, "err", err)
	}
}

// handBack closes every gateway, then releases the shard leases and the
// presence, so survivors take the shards over on their next round.
func (c *claimer) handBack(ctx context.Context) {
	ids := c.heldIDs()
	for _, id := range ids {
		c.stop(id)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	for _, id := range ids {
		c.release(rctx, id)
	}
	if c.presence != nil {
		if err := c.leaser.ReleaseLease(rctx, *c.presence); err != nil {
			c.log.WarnContext(rctx, "releasing this replica's presence failed; it expires instead", "err", err)
		}
		c.presence = nil
	}
	if len(ids) > 0 {
		c.log.InfoContext(rctx, "discord shards handed back", "shards", ids)
	}
}

// heldIDs returns the held shards in order.
func (c *claimer) heldIDs() []int {
	ids := make([]int, 0, len(c.held))
	for id := range c.held {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
