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
	// Card is the approval card's message. The approval is stored before the
	// card is posted, so Card is empty until SetApprovalCard records it.
	Card      MessageRef    `json:"card"`
	Created   time.Time     `json:"created"`
	Expires   time.Time     `json:"expires"`
	State     ApprovalState `json:"state"`
	DecidedBy string        `json:"decided_by,omitempty"`
	// DecidedByName is the display name of DecidedBy, for "Approved by X".
	DecidedByName string    `json:"decided_by_name,omitempty"`
	DecidedAt     time.Time `json:"decided_at,omitzero"`
}

// Decided reports whether the approval has left the pending state.
func (a Approval) Decided() bool { return a.State != ApprovalPending }

// InFlightRun records a run between its placeholder and its final edit, so a
// crash can be finalised at the next start-up.
type InFlightRun struct {
	Key         ConversationKey `json:"key"`
	Placeholder MessageRef      `json:"placeholder"`
	// InboundID is the platform id of the message that started the run.
	InboundID string    `json:"inbound_id"`
	Started   time.Time `json:"started"`
}

// Store is the bridge's durable state. Implementations must be safe for
// concurrent use; every method is a short local transaction (no network I/O).
type Store interface {
	// GetConversation returns ErrNotFound when the key is unknown.
	GetConversation(ctx context.Context, key ConversationKey) (Conversation, error)
	PutConversation(ctx context.Context, c Conversation) error
	DeleteConversation(ctx context.Context, key ConversationKey) error

	PutApproval(ctx context.Context, a Approval) error
	// GetApproval returns ErrNotFound when the id is unknown.
	GetApproval(ctx context.Context, id string) (Approval, error)
	// SetApprovalCard records card as the approval's card message and
	// returns the record as it now is. It changes nothing else: a decision
	// (state, decided_by, decided_at) is never overwritten, so the returned
	// record tells whether a decision was made before the card was recorded
	// (Decided reports true). ErrNotFound when the id is unknown.
	SetApprovalCard(ctx context.Context, id string, card MessageRef) (Approval, error)
	// DecideApproval moves a pending approval to state (approved, denied or
	// expired), recording by and at. It succeeds for exactly one caller:
	// ok is false (and the current record is returned) when the approval had
	// already left the pending state. ErrNotFound when the id is unknown.
	DecideApproval(ctx context.Context, id string, state ApprovalState, by, byName string, at time.Time) (a Approval, ok bool, err error)
	// ListExpiredApprovals returns up to limit pending approvals whose Expires is not after now.
	ListExpiredApprovals(ctx context.Context, now time.Time, limit int) ([]Approval, error)

	PutRun(ctx context.Context, r InFlightRun) error
	DeleteRun(ctx context.Context, key ConversationKey) error
	ListRuns(ctx context.Context) ([]InFlightRun, error)

	// SeenOrMark atomically checks and marks the dedupe keys of one message
	// (all its ids: a Slack mention has an event id and a channel+ts). It
	// returns true when any of keys is marked and its mark has not expired
	// at now. In the same transaction, whatever it returns, every key that is
	// not marked or whose mark expired is marked until now+ttl; unexpired
	// marks keep their expiry. Of two concurrent calls sharing a key, exactly
	// one returns false. keys must be non-empty and hold no empty key; ttl
	// must be positive.
	SeenOrMark(ctx context.Context, keys []string, ttl time.Duration, now time.Time) (seen bool, err error)
	// SweepDedupe deletes up to limit expired dedupe entries and returns how many.
	SweepDedupe(ctx context.Context, now time.Time, limit int) (int, error)
}
