package discord

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/adapters/discord/discordfake"
	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// Shape of one load conversation: a mention that creates a thread, then
// loadStatuses status events loadStep apart, then done.
const (
	loadStatuses = 20
	loadStep     = 500 * time.Millisecond
)

// BenchmarkDiscordLoad runs the whole bridge (engine, memory store, promptev
// client against promptevtest) with the real adapter over discordfake
// enforcing Discord's documented limits (EnforceRateLimits: 50 requests/s
// per bot, 5 writes per 5 s per channel). It reports the 429s drawn, the
// done→final p99, the most requests in any one second, and the placeholder
// p99 against what the limits allow for the requests ahead of it. Run it
// with -benchtime=1x: each run is real time on loopback (about 15-25 s).
// LOAD_LOG=file writes the bridge's log of the run there.
func BenchmarkDiscordLoad(b *testing.B) {
	for _, tc := range []struct{ convs, channels int }{{50, 10}, {200, 40}} {
		b.Run(fmt.Sprintf("convs=%d/channels=%d", tc.convs, tc.channels), func(b *testing.B) {
			if b.N > 3 {
				b.Skip("each run takes 15-25 s of real time: use -benchtime=1x")
			}
			for range b.N {
				runDiscordLoad(b, tc.convs, tc.channels)
			}
		})
	}
}

// loadResult is what one load run measured.
type loadResult struct {
	rateLimited, globalLimited int
	maxPerSecond               int
	finalP99, finalMax         time.Duration
	placeholderP99, allowedP99 time.Duration
	lateFinals                 int
}

func runDiscordLoad(b *testing.B, convs, channels int) {
	b.Helper()
	var (
		mu      sync.Mutex
		started = map[string]time.Time{} // query -> when its stream started
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
	for i := range chans {
		chans[i] = strconv.Itoa(1310000000000000000 + i)
		fake.AddChannel(discordfake.Channel{ID: chans[i], GuildID: testGuild, Name: "c" + strconv.Itoa(i), Type: discordfake.ChannelTypeGuildText})
	}
	cfg := testConfig()
	cfg.SlashCommand.Enabled = false
	logger := slog.New(slog.DiscardHandler)
	if p := os.Getenv("LOAD_LOG"); p != "" { // LOAD_LOG=file keeps the bridge's log of a run

		f, _ := os.Create(p)
		defer f.Close()
		logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	a, err := New(cfg, logger, WithHTTPClient(fake.HTTPClient()), WithDialer(fake.Dialer()))
	if err != nil {
		b.Fatal(err)
	}
	bcfg := bridge.DefaultConfig()
	bcfg.Routes.Default.Agent = e2eAgent
	br, err := bridge.New(bridge.Options{Config: bcfg, Agent: bridge.ClientAgent(client), Store: bridgetest.NewMemStore(),
		Platforms: []chat.Platform{a}, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = br.Run(ctx) })
	wg.Go(func() { _ = a.Run(ctx, br) })
	defer func() {
		cancel()
		wg.Wait()
	}()
	wctx, wcancel := context.WithTimeout(ctx, waitTimeout)
	_, err = fake.Wait(wctx, func(s discordfake.Snapshot) bool { return s.Connections == 1 })
	wcancel()
	if err != nil {
		b.Fatal("gateway did not connect: ", err)
	}

	b.ResetTimer()
	list := sendLoad(b, fake, chans, convs)
	snap := awaitFinals(b, fake, list, 2*time.Minute, func(c loadConv) bool {
		mu.Lock()
		defer mu.Unlock()
		_, ok := started[c.query]
		return ok
	})
	b.StopTimer()

	var res loadResult
	res.rateLimited, res.globalLimited = snap.RateLimited, snap.GlobalRateLimited
	res.maxPerSecond = discordfake.MaxPerWindow(fake.RequestTimes(), time.Second)
	var finals, placeholders, allowed []time.Duration
	for i, c := range list {
		mu.Lock()
		start, ok := started[c.query]
		mu.Unlock()
		if !ok {
			b.Fatalf("conversation %d never reached the agent", i)
		}
		done := start.Add(loadStatuses * loadStep)
		fin := finalAt(snap, "answer to "+c.query)
		if fin.IsZero() {
			b.Fatalf("conversation %d: no final recorded", i)
		}
		lat := fin.Sub(done)
		finals = append(finals, lat)
		if lat > 3*time.Second {
			res.lateFinals++
		}
		var first time.Time
		for _, m := range snap.Messages {
			if m.FromBot && (m.ChannelID == c.thread || m.ReplyTo == c.thread) {
				first = m.Created
				break
			}
		}
		placeholders = append(placeholders, first.Sub(c.sent))
		allowed = append(allowed, allowedPlaceholder(i, c.inChannel))
	}
	res.finalP99, res.finalMax = percentile(finals, 99), slices.Max(finals)
	res.placeholderP99, res.allowedP99 = percentile(placeholders, 99), percentile(allowed, 99)

	b.ReportMetric(float64(res.rateLimited), "429s")
	b.ReportMetric(float64(res.globalLimited), "global-429s")
	b.ReportMetric(float64(res.maxPerSecond), "max-req/s")
	b.ReportMetric(res.finalP99.Seconds(), "done→final-p99-s")
	b.ReportMetric(res.finalMax.Seconds(), "done→final-max-s")
	b.ReportMetric(float64(res.lateFinals), "finals>3s")
	b.ReportMetric(res.placeholderP99.Seconds(), "placeholder-p99-s")
	b.ReportMetric(res.allowedP99.Seconds(), "allowed-p99-s")
	b.ReportMetric(res.placeholderP99.Seconds()/max(res.allowedP99.Seconds(), 0.1), "placeholder/allowed")
}

// allowedPlaceholder is the earliest the placeholder of the i-th mention
// (the k-th in its channel) can be visible under Discord's documented limits
// when all mentions arrive at once: its thread creation is the k-th write
// on the parent channel (5 per 5 s), and it needs 2(i+1) requests (a thread
// and a placeholder for it and each mention ahead of it) at 50 per second.
func allowedPlaceholder(i, k int) time.Duration {
	channel := time.Duration(k/discordfake.ChannelWrites) * discordfake.ChannelWindow
	global := time.Duration(2*(i+1)) * discordfake.GlobalWindow / discordfake.GlobalLimit
	return max(channel, global)
}

// contents returns the contents of the bot's messages in thread (or replying
// to the thread's starter message in channel, when replying inline).
func contents(s discordfake.Snapshot, thread, channel string) []string {
	var out []string
	for _, m := range s.Messages {
		if m.FromBot && (m.ChannelID == thread || (m.ChannelID == channel && m.ReplyTo == thread)) {
			out = append(out, m.Content)
		}
	}
	return out
}

// percentile returns the p-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	idx := (len(s)*p + 99) / 100
	return s[max(idx-1, 0)]
}

// finalAt is when the first bot message or edit carrying marker appeared in
// s (zero when none did).
func finalAt(s discordfake.Snapshot, marker string) time.Time {
	var at time.Time
	for _, m := range s.Messages {
		// An edited message's Content is its latest; its edits say when.
		if m.FromBot && m.Edits == 0 && strings.Contains(m.Content, marker) && (at.IsZero() || m.Created.Before(at)) {
			at = m.Created
		}
	}
	for _, e := range s.Edits {
		if e.Content != nil && strings.Contains(*e.Content, marker) && (at.IsZero() || e.At.Before(at)) {
			at = e.At
		}
	}
	return at
}

// loadConv is one mention of a load benchmark.
type loadConv struct {
	channel, thread, query string
	inChannel              int // mentions before this one in its channel
	sent                   time.Time
}

// sendLoad mentions the bot convs times, in chans in turn, each in a thread
// of its own.
func sendLoad(b *testing.B, fake *discordfake.Server, chans []string, convs int) []loadConv {
	b.Helper()
	list := make([]loadConv, convs)
	for i := range list {
		c := loadConv{channel: chans[i%len(chans)], inChannel: i / len(chans), query: fmt.Sprintf("load question %03d?", i)}
		c.sent = time.Now()
		var err error
		c.thread, err = fake.SendMessage(discordfake.UserMessage{GuildID: testGuild, ChannelID: c.channel,
			AuthorID: testUser, AuthorName: "ana", Content: c.query, MentionBot: true})
		if err != nil {
			b.Fatal(err)
		}
		list[i] = c
	}
	return list
}

// awaitFinals waits, for up to limit, until every conversation of list
// shows its final (a bot message or edit carrying "answer to <query>") and
// returns the fake's state then. When time runs out it names the missing
// ones, each with whether started says the agent got it, and fails.
func awaitFinals(b *testing.B, fake *discordfake.Server, list []loadConv, limit time.Duration, started func(loadConv) bool) discordfake.Snapshot {
	b.Helper()
	answered := func(s discordfake.Snapshot, c loadConv) bool {
		return strings.Contains(strings.Join(contents(s, c.thread, c.channel), "\n"), "answer to "+c.query)
	}
	deadline := time.Now().Add(limit)
	for {
		snap := fake.Snapshot()
		n := 0
		for _, c := range list {
			if answered(snap, c) {
				n++
			}
		}
		if n == len(list) {
			return snap
		}
		if time.Now().After(deadline) {
			for _, c := range list {
				if !answered(snap, c) {
					b.Logf("missing %q: agent started %v, bot messages %q", c.query, started(c), contents(snap, c.thread, c.channel))
				}
			}
			b.Fatalf("only %d of %d finals after %s", n, len(list), limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
