package discord

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/bwmarrin/discordgo"
	"github.com/promptev/promptev-bridge/chat"
)

// Discord splits a bot's guilds between its shards: a guild's events go to
// shard (guild_id >> 22) % shard_count, and DMs to shard 0 alone. Without
// `discord.shards` a process runs shard_id of shard_count (0 of 1: every
// guild and the DMs); with it, the process runs every shard, or claims them
// from a leaser shared with other replicas (claim.go).

// shardPlan is the shards a Run serves.
type shardPlan struct {
	// count is the bot's shard count, sent in every Identify.
	count int
	// ids are the shards this process runs (without a leaser) or may claim
	// (with one), in order.
	ids []int
	// concurrency is the bot's max_concurrency (1 unless Discord said
	// more): shards identify in buckets of id % concurrency.
	concurrency int
}

// planShards works out the shards of this Run: shard_id of shard_count, or
// all of `discord.shards`, whose "auto" asks Discord (GET /gateway/bot) and
// retries with backoff until it answers or ctx ends.
func (a *Adapter) planShards(ctx context.Context) (shardPlan, error) {
	n, err := a.cfg.shardCount()
	switch {
	case err != nil:
		return shardPlan{}, fmt.Errorf("discord: %w", err)
	case a.cfg.Shards == "":
		return shardPlan{count: max(a.cfg.ShardCount, 1), ids: []int{a.cfg.ShardID}, concurrency: 1}, nil
	}
	concurrency := 1
	if n == 0 {
		if n, concurrency, err = a.recommendedShards(ctx); err != nil {
			return shardPlan{}, err
		}
	}
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	return shardPlan{count: n, ids: ids, concurrency: concurrency}, nil
}

// recommendedShards asks Discord for the bot's recommended shard count and
// its max_concurrency.
func (a *Adapter) recommendedShards(ctx context.Context) (shards, concurrency int, err error) {
	backoff := chat.Backoff{Min: a.reconnectMin, Max: a.reconnectMax}
	for {
		gb, err := a.sess.GatewayBot(reqOpts(ctx)...)
		if err == nil {
			n, c := max(gb.Shards, 1), max(gb.SessionStartLimit.MaxConcurrency, 1)
			a.log.InfoContext(ctx, "discord recommends a shard count", "shards", n, "max_concurrency", c)
			return n, c, nil
		}
		var re *discordgo.RESTError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode == http.StatusUnauthorized {
			return 0, 0, errors.New("discord: GET /gateway/bot: 401 Unauthorized: discord.token (DISCORD_BOT_TOKEN) is not a valid bot token: " +
				"copy it from the Developer Portal, your application's Bot page (Reset Token)")
		}
		wait := backoff.Next()
		a.log.WarnContext(ctx, "asking discord for the shard count failed; retrying", "err", mapErr(err), "retry_in", wait)
		if !chat.SleepContext(ctx, wait) {
			return 0, 0, ctx.Err()
		}
	}
}

// runShards runs every shard of plan in this process until ctx ends (nil)
// or one is refused for good (its error, after the others are closed).
func (a *Adapter) runShards(ctx context.Context, in *intake, plan shardPlan) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(plan.ids))
	for _, id := range plan.ids {
		s, err := a.newShard(id, plan)
		if err != nil {
			return err
		}
		a.addShard(s)
		go func() {
			err := s.run(ctx, in)
			a.removeShard(s)
			errs <- err
		}()
	}
	var fatal error
	for range plan.ids {
		if err := <-errs; err != nil && fatal == nil {
			fatal = err
			cancel()
		}
	}
	return fatal
}

// addShard records a running shard; removeShard forgets it.
func (a *Adapter) addShard(s *shard) {
	a.shardsMu.Lock()
	defer a.shardsMu.Unlock()
	a.shards[s.id] = s
}

func (a *Adapter) removeShard(s *shard) {
	a.shardsMu.Lock()
	defer a.shardsMu.Unlock()
	if a.shards[s.id] == s {
		delete(a.shards, s.id)
	}
}

// setClaimed records whether the claim loop's last round succeeded.
func (a *Adapter) setClaimed(ok bool) {
	a.shardsMu.Lock()
	defer a.shardsMu.Unlock()
	a.claimed = ok
}

// Ready implements chat.Adapter: true while every shard this process runs
// has its gateway session up. A replica that shares its shards through a
// leaser and holds none (another replica holds them) is ready once it has
// claimed: it stands by.
func (a *Adapter) Ready() bool {
	a.shardsMu.Lock()
	defer a.shardsMu.Unlock()
	if a.cluster.Load() != nil && !a.claimed {
		return false
	}
	if len(a.shards) == 0 {
		return a.claimed
	}
	for _, s := range a.shards {
		if !s.ready.Load() {
			return false
		}
	}
	return true
}

// RunningShards returns the ids of the shards whose gateway runs in this
// process, in order.
func (a *Adapter) RunningShards() []int {
	a.shardsMu.Lock()
	defer a.shardsMu.Unlock()
	ids := make([]int, 0, len(a.shards))
	for id := range a.shards {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// stateChannel looks channelID up in the gateway state of the running
// shards.
func (a *Adapter) stateChannel(channelID string) (*discordgo.Channel, bool) {
	a.shardsMu.Lock()
	defer a.shardsMu.Unlock()
	for _, s := range a.shards {
		if ch, err := s.sess.State.Channel(channelID); err == nil {
			return ch, true
		}
	}
	return nil, false
}
