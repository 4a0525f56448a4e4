package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
)

// logLines returns the JSON log lines of logs whose msg is msg.
func logLines(t *testing.T, logs *bridgetest.SyncBuffer, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func TestOneLogLinePerRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bridgetest.SyncBuffer
		logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		agent := newFakeAgent(func(streamCall) []step {
			return []step{
				{Type: promptev.EventProcessing, Out: "a"},
				{Delay: 2 * time.Second, Type: promptev.EventProcessing, Out: "b"},
				{Delay: 3 * time.Second, Type: promptev.EventDone, Out: "ok"},
			}
		})
		r := startRig(t, agent, withLogger(logger))
		defer r.stop()
		r.send(engKey("1"), "U1", "go")
		time.Sleep(5 * time.Second)
		settle()
		lines := logLines(t, &logs, "run finished")
		require.Len(t, lines, 1)
		l := lines[0]
		assert.Equal(t, "slack/T1/C1/1", l["conversation"])
		assert.Equal(t, "agent-1", l["agent"])
		assert.Equal(t, "done", l["outcome"])
		assert.EqualValues(t, 3, l["events"])
		assert.EqualValues(t, 2, l["edits"])
		assert.EqualValues(t, 5*time.Second, l["duration"])
		assert.Equal(t, "bridge", l["component"])
	})
}

func TestPlaceholderPostFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		agent := newFakeAgent(replyWith("ok"))
		r := startRig(t, agent, withPlatform(p))
		defer r.stop()
		p.FailNext(errors.New("channel_not_found"))
		r.send(engKey("1"), "U1", "go")
		settle()
		assert.Empty(t, r.texts(engKey("1")))
		assert.Empty(t, agent.Streams(), "no agent run without a placeholder")
		assert.Equal(t, 1, r.metrics.count("run:error"))

		// The conversation is free again.
		r.send(engKey("1"), "U1", "again")
		settle()
		assert.Equal(t, []string{"ok"}, r.texts(engKey("1")))
	})
}

func TestApprovalCardPostFailureEndsInNotice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		r := startRig(t, newFakeAgent(approvalScript), withPlatform(p))
		defer r.stop()
		key := engKey("1")
		r.send(key, "U1", "clean up")
		time.Sleep(1500 * time.Millisecond) // after the status edit, before the card
		synctest.Wait()
		p.FailNext(errors.New("invalid_blocks"))
		time.Sleep(2 * time.Second)
		settle()
		texts := r.texts(key)
		require.Len(t, texts, 1)
		assert.Contains(t, texts[0], "could not be shown")
	})
}

func TestTriggerSessionGoneRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := &goneTrigger{}
		r := startRig(t, agent, withConfig(func(c *bridge.Config) { c.Routes.Default.Mode = chat.ModeTrigger }))
		defer r.stop()
		key := engKey("1")
		r.send(key, "U1", "a")
		settle()
		r.send(key, "U1", "b")
		settle()
		texts := r.texts(key)
		require.Len(t, texts, 3)
		assert.Equal(t, "answer 1", texts[0])
		assert.Equal(t, "answer 3", texts[1], "retried without the session id")
		assert.Contains(t, texts[2], "started a new one")
		assert.Equal(t, []string{"", "s1", ""}, agent.sessions)
	})
}

// goneTrigger is an Agent whose trigger sessions are forgotten after one turn.
type goneTrigger struct {
	mu       sync.Mutex
	sessions []string
}

func (g *goneTrigger) Start(context.Context, string, promptev.StartOptions) (*promptev.AgentSession, error) {
	return nil, errors.New("not used")
}

func (g *goneTrigger) Stream(context.Context, string, string, string) (bridge.EventStream, error) {
	return nil, errors.New("not used")
}

func (g *goneTrigger) Trigger(_ context.Context, _, _ string, opts promptev.TriggerOptions) (*promptev.AgentResult, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sessions = append(g.sessions, opts.SessionID)
	if opts.SessionID != "" {
		return nil, &promptev.Error{StatusCode: 404, Message: "session not found"}
	}
	n := len(g.sessions)
	return &promptev.AgentResult{Response: "answer " + string(rune('0'+n)), SessionID: "s" + string(rune('0'+n))}, nil
}

// Messages handed over before Run starts wait for it (and for recovery).
func TestMessageBeforeRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		st := bridgetest.NewMemStore()
		b, err := bridge.New(bridge.Options{Config: testConfig(), Agent: newFakeAgent(replyWith("ok")), Store: st, Platforms: []chat.Platform{p}})
		require.NoError(t, err)
		require.NoError(t, b.HandleMessage(context.Background(), chat.InboundMessage{Key: engKey("1"), User: chat.User{ID: "U1"}, Text: "hi", MessageID: "1", Mentioned: true}))
		synctest.Wait()
		assert.Empty(t, p.Records())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- b.Run(ctx) }()
		settle()
		assert.Len(t, p.Messages(engKey("1")), 1)
		assert.Equal(t, "ok", p.Text(p.Messages(engKey("1"))[0].Ref))
		cancel()
		require.NoError(t, <-done)
	})
}

func TestNewRejectsBadOptions(t *testing.T) {
	p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
	good := bridge.Options{Config: testConfig(), Agent: newFakeAgent(replyWith("ok")), Store: bridgetest.NewMemStore(), Platforms: []chat.Platform{p}}
	tests := []struct {
		name string
		edit func(*bridge.Options)
		want string
	}{
		{"invalid config", func(o *bridge.Options) { o.Config.Routes.Default.Agent = "" }, "routes.default.agent"},
		{"no agent", func(o *bridge.Options) { o.Agent = nil }, "no agent"},
		{"no store", func(o *bridge.Options) { o.Store = nil }, "no store"},
		{"no platform", func(o *bridge.Options) { o.Platforms = nil }, "no platform"},
		{"duplicate platform", func(o *bridge.Options) { o.Platforms = []chat.Platform{p, p} }, "twice"},
		{"no size limit", func(o *bridge.Options) {
			o.Platforms = []chat.Platform{bridgetest.NewPlatform("x", chat.Limits{})}
		}, "size limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.edit(&o)
			_, err := bridge.New(o)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := bridge.New(good)
	assert.NoError(t, err)
}

func TestLogLinesHaveNoDuplicateKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bridgetest.SyncBuffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		p.Inject429(1, time.Second) // makes the outbox log too
		agent := newFakeAgent(func(streamCall) []step {
			return []step{
				{Type: promptev.EventProcessing, Out: "a"},
				{Delay: 2 * time.Second, Type: promptev.EventDone, Out: "ok"},
			}
		})
		r := startRig(t, agent, withLogger(logger), withPlatform(p))
		defer r.stop()
		r.send(engKey("1"), "U1", "go")
		settle()
		text := logs.String()
		require.NotEmpty(t, text)
		for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
			for _, key := range []string{" component=", " platform=", " conversation="} {
				assert.LessOrEqual(t, strings.Count(line, key), 1, "duplicate %q in %s", strings.TrimSpace(key), line)
			}
		}
	})
}

// TestRunFinishedLogLevel checks that a failed run is logged at ERROR (an
// operator grepping level=ERROR finds it) and a good one at INFO.
func TestRunFinishedLogLevel(t *testing.T) {
	tests := []struct {
		name    string
		last    step
		outcome string
		level   string
	}{
		{"done", step{Type: promptev.EventDone, Out: "ok"}, "done", "INFO"},
		{"agent error", step{Type: promptev.EventError, Out: "boom"}, "error", "ERROR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var logs bridgetest.SyncBuffer
				logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				agent := newFakeAgent(func(streamCall) []step { return []step{tc.last} })
				r := startRig(t, agent, withLogger(logger))
				defer r.stop()
				r.send(engKey("1"), "U1", "go")
				settle()
				lines := logLines(t, &logs, "run finished")
				require.Len(t, lines, 1)
				assert.Equal(t, tc.outcome, lines[0]["outcome"])
				assert.Equal(t, tc.level, lines[0]["level"])
			})
		})
	}
}
