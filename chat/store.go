package chat

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by Store lookups for a missing record.
var ErrNotFound = errors.New("bridge: not found")

// Mode is how a route talks to its agent.
type Mode string

// Modes.
const (
	// ModeStream starts a session and streams every turn (the default).
	ModeStream Mode = "stream"
	// ModeTrigger makes one blocking trigger call per turn.
	ModeTrigger Mode = "trigger"
)

// Conversation is the durable record of a conversation's agent session.
type Conversation struct {
	Key     ConversationKey `json:"key"`
	AgentID string          `json:"agent_id"`
	Mode    Mode            `json:"mode"`
	// SessionToken is the stream-mode session token.
	SessionToken string `json:"session_token,omitempty"`
	// SessionID is the trigger-mode session id.
	SessionID string `json:"session_id,omitempty"`
	// Visitor is the visitor id the session was started with ("slack:T1:U1").
	Visitor    string    `json:"visitor"`
	Created    time.Time `json:"created"`
	LastActive time.Time `json:"last_active"`
	Turns      int       `json:"turns"`
}

// Approval is a pending or decided approval request.
type Approval struct {
	// ID is random and opaque; buttons carry only this.
	ID  string          `json:"id"`
	Key ConversationKey `json:"key"`
	// Requester is the platform user id of the person whose message led to the request.
	Requester string `json:"requester"`
	AgentID   string `json:"agent_id"`
	Tool      string `json:"tool,omitempty"`
	// Description is the agent's request text.
	Description string `json:"description,omitempty"`
	// ArgumentsDigest is a hex SHA-256 of the tool arguments.
	ArgumentsDigest string `json:"arguments_digest,omitempty"`
	// Arguments is the truncated rendering shown on the card.
	Arguments string `json:"arguments,omitempty"`
	// Run is the id of the run that asked (its RunRecord), when it has one.
	Run string `json:"run,omitempty"`
	// Card is the approval card's message. The approval is stored before the
	// card is posted, so Card is empty until SetApprovalCard records it.
	Card      MessageRef    `json:"card"`
	Created   time.Time     `json:"created"`
	Expires   time.Time     `json:"expires"`
	State     ApprovalState `json:"state"`
	DecidedBy string        `json:"decided_by,omitempty"`
	// DecidedByName is the display name of DecidedBy, for "Approved by X".
	DecidedByName string `json:"decided_by_name,omitempty"`
	// Reason is the reason given with a denial, neutralised and cut.
	Reason string `json:"reason,omitempty"`
	// Granted is true when the approval also granted Tool for the rest of
	// the conversation (or was approved automatically by such a grant).
	Granted   bool      `json:"granted,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
}

// ApprovalDecision is how a pending approval is decided (see
// Store.DecideApprovalWith).
type ApprovalDecision struct {
	State  ApprovalState
	By     string
	ByName string
	At     time.Time
	// Reason is recorded with the decision (a denial's reason).
	Reason string
	// Grant, with State approved, also stores a Grant of the approval's
	// tool in its conversation, in the same transaction as the decision.
	Grant bool
}

// Grant lets every later request for Tool in the conversation Key be
// approved without a card. Grants never cross conversations.
type Grant struct {
	Key  ConversationKey `json:"key"`
	Tool string          `json:"tool"`
	// By and ByName are who granted it; Approval is the request whose
	// "Approve all" button did.
	By       string    `json:"by"`
	ByName   string    `json:"by_name,omitempty"`
	Approval string    `json:"approval,omitempty"`
	Created  time.Time `json:"created"`
}

// Decided reports whether the approval has left the pending state.
func (a Approval) Decided() bool { return a.State != ApprovalPending }

// InFlightRun records a run between its placeholder and its final edit, so a
// crash can be finalised at the next start-up.
type InFlightRun struct {
	Key         ConversationKey `json:"key"`
	Placeholder MessageRef      `json:"placeholder"`
	// InboundID is the platform id of the message that started the run.
	InboundID string `json:"inbound_id"`
	// RunID is the id of the run's RunRecord (empty in records written
	// before runs had one).
	RunID   string    `json:"run_id,omitempty"`
	Started time.Time `json:"started"`
}

// RunState is the state of a run as its buttons see it.
type RunState string

// Run states. A run starts running; it is waiting while an approval it
// asked for is pending; it ends finished, stopped or failed; a failed run
// whose Retry was pressed is retried.
const (
	RunRunning  RunState = "running"
	RunWaiting  RunState = "waiting"
	RunFinished RunState = "finished"
	RunStopped  RunState = "stopped"
	RunFailed   RunState = "failed"
	RunRetried  RunState = "retried"
)

// Valid reports whether s is one of the run states.
func (s RunState) Valid() bool {
	switch s {
	case RunRunning, RunWaiting, RunFinished, RunStopped, RunFailed, RunRetried:
		return true
	}
	return false
}

// RunRecord is the durable record of one run (one agent turn), for the
// buttons that act on it: Stop while it is running or waiting, Retry once
// it failed. Buttons carry only its ID.
type RunRecord struct {
	// ID is random and opaque.
	ID  string          `json:"id"`
	Key ConversationKey `json:"key"`
	// Requester is the platform user id whose message (or approval) the
	// run answers.
	Requester string `json:"requester"`
	// Query is the text the run sent to the agent (what Retry sends again).
	Query string `json:"query"`
	// Live is the run's live message (its placeholder), once posted.
	Live MessageRef `json:"live"`
	// Approval is the id of the approval request a waiting run asked for.
	Approval string `json:"approval,omitempty"`
	// Steps are the steps the live message showed when the run began to
	// wait, so a later edit (Stopped, approved) keeps them.
	Steps []Step   `json:"steps,omitempty"`
	State RunState `json:"state"`
	// Notice is the failure notice of a failed run.
	Notice string `json:"notice,omitempty"`
	// DecidedBy and DecidedByName are who stopped or retried the run.
	DecidedBy     string    `json:"decided_by,omitempty"`
	DecidedByName string    `json:"decided_by_name,omitempty"`
	DecidedAt     time.Time `json:"decided_at,omitzero"`
	Created       time.Time `json:"created"`
}

// RunMove is a state change of a RunRecord (see Store.MoveRun). Fields
// other than To are written only when not empty.
type RunMove struct {
	To       RunState
	By       string
	ByName   string
	At       time.Time
	Live     MessageRef
	Approval string
	Notice   string
	Steps    []Step
}

// Store is the bridge's durable state. Implementations must be safe for
// concurrent use; every method is one short transaction. The contract below
// is what bridgetest.RunStoreConformance checks, for every backend:
//
//   - Every method first returns ctx's error when ctx is done, and then
//     changes nothing. A store that is an io.Closer returns an error wrapping
//     ErrClosed from every method called after Close, and Close may be
//     called more than once.
//   - ErrNotFound errors name the key or id that was not found.
//   - Records read back equal what was written, with times at millisecond
//     precision or better (their location may differ).
//   - A put replaces the record under the same key (or id).
//   - Of concurrent calls, each sees the others' whole transactions or none.
type Store interface {
	// GetConversation returns the conversation stored under key, or an
	// error wrapping ErrNotFound when the key is unknown.
	GetConversation(ctx context.Context, key ConversationKey) (Conversation, error)
	// PutConversation creates or replaces the conversation under c.Key. It
	// fails for an invalid key (ConversationKey.Valid).
	PutConversation(ctx context.Context, c Conversation) error
	// DeleteConversation removes the conversation of key; an unknown key
	// is not an error.
	DeleteConversation(ctx context.Context, key ConversationKey) error

	// PutApproval creates or replaces the approval under a.ID, expiry and
	// state included. It fails for an empty id or a state that is not one
	// of the ApprovalState constants.
	PutApproval(ctx context.Context, a Approval) error
	// GetApproval returns an error wrapping ErrNotFound when the id is unknown.
	GetApproval(ctx context.Context, id string) (Approval, error)
	// SetApprovalCard records card as the approval's card message and
	// returns the record as it now is. It changes nothing else: a decision
	// (state, decided_by, decided_at) is never overwritten, so the returned
	// record tells whether a decision was made before the card was recorded
	// (Decided reports true). Raced against DecideApproval, exactly one of
	// the two sees the other's change. ErrNotFound when the id is unknown.
	SetApprovalCard(ctx context.Context, id string, card MessageRef) (Approval, error)
	// DecideApproval moves a pending approval to state (approved, denied,
	// expired or stopped), recording by, byName and at, and returns the
	// decided record with ok true. It is a compare-and-set: of any number of
	// callers, concurrent or not, exactly one gets ok true; every other gets
	// ok false and the record as the winner left it. An approval once
	// decided, in any state, is never decided again. Any other state is an
	// error and changes nothing. ErrNotFound when the id is unknown.
	DecideApproval(ctx context.Context, id string, state ApprovalState, by, byName string, at time.Time) (a Approval, ok bool, err error)
	// DecideApprovalWith is DecideApproval recording d, the reason of a
	// denial included, in the same compare-and-set. With d.Grant (and
	// state approved) the winner also stores the Grant of the approval's
	// tool in its conversation, in the same transaction, and the record's
	// Granted is set.
	DecideApprovalWith(ctx context.Context, id string, d ApprovalDecision) (a Approval, ok bool, err error)
	// ListExpiredApprovals returns up to limit pending approvals whose
	// Expires is not after now, soonest expiry first and equal expiries in
	// id order. It decides nothing. A limit of zero or less means
	// DefaultBatchLimit.
	ListExpiredApprovals(ctx context.Context, now time.Time, limit int) ([]Approval, error)

	// PutRunRecord creates or replaces the run record r.ID.
	PutRunRecord(ctx context.Context, r RunRecord) error
	// GetRunRecord returns ErrNotFound when the id is unknown.
	GetRunRecord(ctx context.Context, id string) (RunRecord, error)
	// MoveRun is the run records' compare-and-set: when the run's state is
	// one of from, it applies m (state m.To, and every non-empty field of
	// m) and returns the new record with ok true. Otherwise it changes
	// nothing and returns the current record with ok false, so of two
	// concurrent moves out of one state exactly one succeeds. ErrNotFound
	// when the id is unknown.
	MoveRun(ctx context.Context, id string, from []RunState, m RunMove) (r RunRecord, ok bool, err error)
	// SweepRunRecords deletes up to limit records of runs that ended
	// (finished, stopped, retried, failed) and were created before
	// before, and returns how many.
	SweepRunRecords(ctx context.Context, before time.Time, limit int) (int, error)

	// GetGrant returns the grant of tool in the conversation key, or
	// ErrNotFound.
	GetGrant(ctx context.Context, key ConversationKey, tool string) (Grant, error)
	// ListGrants returns every grant, by conversation then tool.
	ListGrants(ctx context.Context) ([]Grant, error)
	// DeleteGrant revokes the grant of tool in key; ErrNotFound when there
	// is none.
	DeleteGrant(ctx context.Context, key ConversationKey, tool string) error

	// PutRun records the in-flight run of r.Key, replacing an earlier one
	// (one per conversation). It fails for an invalid key.
	PutRun(ctx context.Context, r InFlightRun) error
	// DeleteRun forgets the in-flight run of key; an unknown key is not an
	// error.
	DeleteRun(ctx context.Context, key ConversationKey) error
	// ListRuns returns every in-flight run, oldest Started first and equal
	// starts in key (String) order.
	ListRuns(ctx context.Context) ([]InFlightRun, error)

	// SeenOrMark atomically checks and marks the dedupe keys of one message
	// (all its ids: a Slack mention has an event id and a channel+ts). It
	// returns true when any of keys is marked and its mark has not expired
	// at now (a mark expires at its expiry: it is live strictly before). In
	// the same transaction, whatever it returns, every key that is not
	// marked or whose mark expired is marked until now+ttl; unexpired marks
	// keep their expiry (a hit never extends one). A key given twice counts
	// once. Of concurrent calls sharing a key, exactly one returns false.
	// keys must be non-empty and hold no empty key, and ttl must be
	// positive; otherwise it is an error and nothing is marked.
	SeenOrMark(ctx context.Context, keys []string, ttl time.Duration, now time.Time) (seen bool, err error)
	// SweepDedupe deletes up to limit dedupe marks that expired at or
	// before now and returns how many; call it again while it returns
	// limit. It never deletes a live mark, even racing SeenOrMark. A limit
	// of zero or less means DefaultBatchLimit.
	SweepDedupe(ctx context.Context, now time.Time, limit int) (int, error)

	// FeedbackStore keeps the ratings of answers.
	FeedbackStore
}

// ApplyRunMove returns r changed by m: state m.To and every non-empty field
// of m. Stores use it so that every backend moves runs alike.
func ApplyRunMove(r RunRecord, m RunMove) RunRecord {
	r.State = m.To
	if m.By != "" {
		r.DecidedBy = m.By
	}
	if m.ByName != "" {
		r.DecidedByName = m.ByName
	}
	if !m.At.IsZero() {
		r.DecidedAt = m.At
	}
	if m.Live.ID != "" {
		r.Live = m.Live
	}
	if m.Approval != "" {
		r.Approval = m.Approval
	}
	if m.Notice != "" {
		r.Notice = m.Notice
	}
	if len(m.Steps) > 0 {
		r.Steps = append([]Step(nil), m.Steps...)
	}
	return r
}

// RunEnded reports whether a run in state s has ended (no Stop applies).
func RunEnded(s RunState) bool {
	return s != RunRunning && s != RunWaiting
}
