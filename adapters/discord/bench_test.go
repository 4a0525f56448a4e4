package discord

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/adapters/discord/discordfake"
	"github.com/promptev/promptev-bridge/chat"
)

// countingHandler signals when it has seen want messages.
type countingHandler struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (h *countingHandler) HandleMessage(context.Context, chat.InboundMessage) error {
	if h.n.Add(1) == h.want {
		close(h.done)
	}
	return nil
}

func (h *countingHandler) HandleAction(context.Context, chat.Action) (chat.ActionResult, error) {
	return chat.ActionResult{}, nil
}

// BenchmarkGatewayMessageCreate measures MESSAGE_CREATE dispatches from the
// fake gateway through discordgo's websocket reader and the adapter's
// classification (mention in a known thread, stripped text) to the handler.
func BenchmarkGatewayMessageCreate(b *testing.B) {
	fake := discordfake.New()
	defer fake.Close()
	const thread = "1300000000000000090"
	fake.AddChannel(discordfake.Channel{ID: testChannel, GuildID: testGuild, Type: discordfake.ChannelTypeGuildText})
	fake.AddChannel(discordfake.Channel{ID: thread, GuildID: testGuild, ParentID: testChannel, Type: discordfake.ChannelTypePublicThread})
	cfg := testConfig()
	cfg.SlashCommand.Enabled = false
	a, err := New(cfg, slog.New(slog.DiscardHandler), WithHTTPClient(fake.HTTPClient()))
	if err != nil {
		b.Fatal(err)
	}
	h := &countingHandler{want: int64(b.N), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, h) }()
	defer func() {
		cancel()
		<-done
	}()
	wctx, wcancel := context.WithTimeout(context.Background(), waitTimeout)
	defer wcancel()
	if _, err := fake.Wait(wctx, func(s discordfake.Snapshot) bool { return s.Connections == 1 }); err != nil {
		b.Fatal(err)
	}

	events := make([]json.RawMessage, b.N)
	for i := range events {
		events[i], _ = json.Marshal(map[string]any{
			"id": strconv.Itoa(1400000000000000000 + i), "channel_id": thread, "guild_id": testGuild,
			"author":   map[string]any{"id": testUser, "username": "ana"},
			"content":  "<@" + discordfake.BotID + "> what is the status of build " + strconv.Itoa(i) + "?",
			"mentions": []any{map[string]any{"id": discordfake.BotID, "username": discordfake.BotName, "bot": true}},
			"type":     0, "timestamp": "2026-01-01T00:00:00Z", "member": map[string]any{"nick": "Ana"},
		})
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for _, ev := range events {
		if err := fake.Dispatch("MESSAGE_CREATE", ev); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-h.done:
	case <-time.After(time.Minute):
		b.Fatalf("handled %d of %d", h.n.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(elapsed.Microseconds())/float64(b.N), "µs/msg")
}
