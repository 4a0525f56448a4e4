package bridge_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
)

// The scenarios below are the fakeAgent scenarios of load_test.go,
// conversation_test.go and approval_test.go run end to end: the real promptev
// client (through bridge.ClientAgent) talks HTTP to promptevtest over its
// in-memory transport, inside a synctest bubble, so the scripts' delays, the
// platform's budgets and every timeout run on fake time.

// pipeRig is a Bridge on the real promptev client and an in-memory
// promptevtest server. Build it inside the bubble and close it there.
type pipeRig struct {
	*rig
	srv    *promptevtest.Server
	client *promptev.Client
	// ownsServer: close closes srv too.
	ownsServer bool
}

// startPipeRig starts an in-memory promptevtest server with agent "agent-1"
// and a rig (Slack limits and Slack-like server limits unless opts say
// otherwise) whose Agent is bridge.ClientAgent over it. close stops both.
func startPipeRig(t *testing.T, agent promptevtest.Agent, opts ...rigOption) *pipeRig {
	t.Helper()
	srv := promptevtest.NewInMemoryServer("pk-test")
	srv.AddAgent("agent-1", agent)
	r := startPipeRigOn(t, srv, opts...)
	r.ownsServer = true
	return r
}

// startPipeRigOn starts a rig with a new client of srv (a bridge process
// restarting against the same API); close leaves srv running.
func startPipeRigOn(t *testing.T, srv *promptevtest.Server, opts ...rigOption) *pipeRig {
	t.Helper()
	client, err := promptev.New("pk-test", promptev.WithBaseURL(srv.URL), promptev.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	return &pipeRig{rig: startRig(t, bridge.ClientAgent(client), opts...), srv: srv, client: client}
}

// close stops the bridge, then the client's connections, then the server
// (when the rig started it), leaving no goroutine in the bubble.
func (r *pipeRig) close() {
	r.stop()
	r.client.CloseIdleConnections()
	if r.ownsServer {
		r.srv.Close()
	}
}

// streamRequest is the body of one stream request the server received.
type streamRequest struct {
	Token string `json:"session_token"`
	Query string `json:"query"`
}

// streamRequests returns the bodies of the server's stream requests, in order.
func streamRequests(t *testing.T, srv *promptevtest.Server) []streamRequest {
	t.Helper()
	var out []streamRequest
	for _, req := range srv.Requests() {
		if strings.HasSuffix(req.Path, "/stream") {
			var s streamRequest
			require.NoError(t, json.Unmarshal(req.Body, &s))
			out = append(out, s)
		}
	}
	return out
}

// statusAgent streams n processing events every interval, then answers with
// "final <query>" (statusScript for promptevtest).
func statusAgent(n int, interval time.Duration) promptevtest.Agent {
	return promptevtest.Agent{Respond: func(turn promptevtest.Turn) []promptevtest.Event {
		evs := make([]promptevtest.Event, 0, n+1)
		for i := range n {
			evs = append(evs, promptevtest.Event{Delay: interval, Type: promptevtest.TypeProcessing, Output: fmt.Sprintf("%s step %d", turn.Query, i)})
		}
		return append(evs, promptevtest.Event{Delay: interval, Type: promptevtest.TypeDone, Output: "final " + turn.Query})
	}}
}

// TestFiftyConversationsShareOneWorkspace over the real client: 50
// conversations in one Slack-like workspace, each streaming 20 status events
// over 10 s, never exceed 40 edits in any minute, cause no 429 and show every
// final within 3 s of its done event.
func TestPipeFiftyConversationsShareOneWorkspace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startPipeRig(t, statusAgent(20, 500*time.Millisecond)) // Slack limits, 50 edits/min per workspace on the server
		defer r.close()
		start := time.Now()
		keys := make([]bridge.ConversationKey, 50)
		for i := range keys {
			keys[i] = bridge.ConversationKey{Platform: "slack", Workspace: "T1", Channel: fmt.Sprint("C", i), Thread: "1.0"}
			r.send(keys[i], "U1", fmt.Sprint("conv", i))
		}
		doneAt := start.Add(21 * 500 * time.Millisecond) // the done event of every conversation
		time.Sleep(3 * time.Minute)
		synctest.Wait()

		var edits []time.Time
		for _, rec := range r.p.Applied(bridgetest.OpEdit) {
			edits = append(edits, rec.Time)
		}
		assert.LessOrEqual(t, maxPerWindow(edits, time.Minute), 40, "edits per minute in the workspace")
		assert.Zero(t, r.p.ServerRateLimited(), "the bridge caused no 429")
		assert.Zero(t, r.p.RateLimited())
		var worst time.Duration
		for i, key := range keys {
			at, ok := firstShown(r.p, key, fmt.Sprint("final conv", i))
			require.True(t, ok, "final of conversation %d visible", i)
			worst = max(worst, at.Sub(doneAt))
			for _, text := range r.texts(key) {
				assert.NotContains(t, text, "Thinking", "no eternal placeholder in %d", i)
			}
		}
		assert.LessOrEqual(t, worst, 3*time.Second, "slowest final after its done")
		assert.Equal(t, 50, r.metrics.count("run:done"))
		assert.Equal(t, 50*20, r.metrics.count("event:processing"), "every status event crossed the wire")
		assert.Len(t, streamRequests(t, r.srv), 50)
		t.Logf("edits=%d max/min=%d worst final latency=%s", len(edits), maxPerWindow(edits, time.Minute), worst)
	})
}

// TestRateLimitStormLosesNoFinal over the real client.
func TestPipeRateLimitStormLosesNoFinal(t *testing.T) {
	for _, name := range []string{"slack", "discord"} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := bridgetest.NewPlatform("slack", bridgetest.SlackLimits())
				if name == "discord" {
					p = newDiscord()
				}
				r := startPipeRig(t, statusAgent(6, 300*time.Millisecond), withPlatform(p))
				defer r.close()
				keys := make([]bridge.ConversationKey, 10)
				for i := range keys {
					keys[i] = bridge.ConversationKey{Platform: name, Workspace: "W1", Channel: fmt.Sprint("C", i%3), Thread: fmt.Sprint(i)}
					r.send(keys[i], "U1", fmt.Sprint("storm", i))
				}
				time.Sleep(time.Second)
				p.Inject429(40, 3*time.Second)
				time.Sleep(5 * time.Minute)
				synctest.Wait()
				assert.Positive(t, p.RateLimited(), "the storm happened")
				for i, key := range keys {
					texts := strings.Join(r.texts(key), "\n")
					assert.Contains(t, texts, fmt.Sprint("final storm", i))
					assert.NotContains(t, texts, "Thinking")
					assert.NotContains(t, texts, fmt.Sprintf("storm%d step", i), "no stale status left")
				}
				assert.Equal(t, 10, r.metrics.count("run:done"))
			})
		})
	}
}

// approvalAgent is approvalScript for promptevtest: it asks for approval on
// every ordinary query and answers the approve and deny queries.
func approvalAgent() promptevtest.Agent {
	return promptevtest.Agent{
		Script: []promptevtest.Event{
			{Type: promptevtest.TypeProcessing, Output: "Looking at branches"},
			{Delay: 2 * time.Second, Type: promptevtest.TypeApprovalRequired, Output: "Delete branch <!channel> old-feature?",
				Tool: "git.delete_branch", Arguments: map[string]any{"branch": "old-feature", "force": true}},
		},
		OnApprove: []promptevtest.Event{
			{Type: promptevtest.TypeProcessing, Output: "Deleting"},
			{Delay: time.Second, Type: promptevtest.TypeDone, Output: "Deleted the branch."},
		},
		OnDeny: []promptevtest.Event{{Type: promptevtest.TypeDone, Output: "Okay, not deleting."}},
	}
}

// TestApprovalCardAndApprove over the real client: the card, the approve
// click, the continuation streamed through the real approve query on the
// same session, and the final.
func TestPipeApprovalCardAndApprove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startPipeRig(t, approvalAgent())
		defer r.close()
		key := engKey("1")
		start := time.Now()
		cardRef, a := pendingApproval(t, r.rig, key)

		// The card and the stored record.
		card := r.p.Current(cardRef).Approval
		assert.Equal(t, "git.delete_branch", card.Tool)
		assert.Contains(t, card.Description, "Delete branch")
		assert.NotContains(t, card.Description, "<!channel>", "mentions neutralised")
		assert.Equal(t, `{"branch":"old-feature","force":true}`, card.Arguments)
		assert.Equal(t, bridge.ApprovalPending, card.State)
		assert.Equal(t, 2, r.p.ButtonCount(cardRef))
		assert.Len(t, a.ID, 32)
		assert.Equal(t, a.ID, card.ID)
		assert.Equal(t, "U1", a.Requester)
		assert.Equal(t, cardRef.ID, a.Card.ID)
		assert.Len(t, a.ArgumentsDigest, 64)
		assert.WithinDuration(t, start.Add(30*time.Minute), a.Expires, 10*time.Second)
		placeholder := r.p.Messages(key)[0]
		assert.Equal(t, "⏸ Waiting for approval", placeholder.Message.Status)
		assert.True(t, placeholder.Message.Final)
		assert.Equal(t, 1, r.metrics.count("run:approval"))
		runs, err := r.store.ListRuns(t.Context())
		require.NoError(t, err)
		assert.Empty(t, runs)

		// The requester approves: only the store is touched synchronously.
		r.p.SetLatency(time.Second)
		edits, before := len(r.p.Records()), time.Now()
		res := click(r.rig, a.ID, "U1", bridge.Approve)
		assert.Equal(t, bridge.ActionResult{Accepted: true}, res)
		assert.Zero(t, time.Since(before), "HandleAction does no platform I/O")
		assert.Len(t, r.p.Records(), edits, "HandleAction does no platform I/O")
		r.p.SetLatency(0)
		time.Sleep(2 * time.Second)
		settle()

		card = r.p.Current(cardRef).Approval
		assert.Equal(t, bridge.ApprovalApproved, card.State)
		assert.Equal(t, "name-U1", card.DecidedBy)
		assert.Zero(t, r.p.ButtonCount(cardRef), "buttons removed")
		assert.Contains(t, r.p.Text(cardRef), "Approved by name-U1")
		texts := r.texts(key)
		require.Len(t, texts, 3, "the continuation has a new placeholder")
		assert.Equal(t, "Deleted the branch.", texts[2])
		calls := streamRequests(t, r.srv)
		require.Len(t, calls, 2)
		assert.Equal(t, "clean up branches", calls[0].Query)
		assert.Equal(t, streamRequest{Token: calls[0].Token, Query: "approve"}, calls[1], "same session, approve query")
		stored, err := r.store.GetApproval(t.Context(), a.ID)
		require.NoError(t, err)
		assert.Equal(t, bridge.ApprovalApproved, stored.State)
		assert.Equal(t, "U1", stored.DecidedBy)
		assert.Equal(t, 1, r.metrics.count("approval:approved"))
		assert.Equal(t, 1, r.srv.SessionCount(), "one session for the whole round trip")
	})
}

// TestQueueInOrderAndBusyWhenFull over the real client.
func TestPipeQueueInOrderAndBusyWhenFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startPipeRig(t, promptevtest.Agent{Script: []promptevtest.Event{
			{Delay: 10 * time.Second, Type: promptevtest.TypeDone, Output: "answer {{query}}"},
		}}, withConfig(func(c *bridge.Config) { c.Runs.QueueSize = 2 }))
		defer r.close()
		key := engKey("30.1")
		for i := range 5 {
			r.send(key, "U1", fmt.Sprint("q", i))
			synctest.Wait()
		}
		texts := r.texts(key)
		require.Len(t, texts, 3, "placeholder of q0 and two busy replies")
		assert.Equal(t, "Thinking…", texts[0])
		assert.Contains(t, texts[1], "still working")
		assert.Contains(t, texts[2], "still working")
		assert.Equal(t, 2, r.metrics.count("run:busy"))

		time.Sleep(35 * time.Second)
		synctest.Wait()
		var queries []string
		for _, c := range streamRequests(t, r.srv) {
			queries = append(queries, c.Query)
		}
		assert.Equal(t, []string{"q0", "q1", "q2"}, queries, "queued messages run in order, one at a time")
		texts = r.texts(key)
		assert.Equal(t, "answer q0", texts[0])
		assert.Equal(t, []string{"answer q1", "answer q2"}, texts[3:])
	})
}

// TestSessionGoneRestartsOnceWithNote over the real client: the API
// forgetting its sessions (a 404 on stream) restarts the session once,
// transparently, with a note; a fresh session refused too ends in a notice.
func TestPipeSessionForgottenRestartsOnceWithNote(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startPipeRig(t, promptevtest.Agent{Script: []promptevtest.Event{{Type: promptevtest.TypeDone, Output: "fine"}}})
		defer r.close()
		key := engKey("1.1")
		r.send(key, "U1", "one")
		settle()
		first, err := r.store.GetConversation(t.Context(), key)
		require.NoError(t, err)

		r.srv.ForgetSessions()
		r.send(key, "U1", "two")
		settle()
		texts := r.texts(key)
		require.Len(t, texts, 3)
		assert.Equal(t, "fine", texts[0])
		assert.Equal(t, "fine", texts[1], "the answer still replaces the placeholder")
		assert.Contains(t, texts[2], "started a new one")
		assert.Len(t, startBodies(t, r.srv), 2)
		calls := streamRequests(t, r.srv)
		require.Len(t, calls, 3, "one, two on the forgotten session, two on the new one")
		assert.Equal(t, []string{"one", "two", "two"}, []string{calls[0].Query, calls[1].Query, calls[2].Query})
		assert.Equal(t, first.SessionToken, calls[1].Token)
		assert.NotEqual(t, first.SessionToken, calls[2].Token)
		conv, err := r.store.GetConversation(t.Context(), key)
		require.NoError(t, err)
		assert.Equal(t, calls[2].Token, conv.SessionToken, "the new session is stored")
		assert.Equal(t, 1, r.srv.SessionCount())

		// The API refusing the fresh session too ends in a notice, not a loop.
		r.srv.InjectFault(promptevtest.Fault{Kind: promptevtest.FaultStatus, Status: 404, Call: promptevtest.CallStream, Times: 2})
		r.send(key, "U1", "three")
		settle()
		texts = r.texts(key)
		require.Len(t, texts, 5)
		assert.Contains(t, texts[3], "⚠️")
		assert.Len(t, startBodies(t, r.srv), 3, "restarted exactly once")
		assert.Len(t, streamRequests(t, r.srv), 5)
	})
}

// TestApprovalClicks over the real client: foreign, concurrent double and
// replayed clicks decide once and answer the agent once.
func TestPipeApprovalClicks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startPipeRig(t, approvalAgent())
		defer r.close()
		key := engKey("1")
		cardRef, a := pendingApproval(t, r.rig, key)

		// Foreign click: notice, card untouched, nothing decided.
		before := len(r.p.Records())
		res := click(r.rig, a.ID, "U2", bridge.Approve)
		assert.False(t, res.Accepted)
		assert.Contains(t, res.Notice, "not allowed")
		settle()
		assert.Len(t, r.p.Records(), before, "card untouched")
		assert.Equal(t, 2, r.p.ButtonCount(cardRef))
		assert.Equal(t, 1, r.metrics.count("approval:unauthorized"))

		// Double click by concurrent clickers: exactly one decides.
		var wg sync.WaitGroup
		results := make([]bridge.ActionResult, 8)
		for i := range results {
			wg.Go(func() { results[i] = click(r.rig, a.ID, "U1", bridge.Approve) })
		}
		wg.Wait()
		accepted := 0
		for _, res := range results {
			if res.Accepted {
				accepted++
			} else {
				assert.Equal(t, "Already approved by name-U1", res.Notice)
			}
		}
		assert.Equal(t, 1, accepted)
		time.Sleep(2 * time.Second)
		settle()
		assert.Equal(t, "Deleted the branch.", r.texts(key)[2])

		// A replayed click after the continuation ran changes nothing.
		before = len(r.p.Records())
		res = click(r.rig, a.ID, "U1", bridge.Deny)
		assert.Equal(t, bridge.ActionResult{Notice: "Already approved by name-U1"}, res)
		settle()
		assert.Len(t, r.p.Records(), before)
		calls := streamRequests(t, r.srv)
		require.Len(t, calls, 2, "the agent was answered once")
		assert.Equal(t, "approve", calls[1].Query)
		assert.Equal(t, 8, r.metrics.count("approval:duplicate"))
	})
}

// TestApprovalExpiry over the real client: the card expires, the agent is
// told the real deny query, and a late click gets the expiry notice.
func TestPipeApprovalExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startPipeRig(t, approvalAgent())
		defer r.close()
		key := engKey("1")
		cardRef, a := pendingApproval(t, r.rig, key)
		time.Sleep(31 * time.Minute)
		settle()
		card := r.p.Current(cardRef).Approval
		assert.Equal(t, bridge.ApprovalExpired, card.State)
		assert.Zero(t, r.p.ButtonCount(cardRef))
		assert.Contains(t, r.p.Text(cardRef), "Expired")
		calls := streamRequests(t, r.srv)
		require.Len(t, calls, 2)
		assert.Equal(t, "deny", calls[1].Query, "the agent is told deny")
		assert.Equal(t, "Okay, not deleting.", r.texts(key)[2])
		assert.Equal(t, 1, r.metrics.count("approval:expired"))
		assert.Equal(t, "This approval request has expired.", click(r.rig, a.ID, "U1", bridge.Approve).Notice)
	})
}

// TestApprovalButtonsSurviveRestart over the real client: a second bridge
// process (new client, same API and store) continues the session.
func TestPipeApprovalButtonsSurviveRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := promptevtest.NewInMemoryServer("pk-test")
		defer srv.Close()
		srv.AddAgent("agent-1", approvalAgent())
		p := bridgetest.NewPlatform("slack", bridgetest.SlackLimits())
		st := bridgetest.NewMemStore()
		first := startPipeRigOn(t, srv, withPlatform(p), withStore(st))
		key := engKey("1")
		cardRef, a := pendingApproval(t, first.rig, key)
		require.NoError(t, first.b.Shutdown(t.Context()))
		first.close()

		second := startPipeRigOn(t, srv, withPlatform(p), withStore(st))
		defer second.close()
		assert.True(t, click(second.rig, a.ID, "U1", bridge.Approve).Accepted)
		time.Sleep(2 * time.Second)
		settle()
		assert.Equal(t, bridge.ApprovalApproved, p.Current(cardRef).Approval.State)
		assert.Equal(t, "Deleted the branch.", second.texts(key)[2])
		calls := streamRequests(t, srv)
		require.Len(t, calls, 2)
		assert.Equal(t, streamRequest{Token: calls[0].Token, Query: "approve"}, calls[1])
	})
}

// TestCrashBetweenPlaceholderAndFinalIsFinalisedOnRestart over the real
// client: the first process dies with a stream open on the API.
func TestPipeCrashBetweenPlaceholderAndFinalIsFinalisedOnRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := promptevtest.NewInMemoryServer("pk-test")
		defer srv.Close()
		srv.AddAgent("agent-1", promptevtest.Agent{Script: []promptevtest.Event{
			{Type: promptevtest.TypeProcessing, Output: "Working"},
			{Delay: 24 * time.Hour, Type: promptevtest.TypeDone, Output: "late"},
		}})
		p := bridgetest.NewPlatform("slack", bridgetest.SlackLimits())
		st := bridgetest.NewMemStore()
		first := startPipeRigOn(t, srv, withPlatform(p), withStore(st))
		key := engKey("1")
		first.send(key, "U1", "long job")
		settle()
		runs, err := st.ListRuns(t.Context())
		require.NoError(t, err)
		require.Len(t, runs, 1)
		assert.Equal(t, key, runs[0].Key)
		assert.Equal(t, first.refs(key)[0].ID, runs[0].Placeholder.ID)

		// The crash: the platform stops answering, then the process dies.
		p.SetLatency(48 * time.Hour)
		first.close()
		p.SetLatency(0)
		runs, err = st.ListRuns(t.Context())
		require.NoError(t, err)
		require.Len(t, runs, 1, "the record survives the crash")
		assert.Contains(t, first.texts(key)[0], "Working")

		second := startPipeRigOn(t, srv, withPlatform(p), withStore(st))
		defer second.close()
		settle()
		assert.Equal(t, []string{"⚠️ This run was interrupted — send your message again."}, second.texts(key))
		runs, err = st.ListRuns(t.Context())
		require.NoError(t, err)
		assert.Empty(t, runs)
		assert.Equal(t, 1, second.metrics.count("run:interrupted"))
	})
}
