package bridge_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/store/bolt"
)

// bboltProcess is one "process" of the bridge on a bbolt file: its own store
// handle and Bridge, on a platform that outlives it.
type bboltProcess struct {
	st     *bolt.Store
	b      *bridge.Bridge
	cancel context.CancelFunc
	done   chan error
}

func startProcess(t *testing.T, path string, p *bridgetest.Platform, agent bridge.Agent) *bboltProcess {
	t.Helper()
	st, err := bolt.Open(path, bolt.Options{NoSync: true})
	require.NoError(t, err)
	b, err := bridge.New(bridge.Options{Config: testConfig(), Agent: agent, Store: st, Platforms: []chat.Platform{p}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	proc := &bboltProcess{st: st, b: b, cancel: cancel, done: make(chan error, 1)}
	go func() { proc.done <- b.Run(ctx) }()
	t.Cleanup(proc.stop(t))
	return proc
}

// stop returns a function that ends Run and closes the store (once).
func (proc *bboltProcess) stop(t *testing.T) func() {
	return func() {
		if proc.cancel == nil {
			return
		}
		proc.cancel()
		proc.cancel = nil
		require.NoError(t, <-proc.done)
		require.NoError(t, proc.st.Close())
	}
}

func waitText(t *testing.T, p *bridgetest.Platform, key chat.ConversationKey, i int, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := p.WaitFor(ctx, func() bool {
		msgs := p.Messages(key)
		return len(msgs) > i && strings.Contains(p.Text(msgs[i].Ref), want)
	})
	require.NoError(t, err, "message %d of %s never showed %q", i, key, want)
}

// The crash scenario on the real bbolt store: the in-flight record survives
// in the file and the next process finalises the placeholder.
func TestBboltCrashBetweenPlaceholderAndFinal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bridge.db")
	p := bridgetest.NewPlatform("slack", fastLimits())
	key := engKey("1")

	first := startProcess(t, path, p, newFakeAgent(stall))
	require.NoError(t, first.b.HandleMessage(t.Context(), chat.InboundMessage{Key: key, User: chat.User{ID: "U1"}, Text: "long", MessageID: "1", Mentioned: true}))
	waitText(t, p, key, 0, "Working")
	p.SetLatency(time.Hour) // the platform stops answering: nothing is finalised on the way down
	first.stop(t)()
	p.SetLatency(0)
	assert.Contains(t, p.Text(p.Messages(key)[0].Ref), "Working")

	second := startProcess(t, path, p, newFakeAgent(replyWith("ok")))
	waitText(t, p, key, 0, "interrupted — send your message again")
	second.stop(t)() // Run returns after recovery has removed the record

	third := startProcess(t, path, p, newFakeAgent(replyWith("ok")))
	runs, err := third.st.ListRuns(t.Context())
	require.NoError(t, err)
	assert.Empty(t, runs, "the in-flight record was removed from the file")
	// The conversation's session survived too: a follow-up streams on it.
	require.NoError(t, third.b.HandleMessage(t.Context(), chat.InboundMessage{Key: key, User: chat.User{ID: "U1"}, Text: "again", MessageID: "2"}))
	waitText(t, p, key, 1, "ok")
}

// approvalBeforeRestart runs one process on path until key shows a pending
// approval card, and stops it. It returns the agent (which answers "approve"
// with "Done after approval.") and the card as posted.
func approvalBeforeRestart(t *testing.T, path string, p *bridgetest.Platform, key chat.ConversationKey) (*fakeAgent, bridgetest.Posted) {
	t.Helper()
	agent := newFakeAgent(func(c streamCall) []step {
		if c.Query == "approve" {
			return []step{{Type: promptev.EventDone, Out: "Done after approval."}}
		}
		return []step{{Type: promptev.EventApprovalRequired, Out: "Delete it?", Tool: "rm"}}
	})
	first := startProcess(t, path, p, agent)
	require.NoError(t, first.b.HandleMessage(t.Context(), chat.InboundMessage{Key: key, User: chat.User{ID: "U1"}, Text: "delete", MessageID: "1", Mentioned: true}))
	waitText(t, p, key, 1, "Delete it?")
	waitText(t, p, key, 0, "Waiting for approval")
	card := p.Messages(key)[1]
	require.NoError(t, first.b.Shutdown(t.Context()))
	first.stop(t)()
	return agent, card
}

// Approval buttons keep working after a restart on the real bbolt store.
func TestBboltApprovalAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bridge.db")
	p := bridgetest.NewPlatform("slack", fastLimits())
	key := engKey("1")
	agent, card := approvalBeforeRestart(t, path, p, key)
	id := card.Message.Approval.ID

	second := startProcess(t, path, p, agent)
	res, err := second.b.HandleAction(t.Context(), chat.Action{Platform: "slack", Kind: chat.Approve, Target: id, User: chat.User{ID: "U1", Name: "Ana"}})
	require.NoError(t, err)
	assert.True(t, res.Accepted)
	waitText(t, p, key, 1, "Approved by Ana")
	waitText(t, p, key, 2, "Done after approval.")
	assert.Equal(t, streamCall{"agent-1", "tok-1", "approve"}, agent.Streams()[1])
}

// A process that stopped between posting an approval card and recording it
// leaves a pending approval with no card ref. After the restart, the click
// that names its card closes that card (the decision, no buttons) and the
// agent is answered once; a second click changes nothing.
func TestBboltApprovalCardNotRecordedBeforeRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bridge.db")
	p := bridgetest.NewPlatform("slack", fastLimits())
	key := engKey("1")
	agent, posted := approvalBeforeRestart(t, path, p, key)
	card, id := posted.Ref, posted.Message.Approval.ID

	// The file as the crash left it: the approval without its card.
	st, err := bolt.Open(path, bolt.Options{NoSync: true})
	require.NoError(t, err)
	a, err := st.GetApproval(t.Context(), id)
	require.NoError(t, err)
	a.Card = chat.MessageRef{}
	require.NoError(t, st.PutApproval(t.Context(), a))
	require.NoError(t, st.Close())

	second := startProcess(t, path, p, agent)
	click := chat.Action{Platform: "slack", Kind: chat.Approve, Target: id, User: chat.User{ID: "U1", Name: "Ana"},
		Card: chat.MessageRef{Key: key, ID: card.ID}}
	res, err := second.b.HandleAction(t.Context(), click)
	require.NoError(t, err)
	assert.True(t, res.Accepted)
	waitText(t, p, key, 1, "Approved by Ana")
	waitText(t, p, key, 2, "Done after approval.")
	assert.Zero(t, p.ButtonCount(card), "the decided card has no buttons")
	assert.Equal(t, 1, cardEdits(p, card))

	res, err = second.b.HandleAction(t.Context(), click)
	require.NoError(t, err)
	assert.Equal(t, chat.ActionResult{Notice: "Already approved by Ana"}, res)
	second.stop(t)()
	assert.Equal(t, 1, cardEdits(p, card), "the second click edits nothing")
	assert.Len(t, agent.Streams(), 2, "the agent is answered once")
}

// The app_mention/message twin on the real bbolt store: one run, the twin
// and the retries dropped, and the marks survive a restart.
func TestBboltDedupeTwin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bridge.db")
	p := bridgetest.NewPlatform("slack", fastLimits())
	key := engKey("10.1")
	agent := newFakeAgent(replyWith("ok"))
	mention := chat.InboundMessage{Key: key, User: chat.User{ID: "U1"}, Text: "hi", MessageID: "10.1", EventID: "Ev1", Mentioned: true}
	twin := mention
	twin.EventID, twin.Mentioned = "Ev2", false

	first := startProcess(t, path, p, agent)
	require.NoError(t, first.b.HandleMessage(t.Context(), mention))
	require.NoError(t, first.b.HandleMessage(t.Context(), twin))
	waitText(t, p, key, 0, "ok")
	first.stop(t)()

	second := startProcess(t, path, p, agent)
	for _, m := range []chat.InboundMessage{twin, mention} {
		require.NoError(t, second.b.HandleMessage(t.Context(), m), "a retry after the restart")
	}
	for _, k := range [][]string{{"slack:event:Ev1"}, {"slack:event:Ev2"}, {"slack:msg:C1:10.1"}} {
		seen, err := second.st.SeenOrMark(t.Context(), k, time.Hour, time.Now())
		require.NoError(t, err)
		assert.True(t, seen, "%s marked", k)
	}
	// A new message runs after anything the retries could have queued.
	next := mention
	next.MessageID, next.EventID = "10.2", "Ev3"
	require.NoError(t, second.b.HandleMessage(t.Context(), next))
	waitText(t, p, key, 1, "ok")
	second.stop(t)()
	assert.Len(t, agent.Streams(), 2, "one run for the mention, its twin and their retries; one for the new message")
	assert.Len(t, p.Messages(key), 2)
}
