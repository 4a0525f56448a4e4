package discord

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRender(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("word ", 600)
	tests := []struct {
		name        string
		msg         chat.Message
		wantContent string
		wantButtons int
		wantErr     string
	}{
		{name: "empty status is a placeholder", msg: chat.Message{Kind: chat.KindStatus}, wantContent: "⏳ Thinking…"},
		{name: "empty final status never says thinking", msg: chat.Message{Kind: chat.KindStatus, Final: true},
			wantContent: "…"},
		{name: "final status has no hourglass", msg: chat.Message{Kind: chat.KindStatus, Status: "Done", Final: true},
			wantContent: "**Done**"},
		{name: "status escapes markdown and mentions",
			msg:         chat.Message{Kind: chat.KindStatus, Status: "Query *all* <@123>", Steps: []chat.Step{{Text: "# big"}}},
			wantContent: "⏳ **Query \\*all\\* \\<\u200b@123>**\n▸ \\# big"},
		{name: "answer body passes through", msg: chat.Message{Kind: chat.KindAnswer, Body: "**bold** `code`"},
			wantContent: "**bold** `code`"},
		{name: "notice body", msg: chat.Message{Kind: chat.KindNotice, Body: "Something went wrong."},
			wantContent: "Something went wrong."},
		{name: "empty answer is never sent empty", msg: chat.Message{Kind: chat.KindAnswer}, wantContent: "…"},
		{name: "pending card has buttons",
			msg: chat.Message{Kind: chat.KindApproval, Approval: &chat.ApprovalCard{ID: "a1", Description: "Run it?",
				State: chat.ApprovalPending}},
			wantContent: "🔐 **Approval needed**\nRun it?", wantButtons: 2},
		{name: "denied card has none",
			msg: chat.Message{Kind: chat.KindApproval, Approval: &chat.ApprovalCard{ID: "a1", Tool: "sh`ell",
				State: chat.ApprovalDenied, DecidedBy: "Bo_b"}},
			wantContent: "🔐 **Approval needed** · `sh'ell`\n❌ Denied by **Bo\\_b**."},
		{name: "expired card",
			msg:         chat.Message{Kind: chat.KindApproval, Approval: &chat.ApprovalCard{ID: "a1", State: chat.ApprovalExpired}},
			wantContent: "🔐 **Approval needed**\n⌛ Expired: no decision was made in time."},
		{name: "arguments cannot close the fence",
			msg: chat.Message{Kind: chat.KindApproval, Approval: &chat.ApprovalCard{ID: "a1", Arguments: "a```b",
				State: chat.ApprovalApproved}},
			wantContent: "🔐 **Approval needed**\n```\na`\u200b``b\n```\n✅ Approved."},
		{name: "card without approval", msg: chat.Message{Kind: chat.KindApproval}, wantErr: "without approval card"},
		{name: "approval id too long for custom_id",
			msg: chat.Message{Kind: chat.KindApproval, Approval: &chat.ApprovalCard{ID: strings.Repeat("x", 95),
				State: chat.ApprovalPending}},
			wantErr: "custom_id"},
		{name: "oversized status is cut to Discord's limit",
			msg: chat.Message{Kind: chat.KindStatus, Status: "s", Body: "```\n" + long},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := render(tt.msg)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, r.components, "components are always sent so edits remove buttons")
			assert.LessOrEqual(t, utf8.RuneCountInString(r.content), 2000)
			assert.Zero(t, strings.Count(r.content, "```")%2, "fences stay balanced")
			if tt.wantContent != "" {
				assert.Equal(t, tt.wantContent, r.content)
			}
			buttons := 0
			for _, c := range r.components {
				row, ok := c.(discordgo.ActionsRow)
				require.True(t, ok)
				for _, b := range row.Components {
					btn := b.(discordgo.Button)
					assert.LessOrEqual(t, len(btn.CustomID), maxCustomID)
					buttons++
				}
			}
			assert.Equal(t, tt.wantButtons, buttons)
		})
	}
}

func TestCustomIDRoundTrip(t *testing.T) {
	t.Parallel()
	row, err := approvalButtons("abc", false)
	require.NoError(t, err)
	approve := row.Components[0].(discordgo.Button)
	deny := row.Components[1].(discordgo.Button)
	assert.Equal(t, discordgo.SuccessButton, approve.Style)
	assert.Equal(t, discordgo.DangerButton, deny.Style)

	assert.Equal(t, "pvb:approve:abc", approve.CustomID)
	assert.Equal(t, "pvb:deny:abc", deny.CustomID)

	tests := []struct {
		in   string
		dec  chat.ActionKind
		id   string
		isOK bool
	}{
		{approve.CustomID, chat.Approve, "abc", true},
		{deny.CustomID, chat.Deny, "abc", true},
		// Buttons posted by earlier versions (pending cards survive restarts).
		{"pvb:a:abc", chat.Approve, "abc", true},
		{"pvb:d:abc", chat.Deny, "abc", true},
		// A kind this version has no handler for still reaches the bridge,
		// which answers it with a notice.
		{"pvb:stop:run1", "stop", "run1", true},
		{"pvb:a:", "", "", false},
		{"pvb:approve:", "", "", false},
		{"pvb:Approve:abc", "", "", false},
		{"pvb:approve", "", "", false},
		{"other:approve:abc", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		dec, id, ok := parseCustomID(tt.in)
		assert.Equal(t, tt.isOK, ok, tt.in)
		assert.Equal(t, tt.dec, dec, tt.in)
		assert.Equal(t, tt.id, id, tt.in)
	}
	_, err = approvalButtons("", false)
	assert.Error(t, err)
}

func TestTextHelpers(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "a b c", oneLine(" a\n\tb  c ", 50))
	assert.Equal(t, "\\- item\n  \\> quote\n\\## h\nplain \\_x\\_", escapeMarkdown("- item\n  > quote\n## h\nplain _x_"))
	assert.Equal(t, "Promptev", threadName("  \n "))
	assert.Equal(t, 90, utf8.RuneCountInString(threadName(strings.Repeat("ü", 200))))
}

func TestRenderFeedbackButtons(t *testing.T) {
	t.Parallel()
	r, err := render(chat.Message{Kind: chat.KindAnswer, Body: "answer", Final: true, Feedback: "RUN123"})
	require.NoError(t, err)
	require.Len(t, r.components, 1, "the answer's last part carries 👍/👎")
	row := r.components[0].(discordgo.ActionsRow)
	require.Len(t, row.Components, 2)
	for i, want := range []chat.FeedbackValue{chat.FeedbackUp, chat.FeedbackDown} {
		b := row.Components[i].(discordgo.Button)
		kind, target, ok := parseCustomID(b.CustomID)
		require.True(t, ok)
		assert.Equal(t, chat.Feedback, kind)
		answer, v, err := chat.ParseFeedbackTarget(target)
		require.NoError(t, err)
		assert.Equal(t, "RUN123", answer)
		assert.Equal(t, want, v)
	}
	plain, err := render(chat.Message{Kind: chat.KindAnswer, Body: "first part", Final: true})
	require.NoError(t, err)
	assert.Empty(t, plain.components, "other parts have no buttons")
	notice, err := render(chat.Message{Kind: chat.KindNotice, Body: "failed", Final: true, Feedback: "RUN123"})
	require.NoError(t, err)
	assert.Empty(t, notice.components, "notices are not rated")
}
