package discord

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/discord/discordfake"
	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
	"github.com/promptev/promptev-bridge/store/bolt"
)

// e2e is the whole bridge (engine, memory store, promptev client) running
// against the fake Promptev API and the fake Discord, through this adapter.
type e2e struct {
	*rig
	pv      *promptevtest.Server
	metrics *countingMetrics
}

// countingMetrics counts dedupe hits.
type countingMetrics struct {
	bridge.NopMetrics
	dedupe atomic.Int64
}

func (m *countingMetrics) DedupeHit(string) { m.dedupe.Add(1) }

const e2eAgent = "agent-discord"

// startE2E boots the bridge with agent as the default route. The adapter's
// budgets are tightened so the tests run quickly; the real limits are
// covered by TestLimits.
func startE2E(t *testing.T, agent promptevtest.Agent) *e2e {
	t.Helper()
	pv := promptevtest.NewServer("pk_test")
	t.Cleanup(pv.Close)
	pv.AddAgent(e2eAgent, agent)
	client, err := promptev.New("pk_test", promptev.WithBaseURL(pv.URL))
	require.NoError(t, err)

	fake := discordfake.New()
	t.Cleanup(fake.Close)
	fake.AddChannel(discordfake.Channel{ID: testChannel, GuildID: testGuild, Name: "general", Type: discordfake.ChannelTypeGuildText})
	cfg := testConfig()
	cfg.EditBudget = EditBudget{Writes: 20, Per: time.Second}
	cfg.EditInterval = 100 * time.Millisecond
	logs := &bridgetest.SyncBuffer{}
	a := newAdapter(t, fake, cfg, logs)

	metrics := &countingMetrics{}
	bcfg := bridge.DefaultConfig()
	bcfg.Routes.Default.Agent = e2eAgent
	b, err := bridge.New(bridge.Options{
		Config:    bcfg,
		Agent:     bridge.ClientAgent(client),
		Store:     bridgetest.NewMemStore(),
		Platforms: []chat.Platform{a},
		Logger:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:   metrics,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	bridgeDone := make(chan error, 1)
	go func() { bridgeDone <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-bridgeDone:
			assert.NoError(t, err)
		case <-time.After(waitTimeout):
			t.Error("bridge did not stop")
		}
	})

	r := &rig{fake: fake, a: a, logs: logs, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx, b) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			assert.NoError(t, err)
		case <-time.After(waitTimeout):
			t.Error("adapter did not stop")
		}
		assert.NotContains(t, logs.String(), testToken)
	})
	r.waitFor(t, func(s discordfake.Snapshot) bool { return s.Connections == 1 })
	return &e2e{rig: r, pv: pv, metrics: metrics}
}

// ask mentions the bot in the test channel as user and returns the message id
// (which is also the id of the conversation's thread).
func (e *e2e) ask(t *testing.T, user, text string) string {
	t.Helper()
	id, err := e.fake.SendMessage(discordfake.UserMessage{GuildID: testGuild, ChannelID: testChannel,
		AuthorID: user, AuthorName: "user" + user, Content: text, MentionBot: true})
	require.NoError(t, err)
	return id
}

// botMessagesIn returns the bot's messages in a channel, in order.
func botMessagesIn(s discordfake.Snapshot, channel string) []discordfake.Message {
	var out []discordfake.Message
	for _, m := range s.ChannelMessages(channel) {
		if m.FromBot && !m.Deleted {
			out = append(out, m)
		}
	}
	return out
}

func approvalAgent() promptevtest.Agent {
	return promptevtest.Agent{
		Script: []promptevtest.Event{
			{Type: promptevtest.TypeThoughts, Output: "I should look in Jira"},
			{Type: promptevtest.TypeProcessing, Output: "Searching Jira..."},
			{Type: promptevtest.TypeProcessing, Output: "Reading PROJ-7", Delay: 150 * time.Millisecond},
			{Type: promptevtest.TypeApprovalRequired, Output: "Create a Jira issue titled Outage?", Tool: "jira.create_issue",
				Arguments: map[string]any{"title": "Outage"}, Delay: 150 * time.Millisecond},
		},
		OnApprove: []promptevtest.Event{{Type: promptevtest.TypeDone, Output: "Created **PROJ-8**. @everyone look!"}},
		OnDeny:    []promptevtest.Event{{Type: promptevtest.TypeDone, Output: "OK, nothing created."}},
	}
}

// waitForCard waits for the approval card in thread and returns it. It also
// waits for the placeholder's "waiting for approval" state: the engine posts
// the card before it records the approval, so a click in between would find
// no approval (a human cannot click that fast; a test can).
func (e *e2e) waitForCard(t *testing.T, thread string) discordfake.Message {
	t.Helper()
	s := e.waitFor(t, func(s discordfake.Snapshot) bool {
		card, waiting := false, false
		for _, m := range botMessagesIn(s, thread) {
			card = card || len(m.Buttons()) == 2
			waiting = waiting || strings.Contains(m.Content, "Waiting for approval")
		}
		return card && waiting
	})
	for _, m := range botMessagesIn(s, thread) {
		if len(m.Buttons()) == 2 {
			return m
		}
	}
	t.Fatal("no card")
	return discordfake.Message{}
}

func TestE2EMentionThreadEditsApprovalFinal(t *testing.T) {
	t.Parallel()
	e := startE2E(t, approvalAgent())
	thread := e.ask(t, testUser, "open an outage ticket")

	card := e.waitForCard(t, thread)
	s := e.fake.Snapshot()
	require.Len(t, s.Threads, 1, "a thread is created on the mention")
	assert.Equal(t, thread, s.Threads[0].ID)
	assert.Equal(t, "open an outage ticket", s.Threads[0].Name)
	msgs := botMessagesIn(s, thread)
	require.GreaterOrEqual(t, len(msgs), 2, "placeholder and card")
	placeholder := msgs[0]
	assert.NotEqual(t, card.ID, placeholder.ID)
	assert.Positive(t, placeholder.Edits, "the placeholder was edited live")
	var statuses []string
	for _, ed := range s.Edits {
		if ed.MessageID == placeholder.ID && ed.Content != nil {
			statuses = append(statuses, *ed.Content)
		}
	}
	assert.True(t, containsAny(statuses, "Searching Jira") || containsAny(statuses, "Reading PROJ-7"),
		"a tool status was shown: %q", statuses)
	assert.Contains(t, card.Content, "Create a Jira issue titled Outage?")
	assert.Equal(t, "pvb:approve:", card.Buttons()[0].CustomID[:12])

	// The requester approves.
	_, err := e.fake.Click(discordfake.Click{GuildID: testGuild, ChannelID: thread, MessageID: card.ID,
		CustomID: card.Buttons()[0].CustomID, UserID: testUser, UserName: "ana"})
	require.NoError(t, err)

	s = e.waitFor(t, func(s discordfake.Snapshot) bool {
		for _, m := range botMessagesIn(s, thread) {
			if strings.Contains(m.Content, "PROJ-8") {
				return true
			}
		}
		return false
	})
	require.Len(t, s.InteractionResponses, 1)
	assert.Equal(t, discordfake.ResponseDeferredUpdate, s.InteractionResponses[0].Type)
	s = e.waitFor(t, func(s discordfake.Snapshot) bool {
		c, _ := s.Message(card.ID)
		return len(c.Buttons()) == 0
	})
	decided, _ := s.Message(card.ID)
	assert.Contains(t, decided.Content, "Approved")
	for _, m := range botMessagesIn(s, thread) {
		assert.True(t, m.AllowedMentions.None(), "message %s may ping", m.ID)
		assert.NotContains(t, m.Content, "@everyone", "agent text cannot ping")
		assert.NotContains(t, m.Content, "⏳", "no message is left thinking")
	}
	assert.Len(t, s.Threads, 1)
}

func TestE2EUnauthorisedClick(t *testing.T) {
	t.Parallel()
	e := startE2E(t, approvalAgent())
	thread := e.ask(t, testUser, "open an outage ticket")
	card := e.waitForCard(t, thread)

	_, err := e.fake.Click(discordfake.Click{GuildID: testGuild, ChannelID: thread, MessageID: card.ID,
		CustomID: card.Buttons()[0].CustomID, UserID: otherUser, UserName: "mallory"})
	require.NoError(t, err)
	s := e.waitFor(t, func(s discordfake.Snapshot) bool { return len(s.InteractionResponses) == 1 })
	resp := s.InteractionResponses[0]
	assert.Equal(t, discordfake.ResponseChannelMessage, resp.Type)
	assert.True(t, resp.Ephemeral(), "only the clicker sees the notice")
	assert.NotEmpty(t, resp.Content)
	after, _ := s.Message(card.ID)
	assert.Len(t, after.Buttons(), 2, "the card is untouched")
	assert.Equal(t, card.Content, after.Content)

	// The requester can still decide.
	_, err = e.fake.Click(discordfake.Click{GuildID: testGuild, ChannelID: thread, MessageID: card.ID,
		CustomID: card.Buttons()[1].CustomID, UserID: testUser, UserName: "ana"})
	require.NoError(t, err)
	e.waitFor(t, func(s discordfake.Snapshot) bool {
		for _, m := range botMessagesIn(s, thread) {
			if strings.Contains(m.Content, "nothing created") {
				return true
			}
		}
		return false
	})
}

func TestE2E429OnEditFinalDelivered(t *testing.T) {
	t.Parallel()
	e := startE2E(t, promptevtest.Agent{Script: []promptevtest.Event{
		{Type: promptevtest.TypeProcessing, Output: "Working..."},
		{Type: promptevtest.TypeDone, Output: "The final answer.", Delay: 100 * time.Millisecond},
	}})
	e.fake.RateLimitEdits(2, 300*time.Millisecond)
	thread := e.ask(t, testUser, "go")
	s := e.waitFor(t, func(s discordfake.Snapshot) bool {
		for _, m := range botMessagesIn(s, thread) {
			if strings.Contains(m.Content, "The final answer.") {
				return true
			}
		}
		return false
	})
	assert.Equal(t, 2, s.RateLimited, "both 429s were met")
	s = e.waitFor(t, func(s discordfake.Snapshot) bool {
		for _, m := range botMessagesIn(s, thread) {
			if strings.Contains(m.Content, "⏳") {
				return false
			}
		}
		return true
	})
	assert.NotEmpty(t, botMessagesIn(s, thread))
}

func TestE2ELongAnswerSplitWithinLimits(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := 0; b.Len() < 10000; i++ {
		if i%7 == 3 {
			b.WriteString("```go\n")
			for j := range 12 {
				b.WriteString("fmt.Println(\"line " + strings.Repeat("x", j) + "\")\n")
			}
			b.WriteString("```\n\n")
			continue
		}
		b.WriteString("Paragraph " + strings.Repeat("lorem ipsum dolor sit amet ", 8) + "\n\n")
	}
	answer := b.String()
	require.GreaterOrEqual(t, utf8.RuneCountInString(answer), 10000)
	e := startE2E(t, promptevtest.Agent{Script: []promptevtest.Event{{Type: promptevtest.TypeDone, Output: answer}}})
	thread := e.ask(t, testUser, "write a lot")

	var msgs []discordfake.Message
	e.waitFor(t, func(s discordfake.Snapshot) bool {
		msgs = botMessagesIn(s, thread)
		total := 0
		for _, m := range msgs {
			total += strings.Count(m.Content, "Paragraph")
		}
		return total == strings.Count(answer, "Paragraph") && !strings.Contains(msgs[0].Content, "⏳")
	})
	require.GreaterOrEqual(t, len(msgs), 6, "10,000 chars need at least 6 messages of 1,900")
	for _, m := range msgs {
		assert.LessOrEqual(t, utf8.RuneCountInString(m.Content), 2000, "message %s too long", m.ID)
		assert.Zero(t, strings.Count(m.Content, "```")%2, "fences intact in message %s", m.ID)
		assert.True(t, m.AllowedMentions.None())
	}
}

func containsAny(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestE2EReplayedMessageRunsOnce(t *testing.T) {
	t.Parallel()
	e := startE2E(t, promptevtest.Agent{})
	// A gateway resume replays MESSAGE_CREATE with the same message id.
	for range 2 {
		_, err := e.fake.SendMessage(discordfake.UserMessage{ID: "1300000000000000042", GuildID: testGuild, ChannelID: testChannel,
			AuthorID: testUser, AuthorName: "ana", Content: "ping", MentionBot: true})
		require.NoError(t, err)
	}
	// Messages reach the bridge in gateway order: once the next mention is
	// answered, the replay has been handled.
	next := e.ask(t, testUser, "pong")
	answered := func(s discordfake.Snapshot, thread, text string) bool {
		for _, m := range botMessagesIn(s, thread) {
			if strings.Contains(m.Content, text) {
				return true
			}
		}
		return false
	}
	s := e.waitFor(t, func(s discordfake.Snapshot) bool {
		return answered(s, next, "You said: pong") && answered(s, "1300000000000000042", "You said: ping")
	})
	assert.Equal(t, int64(1), e.metrics.dedupe.Load(), "the replay is a dedupe hit")
	assert.Len(t, botMessagesIn(s, "1300000000000000042"), 1, "one answer in the replayed conversation")
	assert.Len(t, s.Threads, 2, "one thread per distinct mention")
}

// e2eProcess is one "process" of the bridge: its own store handle, Bridge and
// Adapter, on a store file and a fake Discord that outlive it.
type e2eProcess struct {
	st          *bolt.Store
	b           *bridge.Bridge
	a           *Adapter
	logs        *bridgetest.SyncBuffer
	cancel      context.CancelFunc
	bridgeDone  chan error
	adapterDone chan error
}

// startE2EProcess opens the store at path and runs a bridge and an adapter
// on it against fake and pv, until stop (also run when the test ends).
func startE2EProcess(t *testing.T, path string, fake *discordfake.Server, pv *promptevtest.Server) *e2eProcess {
	t.Helper()
	st, err := bolt.Open(path, bolt.Options{NoSync: true})
	require.NoError(t, err)
	client, err := promptev.New("pk_test", promptev.WithBaseURL(pv.URL))
	require.NoError(t, err)
	cfg := testConfig()
	cfg.EditBudget = EditBudget{Writes: 20, Per: time.Second}
	cfg.EditInterval = 100 * time.Millisecond
	p := &e2eProcess{st: st, logs: &bridgetest.SyncBuffer{}, bridgeDone: make(chan error, 1), adapterDone: make(chan error, 1)}
	p.a = newAdapter(t, fake, cfg, p.logs)
	bcfg := bridge.DefaultConfig()
	bcfg.Routes.Default.Agent = e2eAgent
	p.b, err = bridge.New(bridge.Options{
		Config:    bcfg,
		Agent:     bridge.ClientAgent(client),
		Store:     st,
		Platforms: []chat.Platform{p.a},
		Logger:    slog.New(slog.NewTextHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.bridgeDone <- p.b.Run(ctx) }()
	go func() { p.adapterDone <- p.a.Run(ctx, p.b) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop shuts the bridge down, ends the adapter and closes the store; it does
// nothing the second time.
func (p *e2eProcess) stop(t *testing.T) {
	t.Helper()
	if p.cancel == nil {
		return
	}
	sctx, scancel := context.WithTimeout(context.Background(), waitTimeout)
	defer scancel()
	assert.NoError(t, p.b.Shutdown(sctx))
	p.cancel()
	p.cancel = nil
	for _, w := range []struct {
		name string
		done chan error
	}{{"adapter", p.adapterDone}, {"bridge", p.bridgeDone}} {
		select {
		case err := <-w.done:
			assert.NoError(t, err, w.name)
		case <-time.After(waitTimeout):
			t.Errorf("%s did not stop", w.name)
		}
	}
	assert.NoError(t, p.st.Close())
	assert.NotContains(t, p.logs.String(), testToken)
}

// TestE2EApprovalClickAfterRestart gets an approval card pending with one
// bridge and adapter, stops both, and clicks Approve on the card once new
// instances run on the same store file and the same fake Discord: the click
// is deferred-acknowledged, the card turns into "Approved by …" without
// buttons, and the continuation's answer is posted. It does so also when the
// first process stopped before recording the card's ref (the store is edited
// to that state): the click names its card, which is closed all the same.
// And it does so when the click carries the custom_id form of the buttons
// posted by earlier versions ("pvb:a:<approval id>").
func TestE2EApprovalClickAfterRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		forgetCard, legacyClick bool
	}{{false, false}, {true, false}, {false, true}}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("card_recorded=%t/legacy_click=%t", !tt.forgetCard, tt.legacyClick), func(t *testing.T) {
			t.Parallel()
			testApprovalClickAfterRestart(t, tt.forgetCard, tt.legacyClick)
		})
	}
}

func testApprovalClickAfterRestart(t *testing.T, forgetCard, legacyClick bool) {
	pv := promptevtest.NewServer("pk_test")
	t.Cleanup(pv.Close)
	pv.AddAgent(e2eAgent, approvalAgent())
	fake := discordfake.New()
	t.Cleanup(fake.Close)
	fake.AddChannel(discordfake.Channel{ID: testChannel, GuildID: testGuild, Name: "general", Type: discordfake.ChannelTypeGuildText})
	path := filepath.Join(t.TempDir(), "bridge.db")
	e := &e2e{rig: &rig{fake: fake}, pv: pv}

	first := startE2EProcess(t, path, fake, pv)
	e.waitFor(t, func(s discordfake.Snapshot) bool { return s.Connections == 1 })
	thread := e.ask(t, testUser, "open an outage ticket")
	card := e.waitForCard(t, thread)
	require.Len(t, card.Buttons(), 2)
	approve := card.Buttons()[0].CustomID
	require.True(t, strings.HasPrefix(approve, "pvb:approve:"), "first button approves: %q", approve)
	id := strings.TrimPrefix(approve, "pvb:approve:")
	first.stop(t)
	e.waitFor(t, func(s discordfake.Snapshot) bool { return s.Connections == 0 })
	before := e.fake.Snapshot()
	require.Empty(t, before.InteractionResponses)
	pending, _ := before.Message(card.ID)
	require.Len(t, pending.Buttons(), 2, "the card is still pending after the first process stopped")
	if forgetCard {
		st, err := bolt.Open(path, bolt.Options{NoSync: true})
		require.NoError(t, err)
		a, err := st.GetApproval(t.Context(), id)
		require.NoError(t, err)
		require.Equal(t, card.ID, a.Card.ID)
		a.Card = chat.MessageRef{}
		require.NoError(t, st.PutApproval(t.Context(), a))
		require.NoError(t, st.Close())
	}

	second := startE2EProcess(t, path, fake, pv)
	e.waitFor(t, func(s discordfake.Snapshot) bool { return s.Connections == 1 && s.Readies == 2 })
	require.Eventually(t, second.a.Ready, waitTimeout, time.Millisecond)
	if legacyClick {
		approve = "pvb:a:" + id
	}
	_, err := e.fake.Click(discordfake.Click{GuildID: testGuild, ChannelID: thread, MessageID: card.ID,
		CustomID: approve, UserID: testUser, UserName: "ana"})
	require.NoError(t, err)

	s := e.waitFor(t, func(s discordfake.Snapshot) bool {
		c, _ := s.Message(card.ID)
		answered := false
		for _, m := range botMessagesIn(s, thread) {
			answered = answered || strings.Contains(m.Content, "PROJ-8")
		}
		return answered && len(c.Buttons()) == 0 && strings.Contains(c.Content, "Approved by")
	})
	require.Len(t, s.InteractionResponses, 1)
	assert.Equal(t, discordfake.ResponseDeferredUpdate, s.InteractionResponses[0].Type, "the click is acknowledged with a deferred update")
	decided, _ := s.Message(card.ID)
	assert.Contains(t, decided.Content, "Approved by **ana**", "the card names who approved")
	assert.Empty(t, decided.Buttons(), "the decided card has no buttons")
	assert.Contains(t, decided.Content, "Create a Jira issue titled Outage?", "the card keeps its request")
	for _, m := range botMessagesIn(s, thread) {
		assert.NotContains(t, m.Content, "⏳", "message %s is left thinking", m.ID)
		assert.NotContains(t, m.Content, "interrupted", "message %s: the waiting run was not an interrupted one", m.ID)
		assert.True(t, m.AllowedMentions.None(), "message %s may ping", m.ID)
	}
	streams := 0
	for _, req := range pv.Requests() {
		if strings.HasSuffix(req.Path, "/stream") {
			streams++
		}
	}
	assert.Equal(t, 2, streams, "the run before the restart and its continuation after it")
	assert.Len(t, s.Threads, 1)
}

// TestE2EDiscordShapesAndLimits runs the whole bridge over a fake that
// enforces Discord's rate limits and speaks its real shapes: a mention of
// the bot's managed role in a channel whose thread creation Discord refuses
// (160006, the active-thread limit) is answered inline, with no 429, and
// with only documented keys in the bodies; after an op 7 Reconnect and a
// zombied connection the next mention is answered too.
func TestE2EDiscordShapesAndLimits(t *testing.T) {
	t.Parallel()
	e := startE2E(t, promptevtest.Agent{})
	e.fake.EnforceRateLimits(true)
	body, err := os.ReadFile(filepath.Join("testdata", "wire", "thread_refused_160006.json"))
	require.NoError(t, err)
	e.fake.RefuseThreads(http.StatusBadRequest, body)

	id, err := e.fake.SendMessage(discordfake.UserMessage{GuildID: testGuild, ChannelID: testChannel, AuthorID: testUser,
		AuthorName: "ana", GlobalName: "Ana Lima", Content: "ping via role", MentionBotRole: true})
	require.NoError(t, err)
	s := e.waitFor(t, func(s discordfake.Snapshot) bool {
		for _, m := range botMessagesIn(s, testChannel) {
			if m.ReplyTo == id && strings.Contains(m.Content, "You said: ping via role") {
				return true
			}
		}
		return false
	})
	assert.Empty(t, s.Threads)
	assert.Zero(t, s.RateLimited)
	assert.Empty(t, s.UnknownKeys)

	e.fake.RefuseThreads(0, nil)
	e.fake.RequireResumeURL(true)
	require.NoError(t, e.fake.RequestReconnect())
	e.waitFor(t, func(s discordfake.Snapshot) bool { return s.Resumed == 1 && s.Connections == 1 })
	thread := e.ask(t, testUser, "after the reconnect")
	e.waitFor(t, func(s discordfake.Snapshot) bool {
		for _, m := range botMessagesIn(s, thread) {
			if strings.Contains(m.Content, "You said: after the reconnect") {
				return true
			}
		}
		return false
	})
	assert.Len(t, e.fake.Snapshot().Identifies, 1, "resumed on resume_gateway_url, not re-identified")
}
