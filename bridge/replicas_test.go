package bridge_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/store/postgres"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

// These tests run several bridges, each with its own connection pool on one
// real PostgreSQL database, as replicas would: one fake platform stands for
// the chat service they share, and one in-memory agent for Promptev.

// interrupted is the start of the notice of a run whose replica died.
const interrupted = "⚠️ This run was interrupted"

// replica is one bridge of a replicaSet.
type replica struct {
	b      *bridge.Bridge
	st     *postgres.Store
	cancel context.CancelFunc
	done   chan error
	once   sync.Once

	mu    sync.Mutex
	ended map[chat.ConversationKey][]string
	// runs counts the messages whose run ended.
	runs atomic.Int64
}

// stop ends the replica's Run (without Shutdown) and closes its store.
func (r *replica) stop(t testing.TB) {
	r.once.Do(func() {
		r.cancel()
		require.NoError(t, <-r.done)
		require.NoError(t, r.st.Close())
	})
}

// outcomes returns the outcomes of the runs of key this replica ran.
func (r *replica) outcomes(key chat.ConversationKey) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ended[key])
}

// replicaSet is n replicas over one database, platform and agent.
type replicaSet struct {
	t     testing.TB
	p     *bridgetest.Platform
	agent *trackingAgent
	rs    []*replica
}

type replicaConf struct {
	ttl   time.Duration
	grace time.Duration
	// platform, when set, replaces the default fake platform.
	platform *bridgetest.Platform
	// tracer, when set, sees every statement of every replica's store.
	tracer pgx.QueryTracer
}

// startReplicas starts n replicas whose leases last ttl.
func startReplicas(t testing.TB, n int, conf replicaConf, script func(streamCall) []step) *replicaSet {
	t.Helper()
	dsn := postgrestest.DSN(t)
	set := &replicaSet{
		t:     t,
		p:     conf.platform,
		agent: &trackingAgent{fakeAgent: newFakeAgent(script), active: map[string]int{}},
	}
	if set.p == nil {
		// Slack's edit budget as the Slack adapter declares it (a burst of
		// 5): the replicas share it, and a final keeps its reserve.
		lim := bridgetest.WorkspaceLimits()
		lim.EditRate.Burst = 5
		set.p = bridgetest.NewPlatform("slack", lim, bridgetest.WithVisitorID(workspaceVisitor))
	}
	cfg := testConfig()
	if conf.grace > 0 {
		cfg.Runs.ShutdownGrace = conf.grace
	}
	for i := range n {
		st, err := postgres.Open(t.Context(), dsn, postgres.Options{MaxConns: 8, Tracer: conf.tracer})
		require.NoError(t, err)
		r := &replica{st: st, done: make(chan error, 1), ended: map[chat.ConversationKey][]string{}}
		r.b, err = bridge.New(bridge.Options{
			Config:    cfg,
			Agent:     set.agent,
			Store:     st,
			Platforms: []chat.Platform{set.p},
			Replica:   bridge.ReplicaOptions{ID: fmt.Sprintf("replica-%d", i), LeaseTTL: conf.ttl},
			Logger:    testLogger(t, i),
			RunEnded: func(key chat.ConversationKey, outcome string) {
				r.mu.Lock()
				r.ended[key] = append(r.ended[key], outcome)
				r.mu.Unlock()
				r.runs.Add(1)
			},
		})
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("replica-%d", i), r.b.Replica())
		ctx, cancel := context.WithCancel(context.Background())
		r.cancel = cancel
		go func() { r.done <- r.b.Run(ctx) }()
		set.rs = append(set.rs, r)
	}
	t.Cleanup(func() {
		for _, r := range set.rs {
			r.stop(t)
		}
	})
	return set
}

// ended returns how many runs ended on every replica together.
func (s *replicaSet) ended() int64 {
	var n int64
	for _, r := range s.rs {
		n += r.runs.Load()
	}
	return n
}

// deliver hands msg to replica i.
func (s *replicaSet) deliver(i int, msg chat.InboundMessage) {
	s.t.Helper()
	require.NoError(s.t, s.rs[i].b.HandleMessage(context.Background(), msg))
}

// press clicks act as user through replica i.
func (s *replicaSet) press(i int, act chat.Action, user string) chat.ActionResult {
	s.t.Helper()
	act.User = chat.User{ID: user, Name: "name-" + user}
	act.Received = time.Now()
	res, err := s.rs[i].b.HandleAction(context.Background(), act)
	require.NoError(s.t, err)
	return res
}

// texts returns what users see in key, message by message.
func (s *replicaSet) texts(key chat.ConversationKey) []string {
	var out []string
	for _, m := range s.p.Messages(key) {
		out = append(out, s.p.Text(m.Ref))
	}
	return out
}

// waitTexts waits until key shows what ok accepts.
func (s *replicaSet) waitTexts(key chat.ConversationKey, what string, ok func([]string) bool) []string {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := s.texts(key)
		if ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s never showed %s; it shows %q", key, what, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitButton waits for a message of key with a button of kind and returns it.
func (s *replicaSet) waitButton(key chat.ConversationKey, kind chat.ActionKind) (chat.MessageRef, chat.Action) {
	s.t.Helper()
	var ref chat.MessageRef
	var act chat.Action
	require.Eventually(s.t, func() bool {
		for _, m := range s.p.Messages(key) {
			if a, ok := buttonOf(s.p, m.Ref, kind); ok {
				ref, act = m.Ref, a
				return true
			}
		}
		return false
	}, 60*time.Second, 20*time.Millisecond, "%s never showed a %s button", key, kind)
	return ref, act
}

// owner returns the index of the replica holding key's lease, or -1.
func (s *replicaSet) owner(key chat.ConversationKey) int {
	s.t.Helper()
	for _, r := range s.rs {
		if r.st == nil {
			continue
		}
		ls, err := r.st.ListLeases(context.Background(), chat.ConversationLease(key))
		if err != nil {
			continue
		}
		for _, l := range ls {
			if l.Expires.After(time.Now()) {
				for i, rr := range s.rs {
					if rr.b.Replica() == l.Owner {
						return i
					}
				}
			}
		}
		return -1
	}
	return -1
}

// trackingAgent is the fake agent, also checking that a session never
// has two turns streaming at once.
type trackingAgent struct {
	*fakeAgent
	mu      sync.Mutex
	active  map[string]int
	overlap []string
}

func (a *trackingAgent) Stream(ctx context.Context, agentID, token, query string) (bridge.EventStream, error) {
	s, err := a.fakeAgent.Stream(ctx, agentID, token, query)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.active[token]++
	if a.active[token] > 1 {
		a.overlap = append(a.overlap, query)
	}
	a.mu.Unlock()
	return &trackedStream{EventStream: s, done: func() {
		a.mu.Lock()
		a.active[token]--
		a.mu.Unlock()
	}}, nil
}

func (a *trackingAgent) overlaps() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.overlap)
}

type trackedStream struct {
	bridge.EventStream
	once sync.Once
	done func()
}

func (s *trackedStream) Close() error {
	s.once.Do(s.done)
	return s.EventStream.Close()
}

// mention is a message of user in key with the given ids.
func mention(key chat.ConversationKey, id, text string, mentioned bool) chat.InboundMessage {
	return chat.InboundMessage{
		Key: key, User: chat.User{ID: "U1", Name: "name-U1"}, Text: text,
		MessageID: id, EventID: "Ev" + id, Mentioned: mentioned, Received: time.Now(),
	}
}

// TestReplicasExactlyOnce delivers every message of several threads 3 times
// plus a twin event (another event id, the same message id), each copy to a
// random replica, all at once: each message gets exactly one stream call and
// one answer, each thread one session, and a thread's turns run one at a
// time in the order the messages were delivered.
func TestReplicasExactlyOnce(t *testing.T) {
	set := startReplicas(t, 3, replicaConf{ttl: 3 * time.Second}, func(c streamCall) []step {
		return []step{
			{Type: promptev.EventProcessing, Out: "Thinking about " + c.Query},
			{Delay: 20 * time.Millisecond, Type: promptev.EventDone, Out: "Answer to " + c.Query},
		}
	})
	const threads, turns = 8, 3
	var wg sync.WaitGroup
	for th := range threads {
		wg.Go(func() {
			key := engKey(fmt.Sprintf("th%d", th))
			for turn := range turns {
				msg := mention(key, fmt.Sprintf("%d.%d", th, turn), fmt.Sprintf("t%d-q%d", th, turn), turn == 0)
				twin := msg
				twin.EventID += "-message"
				var copies sync.WaitGroup
				for _, m := range []chat.InboundMessage{msg, msg, msg, twin} {
					copies.Go(func() { set.deliver(rand.IntN(len(set.rs)), m) })
				}
				// The platform delivers a thread's next message once this
				// one was acknowledged.
				copies.Wait()
			}
		})
	}
	wg.Wait()
	for th := range threads {
		key := engKey(fmt.Sprintf("th%d", th))
		want := make([]string, turns)
		for turn := range turns {
			want[turn] = fmt.Sprintf("Answer to t%d-q%d", th, turn)
		}
		// Each answer once, in order; a placeholder whose answer was posted
		// beside it (its edit budget was short) shows the run's steps.
		set.waitTexts(key, "every answer once, in order, and no placeholder left", func(got []string) bool {
			var answers []string
			for _, txt := range got {
				switch {
				case strings.HasPrefix(txt, "Answer to"):
					answers = append(answers, txt)
				case strings.Contains(txt, "Thinking…"):
					return false
				}
			}
			return slices.Equal(answers, want)
		})
	}

	starts := set.agent.Starts()
	assert.Len(t, starts, threads, "one session per thread")
	byToken := map[string][]string{}
	for _, c := range set.agent.Streams() {
		byToken[c.Token] = append(byToken[c.Token], c.Query)
	}
	assert.Len(t, byToken, threads)
	for tok, qs := range byToken {
		require.Len(t, qs, turns, "session %s: one stream call per message", tok)
		th := strings.TrimPrefix(strings.Split(qs[0], "-")[0], "t")
		for turn, q := range qs {
			assert.Equal(t, fmt.Sprintf("t%s-q%d", th, turn), q, "session %s runs its thread's turns in order", tok)
		}
	}
	assert.Empty(t, set.agent.overlaps(), "no session streamed two turns at once")
}

// TestReplicasApprovalClickedElsewhere shows an approval card posted by one
// replica, clicked through another: the decision continues the
// conversation's session once.
func TestReplicasApprovalClickedElsewhere(t *testing.T) {
	set := startReplicas(t, 3, replicaConf{ttl: 3 * time.Second}, approvalScript)
	key := engKey("appr")
	set.deliver(0, mention(key, "1.0", "clean up branches", true))
	card, approve := set.waitButton(key, chat.Approve)
	res := set.press(1, approve, "U1")
	require.True(t, res.Accepted, "%+v", res)
	set.waitTexts(key, "the continuation's answer", func(got []string) bool {
		return slices.Contains(got, "Deleted the branch.")
	})
	assert.Contains(t, set.p.Text(card), "Approved by name-U1")
	streams := set.agent.Streams()
	require.Len(t, streams, 2)
	assert.Equal(t, "approve", streams[1].Query)
	assert.Equal(t, streams[0].Token, streams[1].Token, "the continuation runs in the same session")
	assert.Len(t, set.agent.Starts(), 1)
	again := set.press(2, approve, "U1")
	assert.False(t, again.Accepted, "a second click is refused")
}

// TestReplicasStopOnAnotherReplica presses Stop through a replica that does
// not run the conversation: the owner stops it.
func TestReplicasStopOnAnotherReplica(t *testing.T) {
	gate := make(chan struct{})
	t.Cleanup(func() { close(gate) })
	set := startReplicas(t, 3, replicaConf{ttl: 3 * time.Second}, func(c streamCall) []step {
		return []step{{Type: promptev.EventProcessing, Out: "Searching Jira"}, {Wait: gate, Type: promptev.EventDone, Out: "too late"}}
	})
	key := engKey("stop")
	set.deliver(0, mention(key, "1.0", "is prod down?", true))
	live, stop := set.waitButton(key, chat.Stop)
	owner := set.owner(key)
	require.GreaterOrEqual(t, owner, 0, "a replica holds the conversation")
	other := (owner + 1) % len(set.rs)
	res := set.press(other, stop, "U1")
	require.True(t, res.Accepted, "%+v", res)
	set.waitTexts(key, "Stopped by", func(got []string) bool { return strings.Contains(set.p.Text(live), "Stopped by name-U1") })
	require.Eventually(t, func() bool {
		return slices.Contains(set.rs[owner].outcomes(key), bridge.OutcomeCancelled) ||
			len(set.rs[owner].outcomes(key)) > 0
	}, 30*time.Second, 20*time.Millisecond, "the owner's run ended")
	assert.NotContains(t, strings.Join(set.texts(key), "|"), "too late")
}

// TestReplicasFailover kills the replica running two conversations (one
// streaming with a follow-up queued behind it, one waiting for its
// approval): the survivors finalise the streaming run as interrupted with
// a Retry button in the message already there, run the queued follow-up in
// the same session, keep the approval clickable, and leave their own
// conversation alone. The interrupted turn is not sent to the agent again.
func TestReplicasFailover(t *testing.T) {
	hold := make(chan struct{})
	release := make(chan struct{})
	var closeOnce sync.Once
	t.Cleanup(func() {
		close(hold)
		closeOnce.Do(func() { close(release) })
	})
	set := startReplicas(t, 3, replicaConf{ttl: 3 * time.Second}, func(c streamCall) []step {
		switch {
		case c.Query == "approve":
			return []step{{Type: promptev.EventDone, Out: "Deleted the branch."}}
		case strings.HasPrefix(c.Query, "clean up"):
			return approvalScript(c)
		case strings.HasPrefix(c.Query, "long"):
			return []step{{Type: promptev.EventProcessing, Out: "Working"}, {Wait: hold, Type: promptev.EventDone, Out: "never"}}
		case strings.HasPrefix(c.Query, "theirs"):
			return []step{{Type: promptev.EventProcessing, Out: "Working"}, {Wait: release, Type: promptev.EventDone, Out: "Answer to " + c.Query}}
		}
		return []step{{Type: promptev.EventDone, Out: "Answer to " + c.Query}}
	})
	killed, kept, waiting := engKey("killed"), engKey("kept"), engKey("waiting")
	set.deliver(0, mention(waiting, "3.0", "clean up branches", true))
	_, approve := set.waitButton(waiting, chat.Approve)
	set.waitTexts(waiting, "its run waiting", func(got []string) bool {
		return len(got) == 2 && strings.Contains(got[0], "Waiting for approval")
	})
	// The replicas running "kept" and "killed" must differ. Whoever takes a
	// turn is the receiver or another replica's orphan sweep, which may find
	// a freshly queued turn first: a "killed" conversation that landed on
	// "kept"'s replica is left alone and another one started.
	set.deliver(1, mention(kept, "2.0", "theirs", true))
	set.waitButton(kept, chat.Stop)
	survivor := set.owner(kept)
	require.GreaterOrEqual(t, survivor, 0)
	var placeholder chat.MessageRef
	var query string
	dying := -1
	for i := 0; dying < 0; i++ {
		require.Less(t, i, 5, "every attempt landed on the survivor's replica")
		killed, query = engKey(fmt.Sprint("killed", i)), fmt.Sprint("long job ", i)
		set.deliver((survivor+1)%3, mention(killed, fmt.Sprintf("1.%d", i), query, true))
		placeholder, _ = set.waitButton(killed, chat.Stop)
		if o := set.owner(killed); o != survivor {
			dying = o
		}
	}
	third := 3 - dying - survivor
	// A follow-up for the dying replica's conversation, received by another
	// replica, waits in the store for the owner.
	set.deliver(third, mention(killed, "9.1", "follow-up", false))

	set.rs[dying].b.Halt()
	set.rs[dying].stop(t)

	set.waitTexts(killed, "the interrupted notice and the follow-up's answer", func(got []string) bool {
		return len(got) == 2 && strings.HasPrefix(got[0], interrupted) && got[1] == "Answer to follow-up"
	})
	_, ok := buttonOf(set.p, placeholder, chat.Retry)
	assert.True(t, ok, "the interrupted notice carries Retry")
	res := set.press(third, approve, "U1")
	require.True(t, res.Accepted, "the dead replica's approval is still clickable: %+v", res)
	set.waitTexts(waiting, "the approval's continuation", func(got []string) bool { return slices.Contains(got, "Deleted the branch.") })

	closeOnce.Do(func() { close(release) })
	set.waitTexts(kept, "its answer", func(got []string) bool { return slices.Equal(got, []string{"Answer to theirs"}) })

	var long, follow []streamCall
	for _, c := range set.agent.Streams() {
		switch c.Query {
		case query:
			long = append(long, c)
		case "follow-up":
			follow = append(follow, c)
		}
	}
	require.Len(t, long, 1, "the interrupted turn is never sent again on its own")
	require.Len(t, follow, 1)
	assert.Equal(t, long[0].Token, follow[0].Token, "the follow-up runs in the conversation's session")
	edits := 0
	for _, rec := range set.p.Applied(bridgetest.OpEdit) {
		if rec.Ref.ID == placeholder.ID && strings.HasPrefix(bridgetest.Render(rec.Message), interrupted) {
			edits++
		}
	}
	assert.Equal(t, 1, edits, "the interrupted run is finalised once")
}

// TestReplicasFencing pauses the owner past its lease: a survivor takes the
// conversation over, and the owner, waking with its agent's answer, writes
// nothing.
func TestReplicasFencing(t *testing.T) {
	gate := make(chan struct{})
	set := startReplicas(t, 2, replicaConf{ttl: 3 * time.Second}, func(c streamCall) []step {
		return []step{{Type: promptev.EventProcessing, Out: "Working"}, {Wait: gate, Type: promptev.EventDone, Out: "the late answer"}}
	})
	key := engKey("fenced")
	set.deliver(0, mention(key, "1.0", "long job", true))
	placeholder, _ := set.waitButton(key, chat.Stop)
	// The replica that took the turn (the receiver, or the other one's
	// orphan sweep, which may find a freshly queued turn first).
	owner := set.owner(key)
	require.GreaterOrEqual(t, owner, 0)
	survivor := 1 - owner

	set.rs[owner].b.PauseLeases(true)
	set.waitTexts(key, "the survivor's interrupted notice", func(got []string) bool {
		return len(got) == 1 && strings.HasPrefix(got[0], interrupted)
	})
	before := len(set.p.Records())

	close(gate) // the paused owner wakes with its answer
	require.Eventually(t, func() bool { return len(set.rs[owner].outcomes(key)) > 0 }, 30*time.Second, 20*time.Millisecond)
	set.rs[owner].b.PauseLeases(false)
	assert.Equal(t, []string{bridge.OutcomeInterrupted}, set.rs[owner].outcomes(key))
	assert.Len(t, set.p.Records(), before, "the fenced owner wrote nothing")
	assert.True(t, strings.HasPrefix(set.p.Text(placeholder), interrupted))
	rec, err := set.rs[survivor].st.GetRun(context.Background(), key)
	assert.ErrorIs(t, err, chat.ErrNotFound, "the survivor removed the in-flight record: %+v", rec)
}

// TestReplicasGracefulHandBack shuts the owner down with a turn queued:
// the lease is handed back at once, and another replica runs the turn long
// before the lease could have expired.
func TestReplicasGracefulHandBack(t *testing.T) {
	gate := make(chan struct{})
	t.Cleanup(func() { close(gate) })
	set := startReplicas(t, 2, replicaConf{ttl: 10 * time.Minute, grace: 10 * time.Millisecond}, func(c streamCall) []step {
		if c.Query == "long job" {
			return []step{{Type: promptev.EventProcessing, Out: "Working"}, {Wait: gate, Type: promptev.EventDone, Out: "never"}}
		}
		return []step{{Type: promptev.EventDone, Out: "Answer to " + c.Query}}
	})
	key := engKey("handback")
	set.deliver(0, mention(key, "1.0", "long job", true))
	set.waitButton(key, chat.Stop)
	owner := set.owner(key)
	require.GreaterOrEqual(t, owner, 0)
	set.deliver(1-owner, mention(key, "1.1", "next", false))

	require.NoError(t, set.rs[owner].b.Shutdown(context.Background()))
	set.rs[owner].stop(t)
	got := set.waitTexts(key, "the queued turn's answer", func(got []string) bool {
		return len(got) == 2 && got[1] == "Answer to next"
	})
	assert.True(t, strings.HasPrefix(got[0], interrupted), "the owner finalised its own run: %q", got[0])
}

func testLogger(t testing.TB, i int) *slog.Logger {
	if os.Getenv("REPLICA_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("replica", i)
}
