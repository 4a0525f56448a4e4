package slack

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/chat"
)

func TestEscape(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{"a < b & c > d", 100, "a &lt; b &amp; c &gt; d"},
		{"<!channel> <@U1>", 100, "&lt;!channel&gt; &lt;@U1&gt;"},
		{"abcdef", 6, "abcdef"},
		{"abcdefg", 6, "abcde…"},
		{"abcd&", 5, "abcd…"},
		{"ab&", 7, "ab&amp;"},
		{"ab&c", 7, "ab…"},
		{"héllo wörld", 5, "héll…"},
	}
	for _, tt := range tests {
		got := escape(tt.in, tt.limit)
		assert.Equal(t, tt.want, got, tt.in)
		assert.LessOrEqual(t, utf8.RuneCountInString(got), tt.limit)
		assert.True(t, utf8.ValidString(got))
	}
}

// blockJSON renders and marshals the blocks for inspection.
func blockJSON(t *testing.T, r rendered) []map[string]any {
	t.Helper()
	data, err := json.Marshal(r.Blocks)
	require.NoError(t, err)
	var out []map[string]any
	require.NoError(t, json.Unmarshal(data, &out))
	return out
}

func TestRender(t *testing.T) {
	longSteps := make([]chat.Step, 14)
	for i := range longSteps {
		longSteps[i] = chat.Step{Text: strings.Repeat("step <x> ", 200), Done: i%2 == 0}
	}
	tests := []struct {
		name       string
		msg        chat.Message
		types      []string
		contains   []string
		absent     []string
		fallbackIn string
	}{
		{
			name:       "placeholder",
			msg:        chat.Message{Kind: chat.KindStatus},
			types:      []string{"context"},
			contains:   []string{"Working..."},
			fallbackIn: "Working...",
		},
		{
			name:       "working status shows the hourglass",
			msg:        chat.Message{Kind: chat.KindStatus, Status: "Searching Jira..."},
			types:      []string{"context"},
			contains:   []string{":hourglass_flowing_sand: Searching Jira..."},
			fallbackIn: "Searching Jira...",
		},
		{
			name:       "final summary has no hourglass",
			msg:        chat.Message{Kind: chat.KindStatus, Status: "✓ 3 steps", Final: true},
			types:      []string{"context"},
			contains:   []string{"✓ 3 steps"},
			absent:     []string{"hourglass", "Working"},
			fallbackIn: "✓ 3 steps",
		},
		{
			name:     "empty final status never says working",
			msg:      chat.Message{Kind: chat.KindStatus, Final: true},
			types:    []string{"context"},
			contains: []string{"Done"},
			absent:   []string{"hourglass", "Working"},
		},
		{
			name: "status with thought and steps",
			msg: chat.Message{Kind: chat.KindStatus, Status: "Searching Jira...", Thought: "look for <bugs>\nfirst",
				Steps: []chat.Step{{Text: "Read docs", Done: true}, {Text: "Query Jira"}}},
			types:      []string{"context", "context", "context"},
			contains:   []string{"Searching Jira...", "_look for &lt;bugs&gt; first_", ":white_check_mark: Read docs", ":small_blue_diamond: Query Jira"},
			absent:     []string{"<bugs>"},
			fallbackIn: "Searching Jira...",
		},
		{
			name:  "many long steps stay within context limits",
			msg:   chat.Message{Kind: chat.KindStatus, Status: strings.Repeat("s", 5000), Thought: strings.Repeat("t", 5000), Steps: longSteps},
			types: []string{"context", "context", "context"},
		},
		{
			name: "pending approval",
			msg: chat.Message{Kind: chat.KindApproval, Approval: &chat.ApprovalCard{ID: "ap-1", Tool: "jira.create",
				Description: "Create <issue> & assign", Arguments: `{"title":"x"}`, State: chat.ApprovalPending}},
			types:      []string{"section", "section", "actions"},
			contains:   []string{"*Approval needed*: `jira.create`", "Create &lt;issue&gt; &amp; assign", "```{\"title\":\"x\"}```", `"action_id":"pvb_approve"`, `"action_id":"pvb_deny"`, `"style":"primary"`, `"style":"danger"`, `"value":"ap-1"`},
			fallbackIn: "Approval needed: jira.create",
		},
		{
			name: "approved card shows who and no buttons",
			msg: chat.Message{Kind: chat.KindApproval, Approval: &chat.ApprovalCard{ID: "ap-1", Tool: "jira.create",
				Description: "Create issue", State: chat.ApprovalApproved, DecidedBy: "Ana <admin>"}},
			types:      []string{"section", "context"},
			contains:   []string{"Approved by Ana &lt;admin&gt;"},
			absent:     []string{"pvb_approve", "ap-1"},
			fallbackIn: "(Approved by Ana &lt;admin&gt;)",
		},
		{
			name:     "denied card",
			msg:      chat.Message{Kind: chat.KindApproval, Approval: &chat.ApprovalCard{ID: "ap-2", State: chat.ApprovalDenied, DecidedBy: "Bo"}},
			types:    []string{"section", "context"},
			contains: []string{"Denied by Bo"},
		},
		{
			name:     "expired card",
			msg:      chat.Message{Kind: chat.KindApproval, Approval: &chat.ApprovalCard{ID: "ap-3", State: chat.ApprovalExpired}},
			types:    []string{"section", "context"},
			contains: []string{"Expired"},
		},
		{
			name: "huge approval stays within section limits",
			msg: chat.Message{Kind: chat.KindApproval, Approval: &chat.ApprovalCard{ID: "ap-4", Tool: strings.Repeat("t", 400),
				Description: strings.Repeat("<&>", 3000), Arguments: strings.Repeat("```<>", 1000), State: chat.ApprovalPending}},
			types: []string{"section", "section", "actions"},
		},
		{
			name:       "answer is a markdown block",
			msg:        chat.Message{Kind: chat.KindAnswer, Body: "# Title\n\n**bold** and `code` <b>", Final: true},
			types:      []string{"markdown"},
			contains:   []string{"# Title\n\n**bold** and `code` <b>"},
			fallbackIn: "# Title\n\n**bold** and `code` &lt;b&gt;",
		},
		{
			name:  "notice",
			msg:   chat.Message{Kind: chat.KindNotice, Body: "The agent failed: timeout"},
			types: []string{"markdown"},
		},
		{
			name:     "empty answer still renders",
			msg:      chat.Message{Kind: chat.KindAnswer, Body: "  "},
			types:    []string{"markdown"},
			contains: []string{"(empty answer)"},
		},
		{
			name:  "3900 characters of escapable text keep the fallback within limits",
			msg:   chat.Message{Kind: chat.KindAnswer, Body: strings.Repeat("<&>", 1300)},
			types: []string{"markdown"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := render(tt.msg)
			blocks := blockJSON(t, r)
			var types []string
			for _, b := range blocks {
				types = append(types, b["type"].(string))
			}
			assert.Equal(t, tt.types, types)
			var buf strings.Builder
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			require.NoError(t, enc.Encode(r.Blocks))
			seen := buf.String() + "\n" + strings.Join(allStrings(blocks), "\n")
			for _, c := range tt.contains {
				assert.Contains(t, seen, c)
			}
			for _, c := range tt.absent {
				assert.NotContains(t, seen, c)
			}
			if tt.fallbackIn != "" {
				assert.Contains(t, r.Text, tt.fallbackIn)
			}
			assertWithinLimits(t, r)
		})
	}
}

// allStrings collects every string value in decoded JSON.
func allStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, allStrings(x)...)
		}
		return out
	case []map[string]any:
		var out []string
		for _, x := range v {
			out = append(out, allStrings(x)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, x := range v {
			out = append(out, allStrings(x)...)
		}
		return out
	}
	return nil
}

// assertWithinLimits checks Slack's limits on a rendered message.
func assertWithinLimits(t *testing.T, r rendered) {
	t.Helper()
	assert.LessOrEqual(t, utf8.RuneCountInString(r.Text), maxTextChars, "text fallback")
	assert.NotEmpty(t, strings.TrimSpace(r.Text))
	assert.LessOrEqual(t, len(r.Blocks), 50)
	markdown := 0
	for _, b := range r.Blocks {
		switch b := b.(type) {
		case *slack.MarkdownBlock:
			markdown += utf8.RuneCountInString(b.Text)
			assert.NotEmpty(t, b.Text)
		case *slack.SectionBlock:
			assert.LessOrEqual(t, utf8.RuneCountInString(b.Text.Text), maxSectionChars, "section")
			assert.NoError(t, b.Text.Validate())
		case *slack.ContextBlock:
			assert.LessOrEqual(t, len(b.ContextElements.Elements), maxContextElements)
			for _, e := range b.ContextElements.Elements {
				if tx, ok := e.(*slack.TextBlockObject); ok {
					assert.LessOrEqual(t, utf8.RuneCountInString(tx.Text), maxSectionChars, "context")
					assert.NoError(t, tx.Validate())
				}
			}
		case *slack.ActionBlock:
			for _, e := range b.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok {
					assert.LessOrEqual(t, len(btn.Value), 2000)
					assert.LessOrEqual(t, len(btn.ActionID), 255)
				}
			}
		}
	}
	assert.LessOrEqual(t, markdown, maxMarkdownChars, "markdown total")
}

// TestRenderAcceptedByWorkspaceLimits posts every kind of message of maximum
// size through slack-go to the fake, which rejects what Slack would reject.
func TestRenderAcceptedByWorkspaceLimits(t *testing.T) {
	fake := slackfake.New(t)
	a, err := New(fakeConfig(fake, ModeSocket), testLogger(t, nil))
	require.NoError(t, err)
	ctx := context.Background()
	key := chat.ConversationKey{Platform: "slack", Workspace: slackfake.TeamID, Channel: "C1", Thread: "1.1"}
	big := strings.Repeat("word & <tag> ", 400)[:3900]
	msgs := []chat.Message{
		{Kind: chat.KindStatus, Status: big, Thought: big, Steps: []chat.Step{{Text: big}, {Text: big, Done: true}}},
		{Kind: chat.KindApproval, Approval: &chat.ApprovalCard{ID: strings.Repeat("i", 64), Tool: big, Description: big, Arguments: big}},
		{Kind: chat.KindApproval, Approval: &chat.ApprovalCard{ID: "x", State: chat.ApprovalApproved, DecidedBy: big}},
		{Kind: chat.KindAnswer, Body: big},
		{Kind: chat.KindAnswer, Body: strings.Repeat("é", 3900)},
		{Kind: chat.KindNotice, Body: strings.Repeat("<", 3900)},
	}
	for i, m := range msgs {
		ref, err := a.Post(ctx, key, m)
		require.NoError(t, err, "post %d", i)
		require.NoError(t, a.Edit(ctx, ref, m), "edit %d", i)
	}
	for _, c := range fake.Calls() {
		assert.Empty(t, c.Error, "%s", c.Method)
	}
}
