package discord

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/discord/discordfake"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

func TestFirstPostCreatesThreadAndLaterMessagesStayThere(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	in := r.mention(t, "Why did the nightly build fail on the `main` branch yesterday evening around nine? Please look at the logs")
	ctx := ctxT(t)

	placeholder, err := r.a.Post(ctx, in.Key, chat.Message{Kind: chat.KindStatus, Status: "Thinking..."})
	require.NoError(t, err)
	assert.Equal(t, in.MessageID, placeholder.Channel, "posted in the thread created on the mention")
	assert.Equal(t, in.Key, placeholder.Key)
	assert.False(t, placeholder.Posted.IsZero())

	s := r.fake.Snapshot()
	require.Len(t, s.Threads, 1)
	th := s.Threads[0]
	assert.Equal(t, in.MessageID, th.ID)
	assert.Equal(t, testChannel, th.ParentID)
	assert.Equal(t, 1440, th.ArchiveMinutes)
	assert.True(t, strings.HasPrefix(th.Name, "Why did the nightly build fail on the main branch"), th.Name)
	assert.LessOrEqual(t, utf8.RuneCountInString(th.Name), 100)

	msg, ok := s.Message(placeholder.ID)
	require.True(t, ok)
	assert.Equal(t, in.MessageID, msg.ChannelID)
	assert.True(t, msg.AllowedMentions.None(), "nothing may ping")
	assert.Equal(t, discordfake.FlagSuppressEmbeds, msg.Flags&discordfake.FlagSuppressEmbeds)
	assert.Contains(t, msg.Content, "Thinking...")

	// Second post: no second thread.
	_, err = r.a.Post(ctx, in.Key, chat.Message{Kind: chat.KindAnswer, Body: "done"})
	require.NoError(t, err)
	assert.Len(t, r.fake.Snapshot().Threads, 1)

	// A follow-up inside the thread maps to the same conversation.
	_, err = r.fake.SendMessage(discordfake.UserMessage{GuildID: testGuild, ChannelID: in.MessageID, AuthorID: testUser,
		AuthorName: "ana", Content: "thanks, and the one before?"})
	require.NoError(t, err)
	follow := r.h.nextMessage(t)
	assert.Equal(t, in.Key, follow.Key)
	assert.False(t, follow.Mentioned)
	assert.Equal(t, "thanks, and the one before?", follow.Text)
}

func TestPostWhenThreadAlreadyExists(t *testing.T) {
	t.Parallel()
	// After a restart the adapter does not know the thread; creating it
	// again fails with 160004 and the post goes into the existing thread.
	r := startRig(t, nil)
	in := r.mention(t, "first")
	ctx := ctxT(t)
	_, err := r.a.Post(ctx, in.Key, chat.Message{Kind: chat.KindStatus})
	require.NoError(t, err)

	b := newAdapter(t, r.fake, testConfig(), r.logs)
	ref, err := b.Post(ctx, in.Key, chat.Message{Kind: chat.KindNotice, Body: "The run was interrupted."})
	require.NoError(t, err)
	assert.Equal(t, in.MessageID, ref.Channel)
	assert.Len(t, r.fake.Snapshot().Threads, 1)
}

func TestConcurrentFirstPostsCreateOneThread(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	in := r.mention(t, "parallel")
	ctx := ctxT(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := r.a.Post(ctx, in.Key, chat.Message{Kind: chat.KindStatus})
			errs <- err
		}()
	}
	for range 4 {
		require.NoError(t, <-errs)
	}
	s := r.fake.Snapshot()
	assert.Len(t, s.Threads, 1)
	assert.Len(t, s.ChannelMessages(in.MessageID), 4)
}

func TestInlinePosts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		key     chat.ConversationKey
		channel string
	}{
		{"DM", dmKey, testDM},
		{"auto_thread off", chat.ConversationKey{Platform: "discord", Workspace: testGuild, Channel: testChannel}, testChannel},
	}
	r := startRig(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, err := r.a.Post(ctxT(t), tt.key, chat.Message{Kind: chat.KindAnswer, Body: "hello"})
			require.NoError(t, err)
			assert.Equal(t, tt.channel, ref.Channel)
			m, ok := r.fake.Snapshot().Message(ref.ID)
			require.True(t, ok)
			assert.Equal(t, tt.channel, m.ChannelID)
			assert.Equal(t, "hello", m.Content)
		})
	}
	assert.Empty(t, r.fake.Snapshot().Threads)
}

func TestApprovalCardButtonsAndDecision(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	in := r.mention(t, "deploy it")
	ctx := ctxT(t)
	card := &chat.ApprovalCard{ID: "apr_0123456789", Tool: "deploy", Description: "Deploy *prod* now?",
		Arguments: `{"env":"prod"}`, State: chat.ApprovalPending}
	ref, err := r.a.Post(ctx, in.Key, chat.Message{Kind: chat.KindApproval, Approval: card})
	require.NoError(t, err)

	m, _ := r.fake.Snapshot().Message(ref.ID)
	assert.Equal(t, []discordfake.Button{
		{CustomID: "pvb:approve:apr_0123456789", Label: "Approve", Style: 3},
		{CustomID: "pvb:deny:apr_0123456789", Label: "Deny", Style: 4},
	}, m.Buttons())
	assert.Contains(t, m.Content, "`deploy`")
	assert.Contains(t, m.Content, `Deploy \*prod\* now?`)
	assert.Contains(t, m.Content, "```\n{\"env\":\"prod\"}\n```")

	decided := *card
	decided.State, decided.DecidedBy = chat.ApprovalApproved, "Ana"
	require.NoError(t, r.a.Edit(ctx, ref, chat.Message{Kind: chat.KindApproval, Approval: &decided, Final: true}))
	s := r.fake.Snapshot()
	m, _ = s.Message(ref.ID)
	assert.Empty(t, m.Buttons(), "buttons removed")
	assert.JSONEq(t, `[]`, string(m.Components))
	assert.Contains(t, m.Content, "Approved by **Ana**")
	last := s.Edits[len(s.Edits)-1]
	assert.True(t, last.AllowedMentions.None())
	assert.Equal(t, discordfake.FlagSuppressEmbeds, last.Flags)
}

func TestEditStatusRendering(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	ctx := ctxT(t)
	key := dmKey
	ref, err := r.a.Post(ctx, key, chat.Message{Kind: chat.KindStatus})
	require.NoError(t, err)
	err = r.a.Edit(ctx, ref, chat.Message{Kind: chat.KindStatus, Status: "Searching Jira...",
		Thought: "the user wants\nopen bugs", Steps: []chat.Step{{Text: "Read the ticket", Done: true}, {Text: "Search Jira"}}})
	require.NoError(t, err)
	m, _ := r.fake.Snapshot().Message(ref.ID)
	assert.Equal(t, "⏳ **Searching Jira...**\n-# 💭 the user wants open bugs\n✓ Read the ticket\n▸ Search Jira", m.Content)
	assert.Equal(t, 1, m.Edits)
}

func TestLongAnswerChunksFitDiscord(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	ctx := ctxT(t)
	key := dmKey
	// The bridge splits to Limits().MaxMessageChars; a chunk of exactly that
	// many (multi-byte) runes is sent unchanged.
	body := strings.Repeat("é", MaxMessageChars)
	ref, err := r.a.Post(ctx, key, chat.Message{Kind: chat.KindAnswer, Body: body})
	require.NoError(t, err)
	m, _ := r.fake.Snapshot().Message(ref.ID)
	assert.Equal(t, body, m.Content)
}

func TestRateLimitMapping(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	ctx := ctxT(t)
	key := dmKey
	ref, err := r.a.Post(ctx, key, chat.Message{Kind: chat.KindStatus})
	require.NoError(t, err)

	r.fake.RateLimitEdits(1, 250*time.Millisecond)
	err = r.a.Edit(ctx, ref, chat.Message{Kind: chat.KindStatus, Status: "one"})
	var rl *chat.RateLimitError
	require.ErrorAs(t, err, &rl)
	assert.Equal(t, 250*time.Millisecond, rl.RetryAfter)
	assert.Equal(t, 1, r.fake.Snapshot().RateLimited, "no retry inside the call")

	require.NoError(t, r.a.Edit(ctx, ref, chat.Message{Kind: chat.KindAnswer, Body: "final", Final: true}))
	m, _ := r.fake.Snapshot().Message(ref.ID)
	assert.Equal(t, "final", m.Content)

	r.fake.RateLimitPosts(1, 1500*time.Millisecond)
	_, err = r.a.Post(ctx, key, chat.Message{Kind: chat.KindAnswer, Body: "x"})
	require.ErrorAs(t, err, &rl)
	assert.Equal(t, 1500*time.Millisecond, rl.RetryAfter)
}

func TestEphemeral(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	ctx := ctxT(t)
	in := r.mention(t, "question")
	ref, err := r.a.Post(ctx, in.Key, chat.Message{Kind: chat.KindStatus})
	require.NoError(t, err)

	// No recent interaction: posted in the conversation, addressed, no ping.
	require.NoError(t, r.a.Ephemeral(ctx, in.Key, otherUser, "Only Ana can approve this."))
	s := r.fake.Snapshot()
	msgs := s.ChannelMessages(ref.Channel)
	last := msgs[len(msgs)-1]
	assert.Equal(t, "<@"+otherUser+"> Only Ana can approve this.", last.Content)
	assert.True(t, last.AllowedMentions.None())

	// After a click in the thread, the notice is an ephemeral follow-up.
	r.h.setResult(chat.ActionResult{}, nil)
	_, err = r.fake.Click(discordfake.Click{GuildID: testGuild, ChannelID: ref.Channel, MessageID: ref.ID,
		CustomID: "pvb:a:x1", UserID: otherUser, UserName: "bob"})
	require.NoError(t, err)
	r.h.nextAction(t)
	r.waitFor(t, func(s discordfake.Snapshot) bool { return len(s.InteractionResponses) == 1 })
	require.NoError(t, r.a.Ephemeral(ctx, in.Key, otherUser, "Already approved by Ana."))
	s = r.fake.Snapshot()
	require.Len(t, s.Followups, 1)
	assert.Equal(t, "Already approved by Ana.", s.Followups[0].Content)
	assert.Equal(t, discordfake.FlagEphemeral, s.Followups[0].Flags&discordfake.FlagEphemeral)
	assert.Len(t, s.ChannelMessages(ref.Channel), len(msgs), "nothing new in the channel")
}

func TestSetStatusTyping(t *testing.T) {
	t.Parallel()
	var now atomicTime
	now.set(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	r := startRig(t, nil, WithClock(now.get))
	ctx := ctxT(t)
	dm := dmKey
	pending := chat.ConversationKey{Platform: "discord", Workspace: testGuild, Channel: testChannel, Thread: "1300000000000000050"}

	r.waitFor(t, func(s discordfake.Snapshot) bool { return len(s.Commands) == 1 }) // no other calls from here on
	time.Sleep(time.Until(r.a.limit.fullAt()))                                      // the REST budget is full: typing is not skipped
	require.NoError(t, r.a.SetStatus(ctx, pending, "Searching"), "no thread yet: nothing to do")
	require.NoError(t, r.a.SetStatus(ctx, dm, ""), "clearing is a no-op")
	require.NoError(t, r.a.SetStatus(ctx, dm, "Searching"))
	require.NoError(t, r.a.SetStatus(ctx, dm, "Still searching"))
	now.set(now.get().Add(9 * time.Second))
	time.Sleep(time.Until(r.a.limit.fullAt()))
	require.NoError(t, r.a.SetStatus(ctx, dm, "Reading"))
	assert.Equal(t, []string{testDM, testDM}, r.fake.Snapshot().Typing)
}

func TestDelete(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	ctx := ctxT(t)
	key := dmKey
	ref, err := r.a.Post(ctx, key, chat.Message{Kind: chat.KindStatus})
	require.NoError(t, err)
	require.NoError(t, r.a.Delete(ctx, ref))
	m, _ := r.fake.Snapshot().Message(ref.ID)
	assert.True(t, m.Deleted)
	assert.Error(t, r.a.Delete(ctx, ref), "already deleted")
}

func TestWrongKeys(t *testing.T) {
	t.Parallel()
	fake := discordfake.New()
	t.Cleanup(fake.Close)
	a := newAdapter(t, fake, testConfig(), &bridgetest.SyncBuffer{})
	ctx := ctxT(t)
	_, err := a.Post(ctx, chat.ConversationKey{Platform: "slack", Channel: "C1"}, chat.Message{})
	assert.Error(t, err)
	assert.Error(t, a.Edit(ctx, chat.MessageRef{}, chat.Message{}))
	_, err = a.Post(ctx, chat.ConversationKey{Platform: "discord", Workspace: "dm", Channel: "1"},
		chat.Message{Kind: chat.KindApproval})
	assert.ErrorContains(t, err, "approval")
}

func TestThreadPermissionMissingRepliesInline(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	r.fake.ForbidThreads(true)
	in := r.mention(t, "question")
	ctx := ctxT(t)
	first, err := r.a.Post(ctx, in.Key, chat.Message{Kind: chat.KindStatus})
	require.NoError(t, err)
	second, err := r.a.Post(ctx, in.Key, chat.Message{Kind: chat.KindAnswer, Body: "answer"})
	require.NoError(t, err)

	s := r.fake.Snapshot()
	assert.Empty(t, s.Threads)
	m1, _ := s.Message(first.ID)
	m2, _ := s.Message(second.ID)
	assert.Equal(t, testChannel, m1.ChannelID)
	assert.Equal(t, in.MessageID, m1.ReplyTo, "the first reply answers the mention")
	assert.Equal(t, testChannel, m2.ChannelID)
	assert.Contains(t, r.logs.String(), "Create Public Threads")
	require.NoError(t, r.a.Edit(ctx, first, chat.Message{Kind: chat.KindAnswer, Body: "edited"}))
}

// TestThreadRefusedRepliesInline replays Discord's documented refusals of a
// thread (testdata/wire): the conversation continues inline, as for a
// missing permission, instead of failing the reply.
func TestThreadRefusedRepliesInline(t *testing.T) {
	t.Parallel()
	for _, fixture := range []string{"thread_refused_50024.json", "thread_refused_160006.json"} {
		t.Run(fixture, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", "wire", fixture))
			require.NoError(t, err)
			r := startRig(t, nil)
			r.fake.RefuseThreads(http.StatusBadRequest, body)
			in := r.mention(t, "question")
			ctx := ctxT(t)
			first, err := r.a.Post(ctx, in.Key, chat.Message{Kind: chat.KindStatus})
			require.NoError(t, err, "the refused thread does not fail the reply")
			s := r.fake.Snapshot()
			assert.Empty(t, s.Threads)
			m, _ := s.Message(first.ID)
			assert.Equal(t, testChannel, m.ChannelID)
			assert.Equal(t, in.MessageID, m.ReplyTo, "the reply answers the mention inline")
			assert.Contains(t, r.logs.String(), "replying inline")
			assert.False(t, r.a.NeedsThread(in.Key), "no second attempt")
		})
	}
}

func TestDeletedThreadIsForgotten(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	in := r.mention(t, "question")
	_, err := r.a.Post(ctxT(t), in.Key, chat.Message{Kind: chat.KindStatus})
	require.NoError(t, err)
	require.True(t, r.a.isKnownThread(in.MessageID))

	require.NoError(t, r.fake.Dispatch("THREAD_DELETE", map[string]any{
		"id": in.MessageID, "guild_id": testGuild, "parent_id": testChannel, "type": discordfake.ChannelTypePublicThread}))
	r.sentinel(t) // gateway events are handled in order
	assert.Equal(t, "sentinel", r.h.nextMessage(t).Text)
	assert.False(t, r.a.isKnownThread(in.MessageID))
}

// TestBodiesCarryOnlyDocumentedKeys: message posts and edits send only the
// params Discord documents (discordgo's MessageEdit would add "ID" and
// "Channel").
func TestBodiesCarryOnlyDocumentedKeys(t *testing.T) {
	t.Parallel()
	r := startRig(t, nil)
	in := r.mention(t, "question")
	ctx := ctxT(t)
	ref, err := r.a.Post(ctx, in.Key, chat.Message{Kind: chat.KindStatus, Status: "working"})
	require.NoError(t, err)
	require.NoError(t, r.a.Edit(ctx, ref, chat.Message{Kind: chat.KindAnswer, Body: "done"}))
	require.NoError(t, r.a.Ephemeral(ctx, in.Key, testUser, "a notice"))
	s := r.fake.Snapshot()
	require.Len(t, s.Edits, 1)
	assert.Equal(t, "done", *s.Edits[0].Content)
	assert.Empty(t, s.UnknownKeys)
}
