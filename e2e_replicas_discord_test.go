package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/discord/discordfake"
)

// TestEndToEndReplicasDiscordShards runs three daemons on one PostgreSQL
// schema with `discord.shards: 2` against one fake Discord: the store's
// leases reach the Discord adapter, each shard runs in a replica of its
// own, a mention in each shard's guild is answered once, and a graceful
// stop of shard 0's holder hands the shard to a survivor, which identifies
// it once.
func TestEndToEndReplicasDiscordShards(t *testing.T) {
	const key = "pk-e2e-replicas-discord"
	t.Setenv("PB_E2E_KEY", key)
	t.Setenv("PB_DISCORD_TOKEN", "discord-e2e-bot-token")
	api := startReplicaPromptev(t, key)
	fake := discordfake.New()
	t.Cleanup(fake.Close)
	guilds := [2]string{strconv.FormatUint(1300<<22, 10), strconv.FormatUint(1301<<22, 10)} // shards 0 and 1 of 2
	for i, g := range guilds {
		require.Equal(t, i, discordfake.ShardOf(g, 2))
		fake.AddChannel(discordfake.Channel{ID: fmt.Sprintf("%d00", i+7), GuildID: g, Name: "general", Type: discordfake.ChannelTypeGuildText})
	}
	ps := startReplicas(t, 3, api, "echo", func(int) string {
		return fmt.Sprintf(`discord:
  enabled: true
  token: ${PB_DISCORD_TOKEN}
  api_url: %s
  shards: 2
  slash_command: {enabled: false}`, fake.APIURL())
	})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // failure guard
	defer cancel()
	wait := func(what string, cond func(discordfake.Snapshot) bool) discordfake.Snapshot {
		t.Helper()
		s, err := fake.Wait(ctx, cond)
		require.NoError(t, err, "waiting for %s", what)
		return s
	}
	identifies := func(s discordfake.Snapshot) map[[2]int]int {
		n := map[[2]int]int{}
		for _, id := range s.Identifies {
			require.NotNil(t, id.Shard)
			n[*id.Shard]++
		}
		return n
	}
	// settled waits until each shard runs in its own replica, as the
	// replicas' logs tell (a replica that started first may have claimed
	// both and handed one back), and returns which one runs shard 0.
	settled := func(what string) int {
		t.Helper()
		var holder map[int]int
		require.Eventually(t, func() bool {
			holder = shardHolders(ps)
			s := fake.Snapshot()
			return len(holder) == 2 && holder[0] != holder[1] && slices.Equal(s.ConnectedShards, [][2]int{{0, 2}, {1, 2}})
		}, 60*time.Second, 10*time.Millisecond, what)
		return holder[0]
	}
	holder := settled("each shard in a replica of its own")
	before := identifies(fake.Snapshot())

	ask := func(shard int, text string) {
		t.Helper()
		_, err := fake.SendMessage(discordfake.UserMessage{GuildID: guilds[shard], ChannelID: fmt.Sprintf("%d00", shard+7),
			AuthorID: "300", AuthorName: "ana", Content: text, MentionBot: true})
		require.NoError(t, err)
		wait("the answer to "+text, func(s discordfake.Snapshot) bool { return discordAnswered(s, text) > 0 })
	}
	ask(0, "question even")
	ask(1, "question odd")

	// The holder of shard 0 stops gracefully: it hands the shard back.
	ps[holder].cancel()
	code := ps[holder].wait(t)
	ps[holder].code <- code // for the cleanup's wait
	require.Zero(t, code)
	assert.Contains(t, ps[holder].stderr.String(), "discord shards handed back")
	heir := settled("shard 0 taken over")
	assert.NotEqual(t, holder, heir)
	after := identifies(fake.Snapshot())
	assert.Equal(t, before[[2]int{0, 2}]+1, after[[2]int{0, 2}], "shard 0 identified anew, once")
	assert.Equal(t, before[[2]int{1, 2}], after[[2]int{1, 2}], "shard 1 untouched")
	ask(0, "after the hand-over")
	for _, q := range []string{"question even", "question odd", "after the hand-over"} {
		assert.Equal(t, 1, discordAnswered(fake.Snapshot(), q), "%q answered once", q)
	}
}

// shardEvent is a claim loop's log line about one shard: claimed, or
// closed (handed back, lost, overdue).
var shardEvent = regexp.MustCompile(`msg="(claimed|handing|lost|the lease)[^"]*discord shard[^"]*".*?\bshard=(\d+)`)

// shardHolders reads from the replicas' logs which replica runs each shard;
// a replica that stopped runs none.
func shardHolders(ps []*inProcess) map[int]int {
	out := map[int]int{}
	for i, p := range ps {
		logs := p.stderr.String()
		if strings.Contains(logs, "discord shards handed back") {
			continue
		}
		for _, m := range shardEvent.FindAllStringSubmatch(logs, -1) {
			id, _ := strconv.Atoi(m[2])
			switch {
			case m[1] == "claimed":
				out[id] = i
			case out[id] == i:
				delete(out, id)
			}
		}
	}
	return out
}

// discordAnswered counts the bot's messages that answer text.
func discordAnswered(s discordfake.Snapshot, text string) int {
	n := 0
	for _, m := range s.BotMessages() {
		if strings.Contains(m.Content, "Answer: "+text) {
			n++
		}
	}
	return n
}
