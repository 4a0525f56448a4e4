package console

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

// fakeHandler records what the adapter hands to the bridge.
type fakeHandler struct {
	msgs    chan chat.InboundMessage
	actions chan chat.Action
	result  chat.ActionResult
	msgErr  error
}

func newFakeHandler() *fakeHandler {
	return &fakeHandler{
		msgs:    make(chan chat.InboundMessage, 16),
		actions: make(chan chat.Action, 16),
		result:  chat.ActionResult{Accepted: true},
	}
}

func (f *fakeHandler) HandleMessage(_ context.Context, m chat.InboundMessage) error {
	f.msgs <- m
	return f.msgErr
}

func (f *fakeHandler) HandleAction(_ context.Context, a chat.Action) (chat.ActionResult, error) {
	f.actions <- a
	return f.result, nil
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second): // failure guard only, never a synchroniser
		t.Fatal("timed out waiting for the adapter")
		var zero T
		return zero
	}
}

// harness runs an adapter over a pipe until the test ends.
type harness struct {
	a   *Adapter
	h   *fakeHandler
	in  *io.PipeWriter
	out *bridgetest.SyncBuffer
	run chan error
}

func start(t *testing.T, opts Options) *harness {
	t.Helper()
	pr, pw := io.Pipe()
	out := &bridgetest.SyncBuffer{}
	opts.In, opts.Out = pr, out
	if opts.Session == "" {
		opts.Session = "s1"
	}
	opts.Now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	hs := &harness{a: New(opts), h: newFakeHandler(), in: pw, out: out, run: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { hs.run <- hs.a.Run(ctx, hs.h) }()
	t.Cleanup(func() {
		cancel()
		_ = pw.Close()
		require.NoError(t, recv(t, hs.run))
	})
	return hs
}

func (hs *harness) send(t *testing.T, line string) {
	t.Helper()
	_, err := io.WriteString(hs.in, line+"\n")
	require.NoError(t, err)
}

func TestLinesBecomeMentionedMessages(t *testing.T) {
	hs := start(t, Options{User: chat.User{ID: "ana", Name: "Ana"}})
	hs.send(t, "")
	hs.send(t, "  hello there  ")
	hs.send(t, "second")

	first := recv(t, hs.h.msgs)
	second := recv(t, hs.h.msgs)
	want := chat.ConversationKey{Platform: "console", Workspace: "local", Channel: "tty", Thread: "s1"}
	assert.Equal(t, want, first.Key)
	assert.Equal(t, want, hs.a.Key())
	assert.Equal(t, "hello there", first.Text)
	assert.True(t, first.Mentioned)
	assert.Equal(t, chat.User{ID: "ana", Name: "Ana"}, first.User)
	assert.NotEqual(t, first.MessageID, second.MessageID, "message ids are unique")
	assert.Equal(t, "second", second.Text)
	assert.True(t, hs.a.Ready())
	assert.Contains(t, hs.out.String(), "> hello there\n", "plain mode echoes input")
}

func TestDefaultsAndAbilities(t *testing.T) {
	a := New(Options{In: strings.NewReader(""), Out: io.Discard})
	assert.Equal(t, "console", a.Name())
	assert.Len(t, a.Key().Thread, 12, "random session id")
	assert.NotEqual(t, a.Key().Thread, New(Options{}).Key().Thread)
	assert.True(t, a.ButtonsSupported())
	assert.False(t, a.Ready(), "not ready before Run")
	l := a.Limits()
	assert.Positive(t, l.MaxMessageChars)
	assert.Positive(t, l.EditRate.Count)
}

func TestDecisionWords(t *testing.T) {
	tests := []struct {
		in   string
		want chat.ActionKind
		ok   bool
	}{
		{"y", chat.Approve, true}, {"YES", chat.Approve, true}, {"approve", chat.Approve, true},
		{"n", chat.Deny, true}, {"No", chat.Deny, true}, {" deny ", chat.Deny, true},
		{"yep", "", false}, {"approve it", "", false}, {"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, ok := parseAnswer(tt.in)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, d)
		})
	}
}

func card(id string, state chat.ApprovalState, by string) chat.Message {
	return chat.Message{Kind: chat.KindApproval, Approval: &chat.ApprovalCard{
		ID: id, Tool: "create_issue", Description: "Create a Jira issue?", Arguments: `{"project":"REL"}`,
		State: state, DecidedBy: by,
	}}
}

func TestTypedAnswerDecidesPendingApproval(t *testing.T) {
	tests := []struct {
		name string
		line string
		want chat.ActionKind
	}{
		{"y approves", "y", chat.Approve},
		{"approve approves", "approve", chat.Approve},
		{"n denies", "n", chat.Deny},
		{"deny denies", "deny", chat.Deny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := start(t, Options{User: chat.User{ID: "u1"}})
			ctx := context.Background()
			ref, err := hs.a.Post(ctx, hs.a.Key(), card("ap1", chat.ApprovalPending, ""))
			require.NoError(t, err)
			hs.send(t, tt.line)
			act := recv(t, hs.h.actions)
			assert.Equal(t, chat.Action{Platform: "console", Kind: tt.want, Target: "ap1",
				User: chat.User{ID: "u1"}, Received: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, act)

			assert.Contains(t, hs.out.String(), "("+string(tt.want)+": the approval for create_issue)\n", "the answer names the card it answers")

			// Once decided, the same word answers nothing and is not sent.
			require.NoError(t, hs.a.Edit(ctx, ref, card("ap1", chat.ApprovalApproved, "u1")))
			hs.send(t, tt.line)
			hs.send(t, "next question")
			assert.Equal(t, "next question", recv(t, hs.h.msgs).Text)
			assert.Contains(t, hs.out.String(), "no approval is waiting")
		})
	}
}

// A "y" typed before its card appears must not become a message to the
// agent: it would start a run of its own.
func TestAnswerWithoutPendingApprovalIsNotSent(t *testing.T) {
	hs := start(t, Options{})
	hs.send(t, "y")
	hs.send(t, "yes, go ahead")
	assert.Equal(t, "yes, go ahead", recv(t, hs.h.msgs).Text, "a sentence is a message")
	assert.Empty(t, hs.h.actions)
	assert.Contains(t, hs.out.String(), `(no approval is waiting, so "y" was not sent.`)
}

// While a card waits, a message (or "maybe") would start a second run in
// the same session; the console asks for the card's answer instead.
func TestMessageWhileCardPendingAsksForTheAnswer(t *testing.T) {
	hs := start(t, Options{})
	ctx := context.Background()
	ref, err := hs.a.Post(ctx, hs.a.Key(), card("ap1", chat.ApprovalPending, ""))
	require.NoError(t, err)
	hs.send(t, "maybe")
	hs.send(t, "what does it do?")
	hs.send(t, "n")
	assert.Equal(t, chat.Deny, recv(t, hs.h.actions).Kind)
	require.NoError(t, hs.a.Edit(ctx, ref, card("ap1", chat.ApprovalDenied, "u1")))
	hs.send(t, "what does it do?")
	assert.Equal(t, "what does it do?", recv(t, hs.h.msgs).Text, "the first message sent is the one after the answer")
	assert.Equal(t, 2, strings.Count(hs.out.String(), "(an approval is waiting: the approval for create_issue. Type y to approve or n to deny it first.)\n"))
}

// Two cards waiting: the answer says which one it decides and that one more waits.
func TestAnswerNamesTheCardAndTheOthersWaiting(t *testing.T) {
	hs := start(t, Options{})
	_, err := hs.a.Post(context.Background(), hs.a.Key(), card("ap1", chat.ApprovalPending, ""))
	require.NoError(t, err)
	c2 := card("ap2", chat.ApprovalPending, "")
	c2.Approval.Tool = "rollback"
	_, err = hs.a.Post(context.Background(), hs.a.Key(), c2)
	require.NoError(t, err)
	hs.send(t, "y")
	assert.Equal(t, "ap1", recv(t, hs.h.actions).Target)
	assert.Contains(t, hs.out.String(), "(approve: the approval for create_issue; 1 more waiting after it)\n")
}

func TestRefusedAnswerShowsNotice(t *testing.T) {
	hs := start(t, Options{})
	hs.h.result = chat.ActionResult{Notice: "Already approved by Ana"}
	ref, err := hs.a.Post(context.Background(), hs.a.Key(), card("ap1", chat.ApprovalPending, ""))
	require.NoError(t, err)
	hs.send(t, "y")
	recv(t, hs.h.actions)
	// The bridge shows the card as decided by Ana.
	require.NoError(t, hs.a.Edit(context.Background(), ref, card("ap1", chat.ApprovalApproved, "Ana")))
	hs.send(t, "next") // ordered after the notice
	recv(t, hs.h.msgs)
	assert.Contains(t, hs.out.String(), "(Already approved by Ana)\n")
}

func TestAnswerPending(t *testing.T) {
	tests := []struct {
		name string
		d    chat.ActionKind
	}{
		{"approve", chat.Approve},
		{"deny", chat.Deny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := start(t, Options{})
			assert.Equal(t, 0, hs.a.AnswerPending(tt.d), "nothing pending")
			_, err := hs.a.Post(context.Background(), hs.a.Key(), card("ap9", chat.ApprovalPending, ""))
			require.NoError(t, err)
			assert.Equal(t, 1, hs.a.AnswerPending(tt.d))
			act := recv(t, hs.h.actions)
			assert.Equal(t, "ap9", act.Target)
			assert.Equal(t, tt.d, act.Kind)
			hs.send(t, "after") // ordered after the answer
			recv(t, hs.h.msgs)
			assert.Contains(t, hs.out.String(), "> "+string(tt.d)+" (automatic)\n")
			assert.Equal(t, 0, hs.a.AnswerPending(tt.d), "an accepted answer clears the card")
		})
	}
}

func TestAnswerPendingAfterInputEnded(t *testing.T) {
	hs := start(t, Options{})
	require.NoError(t, hs.in.Close())
	recv(t, hs.a.InputDone())
	_, err := hs.a.Post(context.Background(), hs.a.Key(), card("ap2", chat.ApprovalPending, ""))
	require.NoError(t, err)
	hs.a.AnswerPending(chat.Deny)
	act := recv(t, hs.h.actions)
	assert.Equal(t, "ap2", act.Target)
	assert.Equal(t, chat.Deny, act.Kind)
}

func TestQuitEndsInput(t *testing.T) {
	hs := start(t, Options{})
	hs.send(t, "/quit")
	recv(t, hs.a.InputDone())
	assert.True(t, hs.a.Ready(), "still rendering until the context ends")
}

func TestHandleMessageErrorIsShown(t *testing.T) {
	hs := start(t, Options{})
	hs.h.msgErr = errors.New("bridge: shutting down")
	hs.send(t, "hi")
	recv(t, hs.h.msgs)
	hs.send(t, "/quit")
	recv(t, hs.a.InputDone())
	assert.Contains(t, hs.out.String(), "! bridge: shutting down\n")
}

func TestRunStopsWithContext(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	a := New(Options{In: pr, Out: io.Discard})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, newFakeHandler()) }()
	cancel()
	require.NoError(t, recv(t, done))
	assert.False(t, a.Ready())
}

func TestPostAfterCancelFails(t *testing.T) {
	a := New(Options{In: strings.NewReader(""), Out: io.Discard})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := a.Post(ctx, a.Key(), chat.Message{Body: "x"})
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, a.Edit(ctx, chat.MessageRef{ID: "m1"}, chat.Message{Body: "x"}), context.Canceled)
	require.ErrorIs(t, a.Ephemeral(ctx, a.Key(), "u", "x"), context.Canceled)
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("closed pipe") }

func TestWriteErrorIsReturned(t *testing.T) {
	a := New(Options{In: strings.NewReader(""), Out: failWriter{}})
	_, err := a.Post(context.Background(), a.Key(), chat.Message{Kind: chat.KindAnswer, Body: "x"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "console: write")
}
