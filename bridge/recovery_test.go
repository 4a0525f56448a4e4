package bridge_test

import (
	"context"
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

// stallFlow reports "Working", then answers a day later.
var stallFlow = agentScript{turn: func(string) []turnEvent {
	return []turnEvent{{Type: promptev.EventProcessing, Out: "Working"}, {Delay: 24 * time.Hour, Type: promptev.EventDone, Out: "late"}}
}}

// stall is stallFlow for the fakeAgent.
func stall(c streamCall) []step { return stallFlow.fake()(c) }

// A crash between placeholder and final (the process dies: no Shutdown) is
// finalised by the next start-up. On backend=client the first process dies
// with a stream open on the API, and the second is a new client of it.
func TestCrashBetweenPlaceholderAndFinalIsFinalisedOnRestart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		w := newAgentWorld(be, stallFlow)
		defer w.close()
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		st := bridgetest.NewMemStore()
		first := w.start(t, withPlatform(p), withStore(st))
		key := engKey("1")
		first.send(key, "U1", "long job")
		settle()
		runs, err := st.ListRuns(t.Context())
		require.NoError(t, err)
		require.Len(t, runs, 1)
		assert.Equal(t, key, runs[0].Key)
		assert.Equal(t, first.refs(key)[0].ID, runs[0].Placeholder.ID)
		assert.Equal(t, "m1", runs[0].InboundID)

		// Simulate the crash: the platform stops answering before the process dies,
		// so nothing can be finalised on the way down.
		p.SetLatency(48 * time.Hour)
		first.close()
		p.SetLatency(0)
		runs, err = st.ListRuns(t.Context())
		require.NoError(t, err)
		require.Len(t, runs, 1, "the record survives the crash")
		assert.Contains(t, first.texts(key)[0], "Working")

		second := w.start(t, withPlatform(p), withStore(st))
		defer second.close()
		settle()
		assert.Equal(t, []string{"⚠️ This run was interrupted — send your message again."}, second.texts(key))
		runs, err = st.ListRuns(t.Context())
		require.NoError(t, err)
		assert.Empty(t, runs)
		assert.Equal(t, 1, second.metrics.count("run:interrupted"))
	})
}

// Records left by any earlier process, in several conversations and on a
// platform that is not configured any more.
func TestRecoveryOfLeftoverRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits())
		st := bridgetest.NewMemStore()
		ctx := context.Background()
		var keys []chat.ConversationKey
		for _, th := range []string{"1", "2", "3"} {
			key := chat.ConversationKey{Platform: "slack", Workspace: "T" + th, Channel: "C1", Thread: th}
			ref, err := p.Post(ctx, key, chat.Message{Kind: chat.KindStatus, Status: "Thinking…"})
			require.NoError(t, err)
			require.NoError(t, st.PutRun(ctx, chat.InFlightRun{Key: key, Placeholder: ref, InboundID: th, Started: time.Now()}))
			keys = append(keys, key)
		}
		gone := chat.ConversationKey{Platform: "discord", Workspace: "G", Channel: "9"}
		require.NoError(t, st.PutRun(ctx, chat.InFlightRun{Key: gone, Placeholder: chat.MessageRef{Key: gone, ID: "x"}}))

		r := startRig(t, newFakeAgent(replyWith("ok")), withPlatform(p), withStore(st))
		defer r.stop()
		settle()
		for _, key := range keys {
			assert.Equal(t, []string{"⚠️ This run was interrupted — send your message again."}, r.texts(key))
		}
		runs, err := st.ListRuns(ctx)
		require.NoError(t, err)
		require.Len(t, runs, 1, "the record of an unconfigured platform is kept")
		assert.Equal(t, gone, runs[0].Key)
	})
}

func TestShutdownLetsShortRunsFinish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(func(streamCall) []step {
			return []step{{Delay: 5 * time.Second, Type: promptev.EventDone, Out: "finished"}}
		})
		r := startRig(t, agent)
		defer r.stop()
		key := engKey("1")
		r.send(key, "U1", "first")
		r.send(key, "U1", "queued")
		synctest.Wait()
		start := time.Now()
		require.NoError(t, r.shutdown(t.Context()))
		assert.Less(t, time.Since(start), 20*time.Second, "did not wait for the whole grace")
		texts := r.texts(key)
		require.Len(t, texts, 2)
		assert.Equal(t, "finished", texts[0])
		assert.Contains(t, texts[1], "send them again", "the queued message did not start and its author is told")
		assert.Len(t, agent.Streams(), 1)
		runs, err := r.store.ListRuns(t.Context())
		require.NoError(t, err)
		assert.Empty(t, runs)
	})
}

func TestShutdownInterruptsLongRunsAfterGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newFakeAgent(stall), withConfig(func(c *bridge.Config) { c.Runs.ShutdownGrace = 10 * time.Second }))
		defer r.stop()
		for _, th := range []string{"1", "2"} {
			r.send(chat.ConversationKey{Platform: "slack", Workspace: "T" + th, Channel: "C1", Thread: th}, "U1", "long")
		}
		settle()
		start := time.Now()
		require.NoError(t, r.b.Shutdown(t.Context()))
		elapsed := time.Since(start)
		assert.GreaterOrEqual(t, elapsed, 10*time.Second)
		assert.Less(t, elapsed, 15*time.Second)
		for _, th := range []string{"1", "2"} {
			key := chat.ConversationKey{Platform: "slack", Workspace: "T" + th, Channel: "C1", Thread: th}
			assert.Equal(t, []string{"⚠️ This run was interrupted — send your message again."}, r.texts(key))
		}
		runs, err := r.store.ListRuns(t.Context())
		require.NoError(t, err)
		assert.Empty(t, runs)
		assert.Equal(t, 2, r.metrics.count("run:interrupted"))
		r.stop()
	})
}

func TestShutdownBoundedByContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newFakeAgent(stall))
		r.send(engKey("1"), "U1", "long")
		settle()
		defer r.stop()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		start := time.Now()
		require.NoError(t, r.b.Shutdown(ctx), "the interrupted run was finalised within the final deadline")
		assert.Less(t, time.Since(start), 6*time.Second, "the context cut the 20 s grace")
		assert.Contains(t, r.texts(engKey("1"))[0], "interrupted")
	})
}

func TestRunTwiceRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, newFakeAgent(replyWith("ok")))
		synctest.Wait()
		assert.Error(t, r.b.Run(t.Context()))
		r.stop()
	})
}
