package slack_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack"
	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

const (
	projectKey = "pk_test_slack_e2e"
	agentID    = "helpdesk"
)

// rig is the whole bridge (engine, in-memory store, real promptev client)
// with the Slack adapter pointed at slackfake and a fake Promptev API.
type rig struct {
	fake                 *slackfake.Server
	api                  *promptevtest.Server
	adapter              *slack.Adapter
	eventsURL, clicksURL string
}

func newRig(t testing.TB, agent promptevtest.Agent, edit func(*slack.Config)) *rig {
	t.Helper()
	return newRigWith(t, agent, edit, nil)
}

// newRigWith is newRig with wrap, when not nil, wrapping the bridge's agent
// (the real promptev client) to control its streams; wrap gets the rig's
// fake Slack.
func newRigWith(t testing.TB, agent promptevtest.Agent, edit func(*slack.Config),
	wrap func(*slackfake.Server, bridge.Agent) bridge.Agent) *rig {
	t.Helper()
	return newRigFake(t, nil, agent, edit, wrap)
}

// newRigFake is newRigWith with options for the fake Slack.
func newRigFake(t testing.TB, fakeOpts []slackfake.Option, agent promptevtest.Agent, edit func(*slack.Config),
	wrap func(*slackfake.Server, bridge.Agent) bridge.Agent) *rig {
	t.Helper()
	fake := slackfake.New(t, fakeOpts...)
	api := promptevtest.NewServer(projectKey)
	t.Cleanup(api.Close)
	api.AddAgent(agentID, agent)

	scfg := slack.DefaultConfig()
	scfg.Enabled = true
	scfg.BotToken, scfg.AppToken, scfg.SigningSecret = slackfake.BotToken, slackfake.AppToken, slackfake.SigningSecret
	scfg.APIURL = fake.APIURL()
	scfg.Listen = "127.0.0.1:0"
	if edit != nil {
		edit(&scfg)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	if _, ok := t.(*testing.B); ok {
		log = slog.New(slog.DiscardHandler) // a benchmark's output is its figures
	}
	adapter, err := slack.New(scfg, log)
	require.NoError(t, err)

	client, err := promptev.New(projectKey, promptev.WithBaseURL(api.URL))
	require.NoError(t, err)
	bcfg := bridge.DefaultConfig()
	bcfg.Routes.Default.Agent = agentID
	var ag bridge.Agent = bridge.ClientAgent(client)
	if wrap != nil {
		ag = wrap(fake, ag)
	}
	b, err := bridge.New(bridge.Options{
		Config: bcfg, Agent: ag, Store: bridgetest.NewMemStore(),
		Platforms: []chat.Platform{adapter}, Logger: log,
	})
	require.NoError(t, err)

	bridgetest.Serve(t, b, adapter)

	r := &rig{fake: fake, api: api, adapter: adapter}
	if scfg.Mode == slack.ModeHTTP {
		deadline := time.NewTimer(10 * time.Second)
		defer deadline.Stop()
		select {
		case <-adapter.Listening():
		case <-deadline.C:
			t.Fatal("http listener did not start")
		}
		base := "http://" + adapter.HTTPAddr().String()
		r.eventsURL, r.clicksURL = base+scfg.EventsPath, base+scfg.InteractionsPath
	} else {
		fake.Await(t, "socket connection", fake.Connected)
	}
	return r
}

// streams counts the agent stream requests the fake API received.
func (r *rig) streams() int {
	n := 0
	for _, req := range r.api.Requests() {
		if strings.HasSuffix(req.Path, "/stream") {
			n++
		}
	}
	return n
}

// threadShows waits until a bot message in the thread shows text.
func (r *rig) threadShows(t *testing.T, channel, thread, text string) slackfake.Message {
	t.Helper()
	var found slackfake.Message
	r.fake.Await(t, fmt.Sprintf("%q in thread %s", text, thread), func() bool {
		for _, m := range r.fake.Thread(channel, thread) {
			if strings.Contains(m.BlockText(), text) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// assertNoRejectedCalls checks that Slack (the fake) rejected nothing but
// injected 429s: no msg_too_long, no invalid_blocks.
func (r *rig) assertNoRejectedCalls(t testing.TB) {
	t.Helper()
	for _, c := range r.fake.Calls() {
		if c.Error != "" && c.Error != "ratelimited" {
			t.Errorf("%s on %s %s was rejected: %s", c.Method, c.Channel, c.TS, c.Error)
		}
	}
	// Slack asks for new block ids on every update of a message.
	for _, m := range r.fake.Messages("") {
		if m.ReusedBlockIDs > 0 {
			t.Errorf("message %s %s: %d block ids sent again by an update", m.Channel, m.TS, m.ReusedBlockIDs)
		}
	}
}

func TestE2EMentionApprovalFlow(t *testing.T) {
	r := newRig(t, promptevtest.Agent{
		Script: []promptevtest.Event{
			{Type: promptevtest.TypeThoughts, Output: "The user wants a ticket."},
			{Type: promptevtest.TypeProcessing, Output: "Searching Jira..."},
			{Type: promptevtest.TypeApprovalRequired, Output: "Create issue 'Printer on fire' in PROJ?",
				Tool: "jira.create_issue", Arguments: map[string]any{"title": "Printer on fire"}, Delay: 1500 * time.Millisecond},
		},
		OnApprove: []promptevtest.Event{
			{Type: promptevtest.TypeProcessing, Output: "Creating issue..."},
			{Type: promptevtest.TypeDone, Output: "Created **PROJ-42**: Printer on fire."},
		},
	}, nil)

	ev := r.fake.Mention("C1", "U1", "please file a ticket about the printer")
	_, err := r.fake.SendEvent(ev, 0)
	require.NoError(t, err)

	// Placeholder in the thread rooted at the mention, then live status edits.
	r.fake.Await(t, "placeholder", func() bool { return len(r.fake.Thread("C1", ev.TS)) > 0 })
	placeholder := r.fake.Thread("C1", ev.TS)[0]
	r.fake.Await(t, "status edit", func() bool {
		for _, c := range r.fake.Calls("chat.update") {
			if c.TS == placeholder.TS && strings.Contains(string(c.Blocks), "Searching Jira...") {
				return true
			}
		}
		return false
	})

	// The approval card has both buttons carrying only the approval id.
	var card slackfake.Message
	r.fake.Await(t, "approval card", func() bool {
		for _, m := range r.fake.Thread("C1", ev.TS) {
			if m.ButtonValue(slack.ActionApprove) != "" {
				card = m
				return true
			}
		}
		return false
	})
	id := card.ButtonValue(slack.ActionApprove)
	assert.Equal(t, id, card.ButtonValue(slack.ActionDeny))
	assert.Contains(t, card.BlockText(), "Printer on fire")
	assert.Contains(t, card.BlockText(), "jira.create_issue")

	// Someone else may not decide: an ephemeral notice, the card untouched.
	_, err = r.fake.SendClick(slackfake.ClickOn(card, "U2", slack.ActionApprove))
	require.NoError(t, err)
	r.fake.Await(t, "not-allowed notice", func() bool {
		for _, c := range r.fake.Calls("chat.postEphemeral") {
			if c.User == "U2" && c.Channel == "C1" {
				return true
			}
		}
		return false
	})
	still, ok := r.fake.Message("C1", card.TS)
	require.True(t, ok)
	assert.Equal(t, id, still.ButtonValue(slack.ActionApprove), "card unchanged")

	// The requester approves: the card says so and the agent continues to the answer.
	_, err = r.fake.SendClick(slackfake.ClickOn(card, "U1", slack.ActionApprove))
	require.NoError(t, err)
	r.threadShows(t, "C1", ev.TS, "PROJ-42")
	r.fake.Await(t, "decided card", func() bool {
		m, _ := r.fake.Message("C1", card.TS)
		return m.ButtonValue(slack.ActionApprove) == "" && strings.Contains(m.BlockText(), "Approved")
	})

	// A second click on the decided card is answered, not applied twice.
	_, err = r.fake.SendClick(slackfake.ClickOn(card, "U1", slack.ActionApprove))
	require.NoError(t, err)
	r.fake.Await(t, "already-decided notice", func() bool {
		n := 0
		for _, c := range r.fake.Calls("chat.postEphemeral") {
			if c.User == "U1" {
				n++
			}
		}
		return n == 1
	})
	assert.Equal(t, 2, r.streams(), "the run and its one continuation")
	r.assertNoRejectedCalls(t)
	for _, c := range r.fake.Calls("chat.postMessage") {
		assert.Equal(t, "false", c.UnfurlLinks)
	}
}

func TestE2ERetryStormRunsOnce(t *testing.T) {
	// One connection: the events arrive in order (see the sentinel below).
	r := newRig(t, promptevtest.Agent{Script: []promptevtest.Event{{Type: promptevtest.TypeDone, Output: "Answer to {{query}}"}}},
		func(c *slack.Config) { c.SocketConnections = 1 })
	ev := r.fake.Mention("C1", "U1", "storm")
	var envs []string
	for retry := range 4 {
		env, err := r.fake.SendEvent(ev, retry)
		require.NoError(t, err)
		envs = append(envs, env)
	}
	env, err := r.fake.SendEvent(r.fake.Twin(ev), 0)
	require.NoError(t, err)
	envs = append(envs, env)

	r.threadShows(t, "C1", ev.TS, "Answer to storm")
	r.fake.Await(t, "every delivery acked", func() bool {
		for _, e := range envs {
			if !r.fake.Acked(e) {
				return false
			}
		}
		return true
	})
	// The adapter hands events over in order: once a later event has run,
	// every delivery of the storm has been seen by the bridge.
	sentinel := r.fake.Mention("C2", "U1", "sentinel")
	_, err = r.fake.SendEvent(sentinel, 0)
	require.NoError(t, err)
	r.threadShows(t, "C2", sentinel.TS, "Answer to sentinel")

	assert.Equal(t, 2, r.streams(), "one run for the storm, one for the sentinel")
	assert.Len(t, r.fake.Thread("C1", ev.TS), 1, "one reply in the thread")
}

func TestE2EBadSignatureNoRun(t *testing.T) {
	r := newRig(t, promptevtest.Agent{}, func(c *slack.Config) { c.Mode = slack.ModeHTTP })
	bad := r.fake.Mention("C1", "U1", "forged")
	for _, opts := range []slackfake.PostOptions{
		{Secret: "forged-secret"},
		{At: time.Now().Add(-10 * time.Minute)},
		{Unsigned: true},
	} {
		resp, err := r.fake.PostEvent(r.eventsURL, bad, opts)
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.NoError(t, resp.Body.Close())
	}
	good := r.fake.Mention("C2", "U1", "genuine")
	resp, err := r.fake.PostEvent(r.eventsURL, good, slackfake.PostOptions{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, resp.Body.Close())
	r.threadShows(t, "C2", good.TS, "You said: genuine")

	assert.Equal(t, 1, r.streams())
	assert.Empty(t, r.fake.Messages("C1"), "nothing was posted for the forged requests")
}

// gatedAgent wraps a bridge.Agent so that every stream holds its terminal
// event (done, error, approval_required) until wait returns: a test can
// order the agent's answer after a state of the fakes, without sleeping.
type gatedAgent struct {
	bridge.Agent
	wait func(ctx context.Context)
}

// Stream opens the wrapped stream and gates its terminal event.
func (g gatedAgent) Stream(ctx context.Context, agentID, sessionToken, query string) (bridge.EventStream, error) {
	st, err := g.Agent.Stream(ctx, agentID, sessionToken, query)
	if err != nil {
		return nil, err
	}
	return &gatedStream{EventStream: st, ctx: ctx, wait: g.wait}, nil
}

// gatedStream is a stream of gatedAgent.
type gatedStream struct {
	bridge.EventStream
	ctx  context.Context
	wait func(ctx context.Context)
}

// Next returns the wrapped stream's next event, once wait has returned when
// that event is terminal.
func (s *gatedStream) Next() (promptev.AgentEvent, error) {
	ev, err := s.EventStream.Next()
	if err == nil && ev.Terminal() {
		s.wait(s.ctx)
	}
	return ev, err
}

// rateLimitedUpdate returns the first chat.update the fake answered 429.
func rateLimitedUpdate(fake *slackfake.Server) (slackfake.Call, bool) {
	for _, c := range fake.Calls("chat.update") {
		if c.Error == "ratelimited" {
			return c, true
		}
	}
	return slackfake.Call{}, false
}

// TestE2ERateLimitedUpdateStillDeliversFinal makes Slack answer the live
// status edit of the placeholder with a 429 and only then lets the agent send
// done. The bridge must honour the pause (no chat.update until Retry-After
// has passed, checked against the fake's call times) and still deliver the
// answer, leaving no message in the working (hourglass) status:
//   - Retry-After 1 s ends well within the bridge's 2 s final deadline: the
//     final is an edit, so the placeholder ends holding the answer.
//   - Retry-After 3 s outlasts the final deadline: the answer is posted as a
//     new reply and the placeholder is tidied, after the pause, to the
//     "✓ 1 step" summary. Slack's 1 s edit interval is far shorter than this
//     pause, so a bridge that ignored Retry-After would edit inside it.
func TestE2ERateLimitedUpdateStillDeliversFinal(t *testing.T) {
	tests := []struct {
		name          string
		retryAfter    int
		inPlaceholder bool
	}{
		{name: "pause within the final deadline: edited in place", retryAfter: 1, inPlaceholder: true},
		{name: "pause past the final deadline: posted, placeholder tidied", retryAfter: 3, inPlaceholder: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testRateLimitedLiveEdit(t, tt.retryAfter, tt.inPlaceholder)
		})
	}
}

func testRateLimitedLiveEdit(t *testing.T, retryAfter int, wantInPlaceholder bool) {
	const (
		status  = "Working on it..."
		answer  = "The final answer."
		summary = "✓ 1 step"
	)
	r := newRigWith(t, promptevtest.Agent{Script: []promptevtest.Event{
		{Type: promptevtest.TypeProcessing, Output: status},
		{Type: promptevtest.TypeDone, Output: answer},
	}}, nil, func(fake *slackfake.Server, a bridge.Agent) bridge.Agent {
		return gatedAgent{Agent: a, wait: func(ctx context.Context) {
			// done goes to the bridge only once the 429 was answered (a
			// 10-second backstop keeps a broken bridge from hanging the test).
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_ = fake.WaitFor(wctx, func() bool { _, ok := rateLimitedUpdate(fake); return ok })
		}}
	})
	fake := r.fake
	fake.RateLimit("chat.update", 1, retryAfter)

	ev := fake.Mention("C1", "U1", "hi")
	_, err := fake.SendEvent(ev, 0)
	require.NoError(t, err)
	fake.Await(t, "placeholder", func() bool { return len(fake.Thread("C1", ev.TS)) > 0 })
	placeholder := fake.Thread("C1", ev.TS)[0]

	// Settled: the answer in the placeholder, or in a later reply with the
	// placeholder tidied to the summary.
	fake.Await(t, "final answer delivered and placeholder settled", func() bool {
		p, ok := fake.Message("C1", placeholder.TS)
		if !ok {
			return false
		}
		if strings.Contains(p.BlockText(), answer) {
			return true
		}
		for _, m := range fake.Thread("C1", ev.TS)[1:] {
			if strings.Contains(m.BlockText(), answer) {
				return strings.Contains(p.BlockText(), summary)
			}
		}
		return false
	})

	// The one 429 hit a live status edit of the placeholder.
	limited, ok := rateLimitedUpdate(fake)
	require.True(t, ok, "a chat.update was answered 429")
	assert.Equal(t, placeholder.TS, limited.TS, "the 429 hit an edit of the placeholder")
	assert.Contains(t, string(limited.Blocks), status, "the 429 hit a live status edit")
	assert.Equal(t, time.Duration(retryAfter)*time.Second, limited.RetryAfter)
	n429 := 0
	for _, c := range fake.Calls("chat.update") {
		if c.Error == "ratelimited" {
			n429++
		}
	}
	assert.Equal(t, 1, n429, "only the injected 429")

	// No chat.update during the Retry-After pause; the answer was written
	// after the 429 (done was held until then).
	resume := limited.At.Add(limited.RetryAfter)
	answered := false
	for _, c := range fake.Calls("chat.update", "chat.postMessage") {
		if c.Method == "chat.update" && c.At.After(limited.At) {
			assert.False(t, c.At.Before(resume), "chat.update of %s sent %v after the 429, inside its %v Retry-After",
				c.TS, c.At.Sub(limited.At), limited.RetryAfter)
		}
		if c.Error == "" && strings.Contains(string(c.Blocks), answer) {
			answered = true
			assert.True(t, c.At.After(limited.At), "the answer was written after the 429")
		}
	}
	assert.True(t, answered, "a successful call carried the answer")

	final := fake.Thread("C1", ev.TS)
	if wantInPlaceholder {
		require.Len(t, final, 1, "the answer replaced the placeholder; nothing else was posted")
		assert.Contains(t, final[0].BlockText(), answer)
	} else {
		require.Len(t, final, 2, "the tidied placeholder and the answer")
		assert.Contains(t, final[0].BlockText(), summary)
		assert.NotContains(t, final[0].BlockText(), answer)
		assert.Contains(t, final[1].BlockText(), answer)
	}
	for _, m := range final {
		assert.NotContains(t, string(m.Blocks), "hourglass", "message %s still shows the working status", m.TS)
		assert.NotContains(t, m.BlockText(), status, "message %s still shows the live status", m.TS)
	}
	r.assertNoRejectedCalls(t)
}

// longAnswer is about 30,000 characters of Markdown with code blocks.
func longAnswer() (string, []string) {
	var b strings.Builder
	var codeLines []string
	for i := 0; utf8.RuneCountInString(b.String()) < 30500; i++ {
		fmt.Fprintf(&b, "## Section %d\n\nSome prose about step %d, with <angle> & ampersand text that goes on for a while to fill the paragraph. ", i, i)
		b.WriteString(strings.Repeat("More words here. ", 12))
		b.WriteString("\n\n```go\n")
		for j := range 25 {
			line := fmt.Sprintf("fmt.Println(\"block %d line %d ünïcødé\")", i, j)
			codeLines = append(codeLines, line)
			b.WriteString(line + "\n")
		}
		b.WriteString("```\n\n")
	}
	return b.String(), codeLines
}

func TestE2ELongAnswerSplitWithinLimits(t *testing.T) {
	answer, codeLines := longAnswer()
	require.GreaterOrEqual(t, utf8.RuneCountInString(answer), 30000)
	r := newRig(t, promptevtest.Agent{Script: []promptevtest.Event{{Type: promptevtest.TypeDone, Output: answer}}},
		func(c *slack.Config) { c.PostPerSec, c.PostBurst = 20, 20 })
	ev := r.fake.Mention("C1", "U1", "write a lot")
	_, err := r.fake.SendEvent(ev, 0)
	require.NoError(t, err)
	last := codeLines[len(codeLines)-1]
	r.threadShows(t, "C1", ev.TS, last)

	msgs := r.fake.Thread("C1", ev.TS)
	require.Greater(t, len(msgs), 7, "30,000 characters need at least 8 messages")
	var all strings.Builder
	for _, m := range msgs {
		text := m.BlockText()
		assert.LessOrEqual(t, utf8.RuneCountInString(m.Text), 4000, "text fallback")
		assert.LessOrEqual(t, utf8.RuneCountInString(text), 12000, "markdown block")
		assert.True(t, utf8.ValidString(text))
		fences := 0
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				fences++
			}
		}
		assert.Zero(t, fences%2, "every code fence is closed within its message:\n%s", text)
		all.WriteString(text + "\n")
	}
	for _, line := range codeLines {
		assert.Contains(t, all.String(), line)
	}
	r.assertNoRejectedCalls(t)
}

// TestE2ELongAnswerNo429AtSlackLimits posts a 30,000-character answer (nine
// messages) with the default budgets to a fake that enforces Slack's
// documented limits: the budgets' margin leaves no room for a 429.
func TestE2ELongAnswerNo429AtSlackLimits(t *testing.T) {
	answer, codeLines := longAnswer()
	r := newRigFake(t, []slackfake.Option{slackfake.WithRateLimits()},
		promptevtest.Agent{Script: []promptevtest.Event{{Type: promptevtest.TypeDone, Output: answer}}}, nil, nil)
	ev := r.fake.Mention("C1", "U1", "write a lot")
	_, err := r.fake.SendEvent(ev, 0)
	require.NoError(t, err)
	// Nine messages at one post every 1.25 s: longer than threadShows waits.
	last := codeLines[len(codeLines)-1]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, r.fake.WaitFor(ctx, func() bool {
		for _, m := range r.fake.Thread("C1", ev.TS) {
			if strings.Contains(m.BlockText(), last) {
				return true
			}
		}
		return false
	}), "the last part of the answer")
	require.GreaterOrEqual(t, len(r.fake.Thread("C1", ev.TS)), 8)
	for _, c := range r.fake.Calls() {
		assert.Empty(t, c.Error, "%s at %s", c.Method, c.At.Format("15:04:05.000"))
	}
}

func TestE2EFatalAuthStopsAdapter(t *testing.T) {
	fake := slackfake.New(t)
	fake.FailAuth("apps.connections.open", "invalid_auth")
	cfg := slack.DefaultConfig()
	cfg.Enabled = true
	cfg.BotToken, cfg.AppToken, cfg.APIURL = slackfake.BotToken, slackfake.AppToken, fake.APIURL()
	a, err := slack.New(cfg, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = a.Run(ctx, bridgetestHandler{})
	require.True(t, errors.Is(err, slack.ErrAuth), "got %v", err)
}

// bridgetestHandler is a do-nothing handler.
type bridgetestHandler struct{}

func (bridgetestHandler) HandleMessage(context.Context, chat.InboundMessage) error { return nil }
func (bridgetestHandler) HandleAction(context.Context, chat.Action) (chat.ActionResult, error) {
	return chat.ActionResult{}, nil
}
