package discord

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/adapters/discord/discordfake"
	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
	"github.com/promptev/promptev-bridge/store/postgres"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

// channelOwner hands a replica only the messages of its channels: it
// stands in for the ownership of conversations between replicas, so that
// this benchmark measures the budgets alone.
type channelOwner struct {
	h    chat.Handler
	mine func(channel string) bool
}

func (o channelOwner) HandleMessage(ctx context.Context, m chat.InboundMessage) error {
	if !o.mine(m.Key.Channel) {
		return nil
	}
	return o.h.HandleMessage(ctx, m)
}

func (o channelOwner) HandleAction(ctx context.Context, a chat.Action) (chat.ActionResult, error) {
	return o.h.HandleAction(ctx, a)
}

// localBudgets hides a store's shared budgets from the bridge.
type localBudgets struct{ chat.Store }

// BenchmarkDiscordReplicas is BenchmarkDiscordLoad's 50 conversations over
// 10 channels on three replicas, each with its own gateway connection,
// REST transport and PostgreSQL pool on one schema; each replica answers
// the mentions of its channels. budgets=shared is the bridge on
// PostgreSQL; budgets=local hides the shared budgets from the replicas.
// It reports the 429s (all and bot-wide), the most requests in any second
// (Discord allows 50) and done→final p99/max. It needs
// PROMPTEV_BRIDGE_TEST_POSTGRES; each run is about 15-25 s, so use
// -benchtime=1x.
func BenchmarkDiscordReplicas(b *testing.B) {
	if os.Getenv(postgrestest.EnvDSN) == "" {
		b.Skip(postgrestest.EnvDSN + " is not set")
	}
	for _, shared := range []bool{true, false} {
		name := "budgets=local"
		if shared {
			name = "budgets=shared"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				runDiscordReplicas(b, shared, 50, 10)
			}
		})
	}
}

func runDiscordReplicas(b *testing.B, shared bool, convs, channels int) {
	b.Helper()
	const replicas = 3
	var (
		mu      sync.Mutex
		started = map[string]time.Time{}
	)
	agent := promptevtest.Agent{Respond: func(t promptevtest.Turn) []promptevtest.Event {
		mu.Lock()
		started[t.Query] = time.Now()
		mu.Unlock()
		evs := make([]promptevtest.Event, 0, loadStatuses+1)
		for i := range loadStatuses {
			evs = append(evs, promptevtest.Event{Type: promptevtest.TypeProcessing, Output: "step " + strconv.Itoa(i+1), Delay: loadStep})
		}
		return append(evs, promptevtest.Event{Type: promptevtest.TypeDone, Output: "answer to " + t.Query})
	}}
	pv := promptevtest.NewServer("pk_test")
	defer pv.Close()
	pv.AddAgent(e2eAgent, agent)
	client, err := promptev.New("pk_test", promptev.WithBaseURL(pv.URL))
	if err != nil {
		b.Fatal(err)
	}
	fake := discordfake.New()
	defer fake.Close()
	fake.EnforceRateLimits(true)
	chans := make([]string, channels)
	owner := map[string]int{}
	for i := range chans {
		chans[i] = strconv.Itoa(1310000000000000000 + i)
		owner[chans[i]] = i % replicas
		fake.AddChannel(discordfake.Channel{ID: chans[i], GuildID: testGuild, Name: "c" + strconv.Itoa(i), Type: discordfake.ChannelTypeGuildText})
	}
	dsn := postgrestest.DSN(b)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for r := range replicas {
		st, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: 4})
		if err != nil {
			b.Fatal(err)
		}
		var store chat.Store = st
		if !shared {
			store = localBudgets{st}
		}
		cfg := testConfig()
		cfg.SlashCommand.Enabled = false
		a, err := New(cfg, slog.New(slog.DiscardHandler), WithHTTPClient(fake.HTTPClient()), WithDialer(fake.Dialer()))
		if err != nil {
			b.Fatal(err)
		}
		bcfg := bridge.DefaultConfig()
		bcfg.Routes.Default.Agent = e2eAgent
		br, err := bridge.New(bridge.Options{Config: bcfg, Agent: bridge.ClientAgent(client), Store: store, Platforms: []chat.Platform{a}})
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() { _ = br.Run(ctx) })
		wg.Go(func() {
			_ = a.Run(ctx, channelOwner{h: br, mine: func(ch string) bool { o, ok := owner[ch]; return ok && o == r }})
			_ = st.Close()
		})
		wctx, wcancel := context.WithTimeout(ctx, waitTimeout)
		_, err = fake.Wait(wctx, func(s discordfake.Snapshot) bool { return s.Connections == r+1 })
		wcancel()
		if err != nil {
			b.Fatal("gateway did not connect: ", err)
		}
	}

	b.ResetTimer()
	list := sendLoad(b, fake, chans, convs)
	snap := awaitFinals(b, fake, list, 3*time.Minute, func(c loadConv) bool {
		mu.Lock()
		defer mu.Unlock()
		_, ok := started[c.query]
		return ok
	})
	b.StopTimer()
	var finals []time.Duration
	late := 0
	for i, c := range list {
		mu.Lock()
		start, ok := started[c.query]
		mu.Unlock()
		if !ok {
			b.Fatalf("conversation %d never reached the agent", i)
		}
		fin := finalAt(snap, "answer to "+c.query)
		lat := fin.Sub(start.Add(loadStatuses * loadStep))
		finals = append(finals, lat)
		if lat > 3*time.Second {
			late++
		}
	}
	b.ReportMetric(float64(snap.RateLimited), "429s")
	b.ReportMetric(float64(snap.GlobalRateLimited), "global-429s")
	b.ReportMetric(float64(discordfake.MaxPerWindow(fake.RequestTimes(), time.Second)), "max-req/s")
	b.ReportMetric(percentile(finals, 99).Seconds(), "done→final-p99-s")
	b.ReportMetric(slices.Max(finals).Seconds(), "done→final-max-s")
	b.ReportMetric(float64(late), "finals>3s")
}
