package bridge_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

// faultStore is a MemStore that records the dedupe calls it gets and can
// fail SetApprovalCard.
type faultStore struct {
	*bridgetest.MemStore
	setCardErr error

	mu    sync.Mutex
	dedup [][]string
}

var _ chat.Store = (*faultStore)(nil)

func (s *faultStore) SetApprovalCard(ctx context.Context, id string, card chat.MessageRef) (chat.Approval, error) {
	if s.setCardErr != nil {
		return chat.Approval{}, s.setCardErr
	}
	return s.MemStore.SetApprovalCard(ctx, id, card)
}

func (s *faultStore) SeenOrMark(ctx context.Context, keys []string, ttl time.Duration, now time.Time) (bool, error) {
	s.mu.Lock()
	s.dedup = append(s.dedup, slices.Clone(keys))
	s.mu.Unlock()
	return s.MemStore.SeenOrMark(ctx, keys, ttl, now)
}

// dedupeCalls returns the keys of every SeenOrMark call, in order.
func (s *faultStore) dedupeCalls() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dedup)
}

// cardClicker clicks an approval card from inside the platform's Post, at a
// chosen stage of the card's post: the click lands between the approval
// being stored and the card's ref being recorded.
type cardClicker struct {
	stage    bridgetest.PostStage
	decision chat.ActionKind
	failPost error // when set, the card's post fails with it
	// loseResponse, when set, is what the card's post answers once the card
	// is posted (the response was lost).
	loseResponse error

	mu      sync.Mutex
	b       *bridge.Bridge
	p       *bridgetest.Platform
	id      string
	results []chat.ActionResult
	errs    []error
}

func (c *cardClicker) hook(stage bridgetest.PostStage, _ chat.ConversationKey, msg chat.Message, ref chat.MessageRef) {
	if msg.Kind != chat.KindApproval || msg.Approval == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.id = msg.Approval.ID
	if stage == bridgetest.BeforePost && c.failPost != nil {
		c.p.FailNext(c.failPost)
	}
	if stage == bridgetest.BeforePost && c.loseResponse != nil {
		c.p.LoseNextPostResponse(c.loseResponse)
	}
	if stage != c.stage || c.decision == "" || len(c.results)+len(c.errs) > 0 {
		return
	}
	// After the post the click names its card, as a platform's click does:
	// the card is still closed once, by the path that is posting it.
	res, err := c.b.HandleAction(context.Background(), chat.Action{
		Platform: "slack", Kind: c.decision, Target: msg.Approval.ID,
		User: chat.User{ID: "U1", Name: "name-U1"}, Card: ref,
	})
	if err != nil {
		c.errs = append(c.errs, err)
		return
	}
	c.results = append(c.results, res)
}

func (c *cardClicker) approvalID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// startClickRig starts a rig whose platform calls c at every post and whose
// store is st.
func startClickRig(t *testing.T, agent bridge.Agent, c *cardClicker, st *faultStore) *rig {
	c.p = bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits(),
		bridgetest.WithServerLimits(bridgetest.WorkspaceServerLimits()...), bridgetest.WithPostHook(c.hook))
	r := startRig(t, agent, withPlatform(c.p), withStore(st.MemStore), withBackingStore(st))
	c.mu.Lock()
	c.b = r.b
	c.mu.Unlock()
	return r
}

// sendToCard starts a click rig with c and st, sends the message whose agent
// asks for approval, and lets the bridge settle past the card's post.
func sendToCard(t *testing.T, c *cardClicker, st *faultStore) (*rig, *fakeAgent, chat.ConversationKey) {
	t.Helper()
	agent := newFakeAgent(approvalScript)
	r := startClickRig(t, agent, c, st)
	key := engKey("1")
	r.send(key, "U1", "clean up branches")
	time.Sleep(5 * time.Second)
	settle()
	return r, agent, key
}

// cardEdits counts the edits the card ref received.
func cardEdits(p *bridgetest.Platform, card chat.MessageRef) int {
	n := 0
	for _, rec := range p.Applied(bridgetest.OpEdit) {
		if rec.Ref.ID == card.ID {
			n++
		}
	}
	return n
}

// A click that arrives after the approval is stored but before the bridge
// knows the card's ref (before or after the platform applied the post) is
// accepted; the card ends decided with no buttons, edited exactly once, and
// the agent is answered exactly once.
func TestApprovalClickWhileCardIsPosted(t *testing.T) {
	tests := []struct {
		name      string
		stage     bridgetest.PostStage
		decision  chat.ActionKind
		wantState chat.ApprovalState
		wantText  string
		wantQuery string
		wantReply string
	}{
		{"approve before the post is applied", bridgetest.BeforePost, chat.Approve, chat.ApprovalApproved, "Approved by name-U1", "approve", "Deleted the branch."},
		{"approve before the post returns", bridgetest.AfterPost, chat.Approve, chat.ApprovalApproved, "Approved by name-U1", "approve", "Deleted the branch."},
		{"deny before the post returns", bridgetest.AfterPost, chat.Deny, chat.ApprovalDenied, "Denied by name-U1", "deny", "Okay, not deleting."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := &cardClicker{stage: tt.stage, decision: tt.decision}
				st := &faultStore{MemStore: bridgetest.NewMemStore()}
				r, agent, key := sendToCard(t, c, st)
				defer r.stop()

				require.Empty(t, c.errs)
				require.Equal(t, []chat.ActionResult{{Accepted: true}}, c.results, "the click found the stored approval")
				msgs := r.p.Messages(key)
				require.Len(t, msgs, 3, "placeholder, card, the continuation's answer")
				card := msgs[1].Ref
				assert.Equal(t, tt.wantState, r.p.Current(card).Approval.State)
				assert.Contains(t, r.p.Text(card), tt.wantText)
				assert.Zero(t, r.p.ButtonCount(card), "no buttons on a decided card")
				assert.Equal(t, 1, cardEdits(r.p, card), "exactly one path edits the card")

				calls := agent.Streams()
				require.Len(t, calls, 2, "exactly one continuation")
				assert.Equal(t, tt.wantQuery, calls[1].Query)
				assert.Equal(t, tt.wantReply, r.p.Text(msgs[2].Ref))
				assert.Equal(t, 1, r.metrics.count("approval:"+string(tt.wantState)))

				stored, err := r.store.GetApproval(t.Context(), c.approvalID())
				require.NoError(t, err)
				assert.Equal(t, tt.wantState, stored.State)
				assert.Equal(t, "U1", stored.DecidedBy)
				assert.Equal(t, card.ID, stored.Card.ID, "the card ref is recorded, the decision kept")

				// A second click changes nothing.
				before := len(r.p.Records())
				assert.Equal(t, chat.ActionResult{Notice: "Already " + map[chat.ActionKind]string{chat.Approve: "approved", chat.Deny: "denied"}[tt.decision] + " by name-U1"},
					click(r, c.approvalID(), "U1", chat.Approve))
				settle()
				assert.Len(t, r.p.Records(), before)
				assert.Len(t, agent.Streams(), 2)
			})
		})
	}
}

// Without a click during the post, the card is recorded as usual and a later
// click edits it through the decision's own path (once).
func TestApprovalCardRecordedBeforeClick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(approvalScript)
		c := &cardClicker{}
		st := &faultStore{MemStore: bridgetest.NewMemStore()}
		r := startClickRig(t, agent, c, st)
		defer r.stop()
		key := engKey("1")
		cardRef, a := pendingApproval(t, r, key)
		assert.Equal(t, cardRef.ID, a.Card.ID)
		assert.Equal(t, chat.ApprovalPending, a.State)
		assert.Zero(t, cardEdits(r.p, cardRef))
		assert.True(t, click(r, a.ID, "U1", chat.Approve).Accepted)
		time.Sleep(2 * time.Second)
		settle()
		assert.Contains(t, r.p.Text(cardRef), "Approved by name-U1")
		assert.Equal(t, 1, cardEdits(r.p, cardRef))
		assert.Len(t, agent.Streams(), 2)
	})
}

// A card whose post fails leaves no clickable request behind: the stored
// approval is expired, the run ends with a failure notice, and the agent is
// not answered.
func TestApprovalCardPostFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &cardClicker{failPost: errors.New("channel_not_found")}
		st := &faultStore{MemStore: bridgetest.NewMemStore()}
		r, agent, key := sendToCard(t, c, st)
		defer r.stop()

		texts := r.texts(key)
		require.Len(t, texts, 1, "no card was posted")
		assert.Contains(t, texts[0], "the request could not be shown")
		require.NotEmpty(t, c.approvalID())
		stored, err := r.store.GetApproval(t.Context(), c.approvalID())
		require.NoError(t, err)
		assert.Equal(t, chat.ApprovalExpired, stored.State)
		assert.Empty(t, stored.Card.ID)
		assert.Equal(t, 1, r.metrics.count("run:error"))

		assert.Equal(t, "This approval request has expired.", click(r, c.approvalID(), "U1", chat.Approve).Notice)
		time.Sleep(time.Minute) // past an expiry sweep
		settle()
		assert.Len(t, agent.Streams(), 1, "the agent is never answered")
		runs, err := r.store.ListRuns(t.Context())
		require.NoError(t, err)
		assert.Empty(t, runs)
	})
}

// When the card is posted but its ref cannot be recorded, the request is
// withdrawn and the card closed, unless a click decided it first: then the
// decision stands, the card shows it and the agent is answered once.
func TestApprovalCardNotRecorded(t *testing.T) {
	tests := []struct {
		name      string
		decision  chat.ActionKind
		wantState chat.ApprovalState
		wantText  string
		wantRuns  int
		wantError int
	}{
		{"no click: withdrawn", "", chat.ApprovalExpired, "Expired", 1, 1},
		{"click during the post: decision kept", chat.Approve, chat.ApprovalApproved, "Approved by name-U1", 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := &cardClicker{stage: bridgetest.AfterPost, decision: tt.decision}
				st := &faultStore{MemStore: bridgetest.NewMemStore(), setCardErr: errors.New("disk full")}
				r, agent, key := sendToCard(t, c, st)
				defer r.stop()

				msgs := r.p.Messages(key)
				require.GreaterOrEqual(t, len(msgs), 2)
				card := msgs[1].Ref
				assert.Equal(t, tt.wantState, r.p.Current(card).Approval.State)
				assert.Contains(t, r.p.Text(card), tt.wantText)
				assert.Zero(t, r.p.ButtonCount(card))
				assert.Equal(t, 1, cardEdits(r.p, card), "exactly one path edits the card")
				stored, err := r.store.GetApproval(t.Context(), c.approvalID())
				require.NoError(t, err)
				assert.Equal(t, tt.wantState, stored.State)
				assert.Len(t, agent.Streams(), tt.wantRuns)
				assert.Equal(t, tt.wantError, r.metrics.count("run:error"))
				if tt.wantError > 0 {
					assert.Contains(t, r.p.Text(msgs[0].Ref), "the request could not be shown")
				}
			})
		})
	}
}

// When the card's post fails after the card was shown (its response lost),
// the request is withdrawn and the run ends with a failure notice, unless a
// click decided it during the post: then the decision stands, the card the
// click named is closed once and the agent is answered once.
func TestApprovalCardPostResponseLost(t *testing.T) {
	tests := []struct {
		name       string
		decision   chat.ActionKind
		wantState  chat.ApprovalState
		wantText   string
		wantEdits  int
		wantRuns   int
		wantErrors int
	}{
		{"no click: withdrawn", "", chat.ApprovalExpired, "Delete branch", 0, 1, 1},
		{"click during the post: decision kept, card closed", chat.Approve, chat.ApprovalApproved, "Approved by name-U1", 1, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := &cardClicker{stage: bridgetest.AfterPost, decision: tt.decision, loseResponse: errors.New("request timed out")}
				st := &faultStore{MemStore: bridgetest.NewMemStore()}
				r, agent, key := sendToCard(t, c, st)
				defer r.stop()

				msgs := r.p.Messages(key)
				require.GreaterOrEqual(t, len(msgs), 2, "the card was posted")
				card := msgs[1].Ref
				require.Equal(t, chat.KindApproval, r.p.Current(card).Kind)
				assert.Contains(t, r.p.Text(card), tt.wantText)
				assert.Equal(t, tt.wantEdits, cardEdits(r.p, card))
				stored, err := r.store.GetApproval(t.Context(), c.approvalID())
				require.NoError(t, err)
				assert.Equal(t, tt.wantState, stored.State)
				assert.Len(t, agent.Streams(), tt.wantRuns)
				assert.Equal(t, tt.wantErrors, r.metrics.count("run:error"))
				if tt.decision != "" {
					assert.Zero(t, r.p.ButtonCount(card), "the decided card has no buttons")
					assert.Equal(t, []chat.ActionResult{{Accepted: true}}, c.results)
					assert.Equal(t, "Deleted the branch.", r.p.Text(msgs[len(msgs)-1].Ref))
				} else {
					assert.Contains(t, r.p.Text(msgs[0].Ref), "the request could not be shown")
				}
			})
		})
	}
}

// Slack delivers an @mention as app_mention and as message: other event ids,
// the same channel and ts. Each delivery costs the bridge one store call with
// both of its keys, the twin is dropped, and a retry of either is dropped.
func TestDedupeTwinOneStoreCallPerMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		agent := newFakeAgent(replyWith("ok"))
		st := &faultStore{MemStore: bridgetest.NewMemStore()}
		r := startRig(t, agent, withStore(st.MemStore), withBackingStore(st))
		defer r.stop()
		ctx := context.Background()
		key := engKey("10.1")
		mention := chat.InboundMessage{Key: key, User: chat.User{ID: "U1"}, Text: "hi", MessageID: "10.1", EventID: "Ev1", Mentioned: true}
		twin := mention
		twin.EventID, twin.Mentioned = "Ev2", false
		for _, m := range []chat.InboundMessage{mention, twin, twin, mention} {
			require.NoError(t, r.b.HandleMessage(ctx, m))
		}
		settle()
		assert.Equal(t, []string{"ok"}, r.texts(key))
		assert.Len(t, agent.Streams(), 1)
		assert.Equal(t, 3, r.metrics.count("dedupe"))
		assert.Equal(t, [][]string{
			{"slack:event:Ev1", "slack:msg:C1:10.1"},
			{"slack:event:Ev2", "slack:msg:C1:10.1"},
			{"slack:event:Ev2", "slack:msg:C1:10.1"},
			{"slack:event:Ev1", "slack:msg:C1:10.1"},
		}, st.dedupeCalls(), "one call per delivery, with all its keys")

		// A delivery without ids is not deduped and costs no store call.
		bare := chat.InboundMessage{Key: engKey("11.1"), User: chat.User{ID: "U1"}, Text: "hi", Mentioned: true}
		require.NoError(t, r.b.HandleMessage(ctx, bare))
		settle()
		assert.Len(t, st.dedupeCalls(), 4)
	})
}
