package discord

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/promptev/promptev-bridge/chat"
)

// Fuzz targets for what the Discord adapter parses from the gateway: button
// custom_ids and MESSAGE_CREATE content.

const (
	fuzzBot     = "1200000000000000001"
	fuzzRole    = "1200000000000000009"
	fuzzGuild   = "1300000000000000001"
	fuzzChannel = "1300000000000000002"
	fuzzThread  = "1300000000000000003"
	fuzzDM      = "1300000000000000004"
)

// FuzzDiscordCustomID checks parseCustomID against its encoder, customID:
// every kind and target the encoder accepts round-trips, and a random
// custom_id is accepted only when it is what the encoder produces, or a
// legacy approval button ("pvb:a:<id>", "pvb:d:<id>").
func FuzzDiscordCustomID(f *testing.F) {
	for _, s := range []string{
		"pvb:a:apr_00000001", "pvb:d:apr_00000001", "pvb:a:", "pvb:d:", "pvb:x:apr_1", "pvb:a",
		"pvb:approve:apr_00000001", "pvb:deny:apr_00000001", "pvb:stop:run_1", "pvb:approve:", "pvb::x",
		"pvb:Approve:x", "pvb:9lives:x", "pvb:deny:a:b", "pvb:" + strings.Repeat("k", 33) + ":x",
		"PVB:A:apr_1", "pvb:a:pvb:d:x", "pvb:a:" + strings.Repeat("x", maxCustomID-len("pvb:a:")),
		"pvb:a:" + strings.Repeat("x", maxCustomID), "", "other_button", "pvb:a:\x00\xff", "pvb:d:ü/%2F",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// s as a custom_id received from Discord.
		kind, target, ok := parseCustomID(s)
		k, rest, cut := strings.Cut(strings.TrimPrefix(s, "pvb:"), ":")
		legacyKind, legacy := legacyKinds[k]
		wellFormed := len(s) <= maxCustomID && strings.HasPrefix(s, "pvb:") && cut && rest != "" &&
			(legacy || chat.ActionKind(k).Valid())
		if ok != wellFormed {
			t.Fatalf("parseCustomID(%q) ok=%v, want %v", s, ok, wellFormed)
		}
		switch {
		case ok && legacy:
			if kind != legacyKind || target != rest {
				t.Fatalf("legacy parseCustomID(%q) = %q, %q", s, kind, target)
			}
		case ok:
			if id, err := customID(kind, target); err != nil || id != s {
				t.Fatalf("parseCustomID(%q) = %q, %q, which encodes as %q, %v", s, kind, target, id, err)
			}
		case kind != "" || target != "":
			t.Fatalf("rejected %q but returned %q, %q", s, kind, target)
		}

		// s as an approval id to encode.
		row, err := approvalButtons(s, false)
		if err != nil {
			if s != "" && len("pvb:approve:")+len(s) <= maxCustomID {
				t.Fatalf("approvalButtons(%q): %v", s, err)
			}
			return
		}
		want := []chat.ActionKind{chat.Approve, chat.Deny}
		if len(row.Components) != len(want) {
			t.Fatalf("approvalButtons(%q): %d components", s, len(row.Components))
		}
		for i, c := range row.Components {
			b, isButton := c.(discordgo.Button)
			if !isButton {
				t.Fatalf("component %d is %T", i, c)
			}
			if len(b.CustomID) > maxCustomID {
				t.Fatalf("custom_id of %d bytes", len(b.CustomID))
			}
			kind, id, ok := parseCustomID(b.CustomID)
			if !ok || kind != want[i] || id != s {
				t.Fatalf("round trip of %q through %q: %q, %q, %v", s, b.CustomID, kind, id, ok)
			}
		}
	})
}

// fuzzDiscordAdapter is an adapter that knows its bot id and the channels of
// the fuzz inputs, so inbound never needs REST.
func fuzzDiscordAdapter(t testing.TB, autoThread bool) *Adapter {
	cfg := DefaultConfig()
	cfg.Enabled = true
	cfg.Token = "fuzz-token"
	cfg.AutoThread = autoThread
	a, err := New(cfg, slog.New(slog.DiscardHandler), WithClock(func() time.Time { return time.Unix(1764331200, 0) }))
	if err != nil {
		t.Fatal(err)
	}
	id := fuzzBot
	a.botID.Store(&id)
	a.threads.Put(fuzzChannel, "")
	a.threads.Put(fuzzThread, fuzzChannel)
	a.roles.Put(fuzzGuild, fuzzRole)
	return a
}

func botMentioned(s string) bool {
	return botMentionedIn(s, fuzzGuild)
}

// botMentionedIn is botMentioned for a message of guild: the managed role
// is the bot's only in fuzzGuild (in a DM, "<@&…>" is plain text).
func botMentionedIn(s, guild string) bool {
	return strings.Contains(s, "<@"+fuzzBot+">") || strings.Contains(s, "<@!"+fuzzBot+">") ||
		(guild == fuzzGuild && strings.Contains(s, "<@&"+fuzzRole+">"))
}

// FuzzDiscordInbound classifies random MESSAGE_CREATE content: in a DM, a
// thread or a text channel, with or without the bot in the mentions array.
// It never panics, the text handed over never holds the bot's mention and is
// trimmed, the key is valid, and only DMs, threads and mentions pass.
func FuzzDiscordInbound(f *testing.F) {
	bot, nick := "<@"+fuzzBot+">", "<@!"+fuzzBot+">"
	for _, s := range []string{
		bot + " what is our **uptime**?", nick + " status?", "hey " + bot + " do it", bot, bot + "   ", "  plain  ",
		"<@<@" + fuzzBot + ">" + fuzzBot + ">", "<@!<@!" + fuzzBot + ">" + fuzzBot + ">", "<<@" + fuzzBot + ">@" + fuzzBot + ">",
		"<@" + bot + "!" + fuzzBot + ">", "<@1200000000000000002> not me", "<@&" + fuzzBot + "> role", "@everyone " + bot,
		"", "\u00a0" + bot + "\u00a0",
	} {
		for where := range uint8(3) {
			f.Add(s, where, where == 2, uint8(0))
		}
	}
	f.Add("<@&"+fuzzRole+"> hi", uint8(2), false, uint8(0)) // the bot's managed role
	f.Add("<@&<@&"+fuzzRole+">"+fuzzRole+"> hi", uint8(2), false, uint8(0))
	f.Add(bot+" hi", uint8(2), true, uint8(1))  // the bot itself
	f.Add(bot+" hi", uint8(2), true, uint8(2))  // another bot
	f.Add(bot+" hi", uint8(1), false, uint8(3)) // a webhook
	f.Add(bot+" hi", uint8(1), true, uint8(4))  // a system message type
	autoThread := fuzzDiscordAdapter(f, true)
	inline := fuzzDiscordAdapter(f, false)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, content string, where uint8, inMentions bool, author uint8) {
		stripped := stripMention(content, fuzzBot, fuzzRole)
		if botMentioned(stripped) {
			t.Fatalf("stripMention(%q) = %q still mentions the bot", content, stripped)
		}
		if stripped != strings.TrimSpace(stripped) {
			t.Fatalf("stripMention(%q) = %q is not trimmed", content, stripped)
		}

		m := &discordgo.Message{
			ID:      "1300000000000000100",
			Content: content,
			Author:  &discordgo.User{ID: "1100000000000000001", Username: "ana"},
			Type:    discordgo.MessageTypeDefault,
		}
		switch where % 3 {
		case 0:
			m.ChannelID = fuzzDM
		case 1:
			m.GuildID, m.ChannelID = fuzzGuild, fuzzThread
		default:
			m.GuildID, m.ChannelID = fuzzGuild, fuzzChannel
		}
		if inMentions {
			m.Mentions = []*discordgo.User{{ID: fuzzBot}}
		}
		switch author % 5 {
		case 1:
			m.Author = &discordgo.User{ID: fuzzBot, Username: "promptev", Bot: true}
		case 2:
			m.Author.Bot = true
		case 3:
			m.WebhookID = "1400000000000000001"
		case 4:
			m.Type = discordgo.MessageTypeGuildMemberJoin
		}
		mentioned := inMentions || botMentionedIn(content, m.GuildID)
		for _, a := range []*Adapter{autoThread, inline} {
			in, ok := a.inbound(ctx, m, time.Unix(1764331200, 0))
			if !ok {
				continue
			}
			if author%5 != 0 {
				t.Fatalf("message of author kind %d handed over: %+v", author%5, in)
			}
			// An empty text is handed over only when the bot is addressed:
			// the bridge answers a bare mention with a hint.
			if botMentionedIn(in.Text, m.GuildID) || in.Text != strings.TrimSpace(in.Text) || (in.Text == "" && !in.Mentioned) {
				t.Fatalf("text %q handed over for content %q", in.Text, content)
			}
			if !in.Key.Valid() || in.Key.Platform != Name {
				t.Fatalf("invalid key %+v", in.Key)
			}
			if in.Mentioned != (mentioned || m.GuildID == "") {
				t.Fatalf("Mentioned=%v for content %q (in mentions %v, guild %q)", in.Mentioned, content, inMentions, m.GuildID)
			}
			if m.ChannelID == fuzzChannel && !mentioned {
				t.Fatalf("unmentioned channel chatter handed over: %q", content)
			}
		}
	})
}
