package console

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

func status(s, thought string, steps ...chat.Step) chat.Message {
	return chat.Message{Kind: chat.KindStatus, Status: s, Thought: thought, Steps: steps}
}

// runScript posts the first message and applies the rest as edits of it.
func runScript(t *testing.T, a *Adapter, msgs ...chat.Message) {
	t.Helper()
	ctx := context.Background()
	ref, err := a.Post(ctx, a.Key(), msgs[0])
	require.NoError(t, err)
	for _, m := range msgs[1:] {
		require.NoError(t, a.Edit(ctx, ref, m))
	}
}

func TestPlainRenderingPrintsOnlyChanges(t *testing.T) {
	tests := []struct {
		name string
		msgs []chat.Message
		want string
	}{
		{
			name: "status edits",
			msgs: []chat.Message{
				status("Thinking...", ""),
				status("Thinking...", ""), // unchanged: nothing printed
				status("Searching Jira...", "Check Jira first.", chat.Step{Text: "Searching Jira..."}),
				status("Reading logs...", "Check Jira first.", chat.Step{Text: "Searching Jira...", Done: true}, chat.Step{Text: "Reading logs..."}),
			},
			want: "… Thinking...\n" +
				"💭 Check Jira first.\n… Searching Jira...\n" +
				"✓ Searching Jira...\n… Reading logs...\n",
		},
		{
			name: "placeholder replaced by the answer",
			msgs: []chat.Message{
				status("Thinking...", ""),
				{Kind: chat.KindAnswer, Body: "# Result\n\n```go\nfmt.Println(1)\n```\n", Final: true},
			},
			want: "… Thinking...\n# Result\n\n```go\nfmt.Println(1)\n```\n",
		},
		{
			name: "tidied placeholder after the answer was posted separately",
			msgs: []chat.Message{
				status("Thinking...", ""),
				{Kind: chat.KindStatus, Status: "✓ 3 steps", Final: true},
			},
			want: "… Thinking...\n✓ 3 steps\n",
		},
		{
			name: "failure notice",
			msgs: []chat.Message{
				status("Thinking...", ""),
				{Kind: chat.KindNotice, Body: "The agent failed.\nTry again.", Final: true},
			},
			want: "… Thinking...\n! The agent failed.\n  Try again.\n",
		},
		{
			name: "approval card and decision",
			msgs: []chat.Message{card("ap1", chat.ApprovalPending, ""), card("ap1", chat.ApprovalApproved, "Ana")},
			want: "? Approval needed: create_issue\n  Create a Jira issue?\n  arguments: {\"project\":\"REL\"}\n" +
				"  Type y to approve or n to deny.\n✓ Approved by Ana\n",
		},
		{
			name: "denied",
			msgs: []chat.Message{card("ap1", chat.ApprovalPending, ""), card("ap1", chat.ApprovalDenied, "Bo")},
			want: "? Approval needed: create_issue\n  Create a Jira issue?\n  arguments: {\"project\":\"REL\"}\n" +
				"  Type y to approve or n to deny.\n✗ Denied by Bo\n",
		},
		{
			name: "expired",
			msgs: []chat.Message{card("ap1", chat.ApprovalExpired, "")},
			want: "⌛ Approval expired\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := &bridgetest.SyncBuffer{}
			a := New(Options{In: strings.NewReader(""), Out: out})
			runScript(t, a, tt.msgs...)
			assert.Equal(t, tt.want, out.String())
		})
	}
}

func TestTTYRewritesStatusInPlace(t *testing.T) {
	out := &bridgetest.SyncBuffer{}
	a := New(Options{In: strings.NewReader(""), Out: out, TTY: true})
	ctx := context.Background()
	ref, err := a.Post(ctx, a.Key(), status("Thinking...", ""))
	require.NoError(t, err)
	require.NoError(t, a.Edit(ctx, ref, status("Searching Jira...", "hmm", chat.Step{Text: "Searching Jira..."})))
	require.NoError(t, a.Edit(ctx, ref, status("Reading logs...", "", chat.Step{Text: "Searching Jira...", Done: true})))

	rewrite := func(n int) string { return fmt.Sprintf("\x1b[%dF\x1b[J", n) }
	want := "… Thinking...\n" +
		rewrite(1) + "… Searching Jira...\n  💭 hmm\n  • Searching Jira...\n" +
		rewrite(3) + "… Reading logs...\n  ✓ Searching Jira...\n"
	assert.Equal(t, want, out.String())

	// Once other output follows, the block is printed anew instead of rewritten.
	require.NoError(t, a.Ephemeral(ctx, a.Key(), "u", "note"))
	require.NoError(t, a.Edit(ctx, ref, chat.Message{Kind: chat.KindAnswer, Body: "Done.", Final: true}))
	assert.True(t, strings.HasSuffix(out.String(), "(note)\nDone.\n"), out.String())
}

func TestTTYApprovalOutcome(t *testing.T) {
	out := &bridgetest.SyncBuffer{}
	a := New(Options{In: strings.NewReader(""), Out: out, TTY: true})
	ctx := context.Background()
	ref, err := a.Post(ctx, a.Key(), card("ap1", chat.ApprovalPending, ""))
	require.NoError(t, err)
	_, err = a.Post(ctx, a.Key(), chat.Message{Kind: chat.KindNotice, Body: "later"})
	require.NoError(t, err)
	// Both are still the last thing on screen: the card is decided in place.
	require.NoError(t, a.Edit(ctx, ref, card("ap1", chat.ApprovalApproved, "Ana")))
	assert.True(t, strings.HasSuffix(out.String(), "\x1b[5F\x1b[J? Approval needed: create_issue\n  Create a Jira issue?\n"+
		"  arguments: {\"project\":\"REL\"}\n✓ Approved by Ana\n! later\n"), out.String())

	// Once other output follows, a decided card prints only its outcome.
	ref2, err := a.Post(ctx, a.Key(), card("ap2", chat.ApprovalPending, ""))
	require.NoError(t, err)
	require.NoError(t, a.Ephemeral(ctx, a.Key(), "u", "note"))
	require.NoError(t, a.Edit(ctx, ref2, card("ap2", chat.ApprovalDenied, "Bo")))
	assert.True(t, strings.HasSuffix(out.String(), "(note)\n✗ Denied by Bo\n"), out.String())
}

func TestTTYDoesNotEchoInput(t *testing.T) {
	hs := start(t, Options{TTY: true})
	hs.send(t, "hello")
	recv(t, hs.h.msgs)
	assert.NotContains(t, hs.out.String(), "> hello")
}

func TestEditOfUnknownMessageRendersIt(t *testing.T) {
	out := &bridgetest.SyncBuffer{}
	a := New(Options{In: strings.NewReader(""), Out: out})
	require.NoError(t, a.Edit(context.Background(), chat.MessageRef{ID: "old"},
		chat.Message{Kind: chat.KindNotice, Body: "This run was interrupted.", Final: true}))
	assert.Equal(t, "! This run was interrupted.\n", out.String())
}

// The console remembers the last keepMessages messages: an unchanged status
// edit of a recent one prints nothing, while an edit of a forgotten one is
// printed again in full, and memory stays bounded.
func TestOldMessagesAreForgotten(t *testing.T) {
	out := &bridgetest.SyncBuffer{}
	a := New(Options{In: strings.NewReader(""), Out: out})
	ctx := context.Background()
	var refs []chat.MessageRef
	for i := range keepMessages + 10 {
		ref, err := a.Post(ctx, a.Key(), status(fmt.Sprintf("Step %d", i), ""))
		require.NoError(t, err)
		refs = append(refs, ref)
	}
	a.mu.Lock()
	assert.Len(t, a.msgs, keepMessages)
	assert.Len(t, a.order, keepMessages)
	a.mu.Unlock()

	before := out.String()
	require.NoError(t, a.Edit(ctx, refs[len(refs)-1], status(fmt.Sprintf("Step %d", len(refs)-1), "")))
	assert.Equal(t, before, out.String(), "a remembered message's unchanged state prints nothing")
	require.NoError(t, a.Edit(ctx, refs[0], status("Step 0", "")))
	assert.Equal(t, before+"… Step 0\n", out.String(), "a forgotten message is printed again")
	a.mu.Lock()
	assert.Len(t, a.msgs, keepMessages, "still bounded")
	a.mu.Unlock()
}

func TestTTYTypedLineEndsRewrite(t *testing.T) {
	hs := start(t, Options{TTY: true})
	ctx := context.Background()
	ref, err := hs.a.Post(ctx, hs.a.Key(), status("Thinking...", ""))
	require.NoError(t, err)
	hs.send(t, "another question") // echoed by the terminal below the block
	recv(t, hs.h.msgs)
	require.NoError(t, hs.a.Edit(ctx, ref, status("Searching...", "")))
	assert.Equal(t, "… Thinking...\n… Searching...\n", hs.out.String(), "printed anew, not rewritten")
}

func TestScreenRowsCountsWrappedLines(t *testing.T) {
	tests := []struct {
		name  string
		block string
		width int
		want  int
	}{
		{"short lines", "… Working\n  ✓ one\n", 80, 2},
		{"exactly the width", strings.Repeat("x", 80) + "\n", 80, 1},
		{"one column over wraps", strings.Repeat("x", 81) + "\n", 80, 2},
		{"three rows", strings.Repeat("x", 200) + "\n", 80, 3},
		{"emoji count twice", strings.Repeat("💭", 41) + "\n", 80, 2},
		{"zero width means 80", strings.Repeat("x", 100) + "\n", 0, 2},
		{"empty line is a row", "a\n\nb\n", 80, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, screenRows(tt.block, tt.width))
		})
	}
}

func TestTTYRewriteMovesOverWrappedRows(t *testing.T) {
	var out bytes.Buffer
	a := New(Options{In: strings.NewReader(""), Out: &out, TTY: true, Width: 20})
	ref, err := a.Post(context.Background(), a.Key(), chat.Message{Kind: chat.KindStatus, Status: strings.Repeat("s", 30)})
	require.NoError(t, err)
	out.Reset()
	require.NoError(t, a.Edit(context.Background(), ref, chat.Message{Kind: chat.KindStatus, Status: "done"}))
	// "… " + 30 characters is 32 columns: two rows at width 20.
	assert.True(t, strings.HasPrefix(out.String(), "\x1b[2F\x1b[J"), "got %q", out.String())
}
