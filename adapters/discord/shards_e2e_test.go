package discord

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/discord/discordfake"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

// Guilds of shard 0 and shard 1 of 2: (guild_id >> 22) % 2.
var (
	evenGuild   = strconv.FormatUint(1300<<22, 10)
	oddGuild    = strconv.FormatUint(1301<<22, 10)
	evenChannel = "1400000000000000001"
	oddChannel  = "1400000000000000002"
)

// testIdentifySpacing spaces the identifies of a bucket in these tests;
// the fake sees them at least a fifth of it apart (without spacing they
// come together), whatever the connections' own delays.
const testIdentifySpacing = 500 * time.Millisecond

// replica is one adapter of several sharing a leaser over one fake.
type replica struct {
	a    *Adapter
	h    *recordingHandler
	link *cutLeaser
	tick chan time.Time
	logs *bridgetest.SyncBuffer
	stop context.CancelFunc
	done chan error
	// ended is closed once Run returned.
	ended chan struct{}
}

// startReplica starts an adapter whose claim loop runs a round when the
// test ticks it (its first round runs at once), unless opts say otherwise.
func startReplica(t testing.TB, fake *discordfake.Server, l chat.Leaser, mutate func(*Config), extra ...Option) *replica {
	t.Helper()
	cfg := testConfig()
	cfg.SlashCommand.Enabled = false
	if mutate != nil {
		mutate(&cfg)
	}
	r := &replica{h: newRecordingHandler(), link: &cutLeaser{l: l}, tick: make(chan time.Time), logs: &bridgetest.SyncBuffer{},
		done: make(chan error, 1), ended: make(chan struct{})}
	opts := []Option{withClaimTick(r.tick), withIdentifySpacing(testIdentifySpacing)}
	if l != nil {
		opts = append(opts, WithLeaser(r.link))
	}
	opts = append(opts, extra...)
	r.a = newAdapter(t, fake, cfg, r.logs, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() {
		defer close(r.ended)
		r.done <- r.a.Run(ctx, r.h)
	}()
	t.Cleanup(func() {
		r.halt(t)
		require.NotContains(t, r.logs.String(), testToken, "the bot token reached the logs")
	})
	return r
}

// halt stops the replica (once) and waits for Run.
func (r *replica) halt(t testing.TB) {
	t.Helper()
	r.stop()
	select {
	case err, ok := <-r.done:
		if ok {
			require.NoError(t, err)
			close(r.done)
		}
	case <-time.After(waitTimeout):
		t.Error("Run did not return after cancel")
	}
}

// round makes the replica's claim loop run one round.
func (r *replica) round(t *testing.T) {
	t.Helper()
	select {
	case r.tick <- time.Now():
	case <-time.After(waitTimeout):
		t.Fatal("the claim loop did not take its tick")
	}
}

// identified returns the shards the fake saw identified, in order.
func identified(s discordfake.Snapshot) [][2]int {
	var out [][2]int
	for _, id := range s.Identifies {
		if id.Shard != nil {
			out = append(out, *id.Shard)
		} else {
			out = append(out, [2]int{0, 1})
		}
	}
	slices.SortFunc(out, func(a, b [2]int) int { return a[0] - b[0] })
	return out
}

func waitFake(t testing.TB, fake *discordfake.Server, cond func(discordfake.Snapshot) bool) discordfake.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s, err := fake.Wait(ctx, cond)
	require.NoError(t, err, "fake did not reach the expected state")
	return s
}

// waitPresent waits until every replica's first claim round has announced it.
func waitPresent(t *testing.T, l chat.Leaser, rs ...*replica) {
	t.Helper()
	require.Eventually(t, func() bool {
		leases, err := l.ListLeases(context.Background(), replicaLeasePrefix)
		require.NoError(t, err)
		present := map[string]bool{}
		for _, l := range leases {
			present[l.Owner] = true
		}
		for _, r := range rs {
			if !present[r.a.Owner()] {
				return false
			}
		}
		return true
	}, waitTimeout, time.Millisecond)
}

// tickEvery makes the replicas' claim loops run a round every d until the
// test ends, as their tickers would; a replica whose Run ended is skipped.
func tickEvery(t *testing.T, d time.Duration, rs ...*replica) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				for _, r := range rs {
					select {
					case r.tick <- now:
					case <-r.ended:
					case <-ctx.Done():
						return
					}
				}
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func newShardedFake(t testing.TB) *discordfake.Server {
	t.Helper()
	fake := discordfake.New()
	t.Cleanup(fake.Close)
	fake.SetRecommendedShards(2)
	fake.AddChannel(discordfake.Channel{ID: evenChannel, GuildID: evenGuild, Name: "even", Type: discordfake.ChannelTypeGuildText})
	fake.AddChannel(discordfake.Channel{ID: oddChannel, GuildID: oddGuild, Name: "odd", Type: discordfake.ChannelTypeGuildText})
	require.Equal(t, 0, discordfake.ShardOf(evenGuild, 2))
	require.Equal(t, 1, discordfake.ShardOf(oddGuild, 2))
	return fake
}

func mentionIn(t *testing.T, fake *discordfake.Server, guild, channel, text string) {
	t.Helper()
	_, err := fake.SendMessage(discordfake.UserMessage{GuildID: guild, ChannelID: channel, AuthorID: testUser,
		AuthorName: "ana", Content: text, MentionBot: true})
	require.NoError(t, err)
}

// holderOf returns the replica running shard id.
func holderOf(t testing.TB, id int, rs ...*replica) *replica {
	t.Helper()
	var found *replica
	for _, r := range rs {
		if slices.Contains(r.a.RunningShards(), id) {
			require.Nil(t, found, "shard %d runs in two replicas", id)
			found = r
		}
	}
	require.NotNil(t, found, "shard %d runs nowhere", id)
	return found
}

func TestShardsWithoutLeaserRunInOneProcess(t *testing.T) {
	t.Parallel()
	for _, shards := range []string{"2", ShardsAuto} {
		t.Run(shards, func(t *testing.T) {
			t.Parallel()
			fake := newShardedFake(t)
			r := startReplica(t, fake, nil, func(c *Config) { c.Shards = shards })
			s := waitFake(t, fake, func(s discordfake.Snapshot) bool { return s.Connections == 2 })
			assert.Equal(t, [][2]int{{0, 2}, {1, 2}}, identified(s))
			assert.GreaterOrEqual(t, s.Identifies[1].At.Sub(s.Identifies[0].At), testIdentifySpacing/5,
				"one bucket (max_concurrency 1): identifies are spaced")
			require.Eventually(t, r.a.Ready, waitTimeout, time.Millisecond)
			assert.Equal(t, []int{0, 1}, r.a.RunningShards())

			mentionIn(t, fake, oddGuild, oddChannel, "odd")
			mentionIn(t, fake, evenGuild, evenChannel, "even")
			got := []string{r.h.nextMessage(t).Text, r.h.nextMessage(t).Text}
			assert.ElementsMatch(t, []string{"odd", "even"}, got, "both shards' guilds reach the handler")
		})
	}
}

// TestShardsSplitAcrossReplicas: two replicas sharing a leaser and two
// shards (Discord's recommended count) identify each shard exactly once,
// one each, and each guild's messages reach the replica of its shard.
func TestShardsSplitAcrossReplicas(t *testing.T) {
	t.Parallel()
	fake := newShardedFake(t)
	clock := &offsetClock{}
	l := newMemLeaser(clock.now)
	shardsAuto := func(c *Config) { c.Shards = ShardsAuto }
	a, b := startReplica(t, fake, l, shardsAuto), startReplica(t, fake, l, shardsAuto)
	waitPresent(t, l, a, b)
	assert.False(t, a.a.Ready(), "not ready before it claimed")
	a.round(t)
	b.round(t)
	s := waitFake(t, fake, func(s discordfake.Snapshot) bool { return s.Connections == 2 })
	for range 3 { // more rounds change nothing
		a.round(t)
		b.round(t)
	}
	a.round(t) // the third round above is over once a takes a tick again
	b.round(t)
	s = fake.Snapshot()
	assert.Equal(t, [][2]int{{0, 2}, {1, 2}}, identified(s), "each shard identified exactly once")
	assert.Equal(t, 2, s.Connections)
	assert.GreaterOrEqual(t, s.Identifies[1].At.Sub(s.Identifies[0].At), testIdentifySpacing/5,
		"two replicas space their identifies through the store")
	assert.Len(t, a.a.RunningShards(), 1)
	assert.Len(t, b.a.RunningShards(), 1)
	require.Eventually(t, func() bool { return a.a.Ready() && b.a.Ready() }, waitTimeout, time.Millisecond)

	even, odd := holderOf(t, 0, a, b), holderOf(t, 1, a, b)
	mentionIn(t, fake, oddGuild, oddChannel, "to the odd guild")
	assert.Equal(t, "to the odd guild", odd.h.nextMessage(t).Text)
	_, err := fake.SendMessage(discordfake.UserMessage{ChannelID: testDM, AuthorID: testUser, AuthorName: "ana", Content: "a dm"})
	require.NoError(t, err)
	assert.Equal(t, "a dm", even.h.nextMessage(t).Text, "DMs arrive on shard 0")
	mentionIn(t, fake, evenGuild, evenChannel, "to the even guild")
	assert.Equal(t, "to the even guild", even.h.nextMessage(t).Text)
	assert.Empty(t, odd.h.msgs, "shard 1 saw no event of shard 0")
}

// TestShardTakenOverWhenItsHolderDies: of three replicas over two shards,
// the holder of shard 0 dies without handing anything back; once its lease
// expires a survivor identifies shard 0 anew.
func TestShardTakenOverWhenItsHolderDies(t *testing.T) {
	t.Parallel()
	fake := newShardedFake(t)
	clock := &offsetClock{}
	l := newMemLeaser(clock.now)
	two := func(c *Config) { c.Shards = "2" }
	rs := []*replica{startReplica(t, fake, l, two), startReplica(t, fake, l, two), startReplica(t, fake, l, two)}
	waitPresent(t, l, rs...)
	for _, r := range rs {
		r.round(t)
	}
	waitFake(t, fake, func(s discordfake.Snapshot) bool { return s.Connections == 2 })
	dead := holderOf(t, 0, rs...)
	other := holderOf(t, 1, rs...)

	dead.link.cut.Store(true) // its store is gone: nothing renewed, nothing released
	dead.halt(t)
	waitFake(t, fake, func(s discordfake.Snapshot) bool { return s.Connections == 1 })
	assert.Equal(t, dead.a.Owner(), l.holder(shardLeaseName(0)), "the dead replica's lease outlives it")

	var survivors []*replica
	for _, r := range rs {
		if r != dead {
			survivors = append(survivors, r)
			r.round(t)
		}
	}
	assert.Equal(t, dead.a.Owner(), l.holder(shardLeaseName(0)), "not taken over before it expires")
	died := clock.now()
	for l.holder(shardLeaseName(0)) == dead.a.Owner() || l.holder(shardLeaseName(0)) == "" {
		require.Less(t, clock.now().Sub(died), 30*time.Second, "shard 0 not taken over within 30 s")
		clock.advance(DefaultShardLeaseTTL / 3) // the survivors' rounds, one claim interval apart
		for _, r := range survivors {
			r.round(t)
		}
	}
	s := waitFake(t, fake, func(s discordfake.Snapshot) bool { return s.Connections == 2 })
	assert.Equal(t, [][2]int{{0, 2}, {0, 2}, {1, 2}}, identified(s), "shard 0 identified anew, once")
	heir := holderOf(t, 0, survivors...)
	assert.NotSame(t, other, heir, "the replica of shard 1 keeps its share")
	assert.Equal(t, heir.a.Owner(), l.holder(shardLeaseName(0)))
	mentionIn(t, fake, evenGuild, evenChannel, "after the takeover")
	assert.Equal(t, "after the takeover", heir.h.nextMessage(t).Text)
}

// TestOneShardOneConnection: with one shard, of three replicas one holds it
// and the others stand by (ready); a graceful stop of the holder hands it
// to a survivor at once, with no wait for expiry.
func TestOneShardOneConnection(t *testing.T) {
	t.Parallel()
	fake := newShardedFake(t)
	clock := &offsetClock{}
	l := newMemLeaser(clock.now)
	rs := []*replica{startReplica(t, fake, l, nil), startReplica(t, fake, l, nil), startReplica(t, fake, l, nil)}
	waitPresent(t, l, rs...)
	for range 3 {
		for _, r := range rs {
			r.round(t)
		}
	}
	for _, r := range rs { // the last rounds are over
		r.round(t)
	}
	s := waitFake(t, fake, func(s discordfake.Snapshot) bool { return s.Connections == 1 })
	assert.Len(t, s.Identifies, 1, "exactly one gateway connection")
	assert.Nil(t, s.Identifies[0].Shard, "one shard: Identify sends none")
	holder := holderOf(t, 0, rs...)
	for _, r := range rs {
		require.Eventually(t, r.a.Ready, waitTimeout, time.Millisecond, "a standby replica is ready too")
	}

	holder.halt(t)
	assert.Empty(t, l.holder(shardLeaseName(0)), "a graceful stop releases the lease")
	for _, r := range rs {
		if r != holder {
			r.round(t)
		}
	}
	s = waitFake(t, fake, func(s discordfake.Snapshot) bool { return len(s.Identifies) == 2 && s.Connections == 1 })
	assert.Equal(t, 1, s.Connections)
}
