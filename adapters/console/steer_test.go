package console

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
)

// TestInterruptStopsTheLiveRun: Interrupt (the console's Ctrl-C) presses
// the Stop of the run under way, and reports false once no message shows
// a Stop (Ctrl-C at the prompt then exits).
func TestInterruptStopsTheLiveRun(t *testing.T) {
	hs := start(t, Options{})
	ctx := context.Background()
	assert.False(t, hs.a.Interrupt(), "no run: nothing to stop")

	ref, err := hs.a.Post(ctx, hs.a.Key(), chat.Message{Kind: chat.KindStatus, Status: "Thinking…",
		Buttons: []chat.Button{{Kind: chat.Stop, Target: "RUN1", Label: "Stop"}}})
	require.NoError(t, err)
	require.True(t, hs.a.Interrupt())
	act := recv(t, hs.h.actions)
	assert.Equal(t, chat.Stop, act.Kind)
	assert.Equal(t, "RUN1", act.Target)
	assert.Equal(t, Name, act.Platform)
	assert.Equal(t, "you", act.User.Name)

	require.NoError(t, hs.a.Edit(ctx, ref, chat.Message{Kind: chat.KindStatus, Status: "⏹ Stopped by you", Final: true}))
	assert.False(t, hs.a.Interrupt(), "the run ended: Ctrl-C is for the prompt again")
	assert.Contains(t, hs.out.String(), "⏹ Stopped by you")
}

// TestTypedRetry: typing retry presses the latest failure notice's Retry;
// once the notice has lost it, retry is an ordinary message.
func TestTypedRetry(t *testing.T) {
	hs := start(t, Options{})
	ctx := context.Background()
	ref, err := hs.a.Post(ctx, hs.a.Key(), chat.Message{Kind: chat.KindNotice, Body: "⚠️ failed", Final: true,
		Buttons: []chat.Button{{Kind: chat.Retry, Target: "RUN2", Label: "Retry"}}})
	require.NoError(t, err)
	assert.Contains(t, hs.out.String(), "Type retry to run it again.")
	_, err = io.WriteString(hs.in, "retry\n")
	require.NoError(t, err)
	act := recv(t, hs.h.actions)
	assert.Equal(t, chat.Retry, act.Kind)
	assert.Equal(t, "RUN2", act.Target)

	require.NoError(t, hs.a.Edit(ctx, ref, chat.Message{Kind: chat.KindNotice, Body: "⚠️ failed\n↻ Retried by you", Final: true}))
	_, err = io.WriteString(hs.in, "retry\n")
	require.NoError(t, err)
	msg := recv(t, hs.h.msgs)
	assert.Equal(t, "retry", msg.Text)
}

// TestTypedDenyWithReason: r asks the bridge for the reason form; the
// console prints its label and hands the next line back as the answer.
func TestTypedDenyWithReason(t *testing.T) {
	hs := start(t, Options{})
	ctx := context.Background()
	_, err := hs.a.Post(ctx, hs.a.Key(), chat.Message{Kind: chat.KindApproval,
		Approval: &chat.ApprovalCard{ID: "A1", Tool: "git.push", State: chat.ApprovalPending, DenyWithReason: true}})
	require.NoError(t, err)
	assert.Contains(t, hs.out.String(), "r to deny with a reason")
	hs.h.result = chat.ActionResult{Prompt: &chat.Prompt{Kind: chat.Deny, Target: "A1", Label: "Reason:"}}
	hs.send(t, "r")
	act := recv(t, hs.h.actions)
	assert.Equal(t, chat.DenyWithReason, act.Kind)
	assert.Equal(t, "A1", act.Target)
	hs.send(t, "wrong branch")
	act = recv(t, hs.h.actions)
	assert.Equal(t, chat.Deny, act.Kind)
	assert.Equal(t, "A1", act.Target)
	assert.Equal(t, "wrong branch", act.Text)
	assert.Contains(t, hs.out.String(), "Reason: ")
}
