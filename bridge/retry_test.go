package bridge_test

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
)

// failOnce fails the first stream call with fail and answers every later
// one with "Answer to <query>".
func failOnce(fail []step) func(streamCall) []step {
	var calls atomic.Int32
	return func(c streamCall) []step {
		if calls.Add(1) == 1 {
			return fail
		}
		return []step{{Type: promptev.EventDone, Out: "Answer to " + c.Query}}
	}
}

// TestRetryAfterEachFailure: every failure notice carries Retry; the asker's
// press sends the failed query again in the same session, once; anyone
// else is refused.
func TestRetryAfterEachFailure(t *testing.T) {
	tests := []struct {
		name   string
		fail   []step
		notice string
	}{
		{"agent error", []step{{Type: promptev.EventError, Out: "tool crashed"}}, "The agent reported an error: tool crashed"},
		{"stream failure", []step{{Type: promptev.EventProcessing, Out: "Searching"}, {Err: io.ErrUnexpectedEOF}}, "Lost the connection to the agent"},
		{"stream ended early", []step{{Type: promptev.EventProcessing, Out: "Searching"}}, "ended unexpectedly"},
		{"idle timeout", []step{{Type: promptev.EventProcessing, Out: "Searching"}, {Err: fmt.Errorf("read: %w", promptev.ErrStreamIdle)}}, "stopped responding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				agent := newFakeAgent(failOnce(tt.fail))
				r := startRig(t, agent)
				defer r.stop()
				key := engKey("1")
				r.send(key, "U1", "why?")
				time.Sleep(2 * time.Minute)
				settle()
				refs := r.refs(key)
				require.Len(t, refs, 1)
				assert.Contains(t, r.p.Text(refs[0]), tt.notice)
				retry, ok := buttonOf(r.p, refs[0], chat.Retry)
				require.True(t, ok, "the failure notice carries Retry")
				assert.Equal(t, "Retry", r.p.Current(refs[0]).Buttons[0].Label)

				res := press(t, r, retry, "U2")
				assert.False(t, res.Accepted)
				assert.Equal(t, "Only the person who asked can retry this run.", res.Notice)
				settle()
				assert.Len(t, agent.Streams(), 1, "a refused press runs nothing")

				res = press(t, r, retry, "U1")
				require.True(t, res.Accepted)
				time.Sleep(10 * time.Second)
				settle()
				streams := agent.Streams()
				require.Len(t, streams, 2)
				assert.Equal(t, "why?", streams[1].Query, "the failed turn's query")
				assert.Equal(t, streams[0].Token, streams[1].Token, "in the same session")
				assert.Len(t, agent.Starts(), 1)
				texts := r.texts(key)
				require.Len(t, texts, 2)
				assert.Contains(t, texts[0], "Retried by name-U1")
				assert.Equal(t, "Answer to why?", texts[1])
				_, ok = buttonOf(r.p, refs[0], chat.Retry)
				assert.False(t, ok, "the notice lost its Retry")

				again := press(t, r, retry, "U1")
				assert.False(t, again.Accepted)
				assert.Equal(t, "Already retried by name-U1; nothing was changed.", again.Notice)
				settle()
				assert.Len(t, agent.Streams(), 2, "once per failure")
			})
		})
	}
}

// TestRetryNotOnSuccess: an answered run has no Retry, and a forged press
// on it is refused.
func TestRetryNotOnSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(replyWith("fine"))
		r := startRig(t, agent)
		defer r.stop()
		key := engKey("1")
		r.send(key, "U1", "why?")
		settle()
		ref := r.refs(key)[0]
		_, ok := buttonOf(r.p, ref, chat.Retry)
		assert.False(t, ok)
		rec := runRecords(t, r.store)
		require.Len(t, rec, 1)
		res := press(t, r, chat.Action{Platform: "slack", Kind: chat.Retry, Target: rec[0].ID}, "U1")
		assert.False(t, res.Accepted)
		assert.Equal(t, "This run did not fail; there is nothing to retry.", res.Notice)
		res = press(t, r, chat.Action{Platform: "slack", Kind: chat.Retry, Target: "nope"}, "U1")
		assert.Equal(t, "This run is unknown or no longer available; nothing was changed.", res.Notice)
	})
}

// runRecords returns the run records the store holds, found through the
// in-flight records' ids and the approvals (MemStore has no listing).
func runRecords(t *testing.T, s *bridgetest.MemStore) []chat.RunRecord {
	t.Helper()
	return s.RunRecords()
}

// TestRetryAfterRestart: a run cut by a stop of the process ends, at the
// next start, with the interrupted notice and Retry; the press works once,
// also in a third process.
func TestRetryAfterRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		agent := newFakeAgent(func(c streamCall) []step {
			if calls.Add(1) == 1 {
				return []step{{Type: promptev.EventProcessing, Out: "Searching"}, {Delay: time.Hour, Type: promptev.EventDone, Out: "late"}}
			}
			return []step{{Type: promptev.EventDone, Out: "Answer to " + c.Query}}
		})
		store := bridgetest.NewMemStore()
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		key := engKey("1")
		first := startRig(t, agent, withStore(store), withPlatform(p))
		first.send(key, "U1", "why?")
		time.Sleep(3 * time.Second)
		settle()
		first.stop() // a crash: no Shutdown, the in-flight record stays
		_, ok := buttonOf(p, first.refs(key)[0], chat.Retry)
		require.False(t, ok)

		second := startRig(t, agent, withStore(store), withPlatform(p))
		settle()
		ref := second.refs(key)[0]
		assert.Contains(t, p.Text(ref), "interrupted")
		retry, ok := buttonOf(p, ref, chat.Retry)
		require.True(t, ok, "the interrupted notice carries Retry")
		_, ok = buttonOf(p, ref, chat.Stop)
		assert.False(t, ok)
		second.stop()

		third := startRig(t, agent, withStore(store), withPlatform(p))
		defer third.stop()
		settle()
		require.True(t, press(t, third, retry, "U1").Accepted)
		time.Sleep(10 * time.Second)
		settle()
		streams := agent.Streams()
		require.Len(t, streams, 2)
		assert.Equal(t, "why?", streams[1].Query)
		assert.Equal(t, "Answer to why?", third.texts(key)[1])
		res := press(t, third, retry, "U1")
		assert.Equal(t, "Already retried by name-U1; nothing was changed.", res.Notice)
	})
}

// TestStopPressedBeforeRecovery: a run whose process died is stopped by a
// press in the next process before start-up finalised it: the message
// ends Stopped, not interrupted, and has no Retry.
func TestStopPressedBeforeRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(func(c streamCall) []step {
			return []step{{Type: promptev.EventProcessing, Out: "Searching"}, {Delay: time.Hour, Type: promptev.EventDone, Out: "late"}}
		})
		store := bridgetest.NewMemStore()
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		key := engKey("1")
		first := startRig(t, agent, withStore(store), withPlatform(p))
		first.send(key, "U1", "why?")
		time.Sleep(3 * time.Second)
		settle()
		stop, ok := buttonOf(p, first.refs(key)[0], chat.Stop)
		require.True(t, ok)
		first.stop()
		// A killed process settles nothing: the record stays running.
		rec, err := store.GetRunRecord(context.Background(), stop.Target)
		require.NoError(t, err)
		rec.State = chat.RunRunning
		require.NoError(t, store.PutRunRecord(context.Background(), rec))

		// The press reaches the store before the next process recovers.
		_, moved, err := store.MoveRun(context.Background(), stop.Target, []chat.RunState{chat.RunRunning},
			chat.RunMove{To: chat.RunStopped, By: "U1", ByName: "Ana", At: time.Now()})
		require.NoError(t, err)
		require.True(t, moved)
		second := startRig(t, agent, withStore(store), withPlatform(p))
		defer second.stop()
		settle()
		ref := second.refs(key)[0]
		assert.Contains(t, p.Text(ref), "Stopped by Ana")
		_, ok = buttonOf(p, ref, chat.Retry)
		assert.False(t, ok)
		assertNoStopLeft(t, second, key)
	})
}
