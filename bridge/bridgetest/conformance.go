package bridgetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Harness is what an adapter hands the conformance suite: the platform under
// test, wired to the adapter's own fake server.
type Harness struct {
	// Platform is the platform under test.
	Platform chat.Platform
	// Key is a conversation the platform can post into.
	Key chat.ConversationKey
	// Inject429 makes the NEXT platform write answer 429 with retryAfter.
	Inject429 func(retryAfter time.Duration)
	// Observed returns what the fake server now shows for ref, as plain text
	// (how the adapter's native message reads), and whether ref exists.
	Observed func(ref chat.MessageRef) (text string, ok bool)
	// ObservedButtons, when set, returns how many buttons the fake server now
	// shows on ref. Without it the button checks are skipped.
	ObservedButtons func(ref chat.MessageRef) int
	// ButtonActions, when set, returns for each button the fake server now
	// shows on ref the Action the adapter hands to the bridge when that
	// button is clicked (the adapter's own click parser applied to the
	// button's id). Without it the round-trip check is skipped.
	ButtonActions func(ref chat.MessageRef) []chat.Action
	// ObservedEphemeral, when set, returns the ephemeral notices userID has
	// received in the conversation, oldest first. Without it the Ephemeral
	// check only requires success.
	ObservedEphemeral func(userID string) []string
	// Pings are the texts the platform's server turns into live mentions,
	// which must never reach it as they are. Empty means every form in pings.
	Pings []string
}

// pings are the mention forms the suite knows; each platform pings with some
// of them (Harness.Pings).
var pings = []string{"@everyone", "@here", "@channel", "<!channel>", "<!here>", "<!everyone>", "<@U0PING>", "<@123456789>", "<@!123456789>", "<@&123456789>"}

// RunPlatformConformance runs the platform conformance suite. newHarness is
// called once per check and must return a fresh platform and server.
func RunPlatformConformance(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	checks := []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"PostReturnsUsableRef", confPost},
		{"EditChangesObserved", confEdit},
		{"FullLengthBody", confFullLength},
		{"ApprovalCard", confApprovalCard},
		{"RateLimitError", confRateLimit},
		{"MentionsDoNotPing", confMentions},
		{"Ephemeral", confEphemeral},
		{"Status", confStatus},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			require.NotNil(t, h.Platform, "harness platform")
			require.True(t, h.Key.Valid(), "harness key must be valid")
			require.NotNil(t, h.Observed, "harness Observed")
			c.run(t, h)
		})
	}
}

func confContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func confPost(t *testing.T, h Harness) {
	ctx := confContext(t)
	assert.NotEmpty(t, h.Platform.Name())
	ref, err := h.Platform.Post(ctx, h.Key, chat.Message{Kind: chat.KindStatus, Status: "Working on it"})
	require.NoError(t, err)
	assert.NotEmpty(t, ref.ID, "ref.ID")
	got, ok := h.Observed(ref)
	require.True(t, ok, "posted message must be observable")
	assert.Contains(t, got, "Working on it")

	ref2, err := h.Platform.Post(ctx, h.Key, chat.Message{Kind: chat.KindAnswer, Body: "second message"})
	require.NoError(t, err)
	assert.NotEqual(t, ref.ID, ref2.ID, "each post gets its own ref")
}

func confEdit(t *testing.T, h Harness) {
	ctx := confContext(t)
	ref, err := h.Platform.Post(ctx, h.Key, chat.Message{Kind: chat.KindStatus, Status: "Searching Jira..."})
	require.NoError(t, err)
	require.NoError(t, h.Platform.Edit(ctx, ref, chat.Message{Kind: chat.KindAnswer, Body: "Found 3 issues.", Final: true}))
	got, ok := h.Observed(ref)
	require.True(t, ok)
	assert.Contains(t, got, "Found 3 issues.")
	assert.NotContains(t, got, "Searching Jira...", "the edit replaces the old state")
}

// fullLengthBody returns a Body of exactly n runes: a code fence around
// multibyte text. payload is what must be observed unchanged.
func fullLengthBody(n int) (body, payload string) {
	const open, closing = "```\n", "\n```"
	unit := []rune("héllo wörld 世界 ")
	m := n - utf8.RuneCountInString(open) - utf8.RuneCountInString(closing)
	r := make([]rune, 0, m)
	for len(r) < m {
		r = append(r, unit[len(r)%len(unit)])
	}
	r[len(r)-1] = 'Z' // no trailing space to trim
	payload = string(r)
	return open + payload + closing, payload
}

func confFullLength(t *testing.T, h Harness) {
	ctx := confContext(t)
	n := h.Platform.Limits().MaxMessageChars
	require.Positive(t, n, "Limits.MaxMessageChars")
	body, payload := fullLengthBody(n)
	require.Equal(t, n, utf8.RuneCountInString(body))
	ref, err := h.Platform.Post(ctx, h.Key, chat.Message{Kind: chat.KindAnswer, Body: body, Final: true})
	require.NoError(t, err, "a body of exactly MaxMessageChars runes is accepted")
	got, ok := h.Observed(ref)
	require.True(t, ok)
	assert.True(t, strings.Contains(got, payload), "the whole body is observed unchanged")

	// The same body as an edit.
	ref2, err := h.Platform.Post(ctx, h.Key, chat.Message{Kind: chat.KindStatus, Status: "Working"})
	require.NoError(t, err)
	require.NoError(t, h.Platform.Edit(ctx, ref2, chat.Message{Kind: chat.KindAnswer, Body: body, Final: true}))
	got, ok = h.Observed(ref2)
	require.True(t, ok)
	assert.True(t, strings.Contains(got, payload), "the whole edited body is observed unchanged")
}

func confApprovalCard(t *testing.T, h Harness) {
	ctx := confContext(t)
	card := &chat.ApprovalCard{
		ID:          "appr-conformance-1",
		Tool:        "jira.create_issue",
		Description: "Create a Jira issue titled Outage report",
		Arguments:   `{"title":"Outage report"}`,
		State:       chat.ApprovalPending,
	}
	ref, err := h.Platform.Post(ctx, h.Key, chat.Message{Kind: chat.KindApproval, Approval: card})
	require.NoError(t, err)
	got, ok := h.Observed(ref)
	require.True(t, ok)
	assert.Contains(t, got, "Create a Jira issue titled Outage report")

	b, hasButtons := h.Platform.(chat.Buttons)
	buttons := hasButtons && b.ButtonsSupported()
	if h.ObservedButtons != nil {
		if buttons {
			assert.Positive(t, h.ObservedButtons(ref), "a pending card has buttons")
		} else {
			assert.Zero(t, h.ObservedButtons(ref), "no buttons without the Buttons ability")
		}
	}

	if h.ButtonActions != nil && buttons {
		var got []chat.Action
		for _, act := range h.ButtonActions(ref) {
			got = append(got, chat.Action{Kind: act.Kind, Target: act.Target})
		}
		assert.ElementsMatch(t, []chat.Action{{Kind: chat.Approve, Target: card.ID}, {Kind: chat.Deny, Target: card.ID}}, got,
			"a click on each button of a pending card decodes to its kind and the approval id")
	}

	decided := *card
	decided.State = chat.ApprovalApproved
	decided.DecidedBy = "Ana Conformance"
	require.NoError(t, h.Platform.Edit(ctx, ref, chat.Message{Kind: chat.KindApproval, Approval: &decided, Final: true}))
	got, ok = h.Observed(ref)
	require.True(t, ok)
	assert.Contains(t, got, "Ana Conformance", "the decided card names who decided")
	if h.ObservedButtons != nil {
		assert.Zero(t, h.ObservedButtons(ref), "a decided card has no buttons")
	}
	if h.ButtonActions != nil {
		assert.Empty(t, h.ButtonActions(ref), "a decided card has nothing to click")
	}
}

func confRateLimit(t *testing.T, h Harness) {
	require.NotNil(t, h.Inject429, "harness Inject429")
	ctx := confContext(t)
	ref, err := h.Platform.Post(ctx, h.Key, chat.Message{Kind: chat.KindStatus, Status: "Working"})
	require.NoError(t, err)

	h.Inject429(3 * time.Second)
	err = h.Platform.Edit(ctx, ref, chat.Message{Kind: chat.KindStatus, Status: "Still working"})
	var rl *chat.RateLimitError
	require.True(t, errors.As(err, &rl), "edit 429 must be a *chat.RateLimitError, got %v", err)
	assert.Positive(t, rl.RetryAfter, "RetryAfter")

	h.Inject429(2 * time.Second)
	_, err = h.Platform.Post(ctx, h.Key, chat.Message{Kind: chat.KindAnswer, Body: "hello"})
	require.True(t, errors.As(err, &rl), "post 429 must be a *chat.RateLimitError, got %v", err)
	assert.Positive(t, rl.RetryAfter, "RetryAfter")
}

func confMentions(t *testing.T, h Harness) {
	ctx := confContext(t)
	own := h.Pings
	if len(own) == 0 {
		own = pings
	}
	body := "Heads up " + strings.Join(pings, " ") + " done"
	ref, err := h.Platform.Post(ctx, h.Key, chat.Message{Kind: chat.KindAnswer, Body: body, Final: true})
	require.NoError(t, err)
	got, ok := h.Observed(ref)
	require.True(t, ok)
	assert.Contains(t, got, "Heads up")
	for _, p := range own {
		assert.NotContains(t, got, p, "mention %q must not reach the server live", p)
	}

	ref2, err := h.Platform.Post(ctx, h.Key, chat.Message{Kind: chat.KindStatus, Status: "Working"})
	require.NoError(t, err)
	require.NoError(t, h.Platform.Edit(ctx, ref2, chat.Message{Kind: chat.KindAnswer, Body: body, Final: true}))
	got, ok = h.Observed(ref2)
	require.True(t, ok)
	for _, p := range own {
		assert.NotContains(t, got, p, "mention %q must not reach the server live in an edit", p)
	}
}

func confEphemeral(t *testing.T, h Harness) {
	e, ok := h.Platform.(chat.Ephemeral)
	if !ok {
		t.Skip("platform does not implement chat.Ephemeral")
	}
	ctx := confContext(t)
	require.NoError(t, e.Ephemeral(ctx, h.Key, "U0CLICKER", "You are not allowed to approve this"))
	if h.ObservedEphemeral != nil {
		assert.Contains(t, h.ObservedEphemeral("U0CLICKER"), "You are not allowed to approve this")
	}
}

func confStatus(t *testing.T, h Harness) {
	s, ok := h.Platform.(chat.StatusSetter)
	if !ok {
		t.Skip("platform does not implement chat.StatusSetter")
	}
	ctx := confContext(t)
	require.NoError(t, s.SetStatus(ctx, h.Key, "is thinking..."))
	require.NoError(t, s.SetStatus(ctx, h.Key, ""), "an empty status clears it")
}
