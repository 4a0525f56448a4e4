package chat

import (
	"context"
	"errors"
	"time"
)

// ErrLeaseLost is returned (wrapped) by a lease's renewal once another
// replica holds it, and by every write fenced by a lease that is no longer
// held with its token.
var ErrLeaseLost = errors.New("chat: lease lost")

// Lease is one replica's hold on a named resource: a conversation
// ("conv:<key>") or a gateway shard. Expiry is kept
// on the store's clock, so replicas' clocks need not agree.
type Lease struct {
	Name  string `json:"name"`
	Owner string `json:"owner"`
	// Token is the fencing token: every acquisition by a new owner (a
	// first one or a takeover) gets a token greater than any earlier token
	// of the name; a renewal keeps it.
	Token   int64     `json:"token"`
	Expires time.Time `json:"expires"`
}

// Leaser is the ability of a store shared by several replicas
// (PostgreSQL) to hand out leases with fencing tokens.
type Leaser interface {
	// AcquireLease gives owner the lease on name for ttl when nobody holds
	// it, when its holder's lease has expired, or when owner holds it
	// already (a renewal, which keeps the token). Otherwise ok is false and
	// l is the live holder's lease.
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (l Lease, ok bool, err error)
	// RenewLease extends l for ttl from now when l.Owner still holds it
	// with l.Token; otherwise it changes nothing and returns an error
	// wrapping ErrLeaseLost.
	RenewLease(ctx context.Context, l Lease, ttl time.Duration) (Lease, error)
	// ReleaseLease gives l back: it expires at once when it is still held
	// with l.Token. A lease taken over meanwhile is left alone, and that is
	// not an error.
	ReleaseLease(ctx context.Context, l Lease) error
	// ListLeases returns every lease whose name starts with prefix,
	// expired ones included, by name.
	ListLeases(ctx context.Context, prefix string) ([]Lease, error)
	// SweepLeases deletes up to limit leases that expired more than age
	// ago (on the store's clock) and returns how many. Tokens are never
	// given twice, so a deleted lease taken again gets a greater one.
	SweepLeases(ctx context.Context, age time.Duration, limit int) (int, error)
}

// LeaseRenewal is how a holder keeps a lease of ttl: it renews it every
// third of the ttl, and may assume it held for four fifths of the ttl after
// asking for its last successful renewal (the rest is a margin for the
// call's own time and for clocks that run at slightly different rates).
func LeaseRenewal(ttl time.Duration) (every, heldFor time.Duration) {
	return ttl / 3, ttl - ttl/5
}

// Fence is the lease a write is made under. A store that is a Leaser
// refuses a write whose context carries a Fence (WithFence) when the lease
// Name is no longer held with Token, in the same transaction as the write,
// with an error wrapping ErrLeaseLost. Writers to a platform, which cannot
// check tokens, ask Held instead before each request.
type Fence struct {
	Name  string
	Token int64
	// Held reports whether this replica may still assume it holds the
	// lease (the lease's expiry, by the local monotonic clock, with a
	// margin); nil means it does.
	Held func() bool
}

// Check returns an error wrapping ErrLeaseLost when the fence's lease can
// no longer be assumed held.
func (f Fence) Check() error {
	if f.Held != nil && !f.Held() {
		return errFenced
	}
	return nil
}

var errFenced = &fencedError{}

type fencedError struct{}

func (*fencedError) Error() string { return "chat: write refused: " + ErrLeaseLost.Error() }
func (*fencedError) Unwrap() error { return ErrLeaseLost }

type fenceKey struct{}

// WithFence returns ctx carrying f: the writes made with it are fenced.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// FenceFrom returns the fence ctx carries, if any.
func FenceFrom(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok
}

// CheckFence returns the error of ctx's fence (nil without one): writers
// to a platform call it before each request.
func CheckFence(ctx context.Context) error {
	if f, ok := FenceFrom(ctx); ok {
		return f.Check()
	}
	return nil
}

// Queued is a turn waiting in the store for its conversation's owner.
type Queued struct {
	// Seq is the turn's place, given by the store: a conversation's turns
	// run in Seq order.
	Seq       int64           `json:"seq"`
	Key       ConversationKey `json:"key"`
	User      User            `json:"user"`
	Query     string          `json:"query"`
	InboundID string          `json:"inbound_id,omitempty"`
	Received  time.Time       `json:"received"`
	// Approval is the id of the decided approval whose continuation this
	// turn is (empty for a message).
	Approval string `json:"approval,omitempty"`
}

// Inbox is the ability of a shared store to queue turns for the replica
// that owns their conversation.
type Inbox interface {
	// AcceptQueued marks the dedupe keys of a message as SeenOrMark does
	// and, when none had been seen, appends q to its conversation's queue,
	// in the same transaction: a redelivery to any replica is either seen
	// or queued, never both and never neither. A conversation already
	// holding limit queued turns (when limit is positive) is full: the
	// keys are marked, q is not queued, and full is true. With no keys it
	// only appends.
	AcceptQueued(ctx context.Context, keys []string, ttl time.Duration, now time.Time, q Queued, limit int) (seen, full bool, err error)
	// NextQueued returns the first turn queued for key, or ErrNotFound.
	NextQueued(ctx context.Context, key ConversationKey) (Queued, error)
	// StartQueued removes turn seq from the queue and records r as its
	// conversation's in-flight run (as PutRun), in one transaction; a turn
	// that is no longer queued is ErrNotFound and records nothing.
	StartQueued(ctx context.Context, seq int64, r InFlightRun) error
	// DropQueued removes turn seq from the queue; an unknown seq is not an
	// error.
	DropQueued(ctx context.Context, seq int64) error
	// CountQueued returns how many turns wait for key.
	CountQueued(ctx context.Context, key ConversationKey) (int, error)
	// GetRun returns the in-flight run of key, or ErrNotFound.
	GetRun(ctx context.Context, key ConversationKey) (InFlightRun, error)
	// Orphans returns what no replica is running: the in-flight runs, oldest
	// first, and the conversations with queued turns, oldest turn first,
	// whose conversation lease (ConversationLease) is not held (never
	// taken, released, or expired on the store's clock).
	Orphans(ctx context.Context) (runs []InFlightRun, queued []ConversationKey, err error)
}

// ConversationLease is the name of the lease of the conversation key: its
// holder is the one replica that runs the conversation's turns.
func ConversationLease(key ConversationKey) string { return "conv:" + key.String() }

// Signal is a short message from one replica to all of them.
type Signal struct {
	Topic   string
	Payload string
}

// Signaler is the ability of a shared store to pass signals between
// replicas (PostgreSQL's LISTEN/NOTIFY).
type Signaler interface {
	// Publish sends s to every subscriber, this replica's included.
	Publish(ctx context.Context, s Signal) error
	// Subscribe delivers the signals published from now on until ctx
	// ends; the channel is closed then. Signals may be lost while the
	// connection is re-established: subscribers must not rely on them
	// alone.
	Subscribe(ctx context.Context) (<-chan Signal, error)
}

// Cluster is a store that several replicas share: with one, the bridge
// gives each conversation one owner at a time.
type Cluster interface {
	Store
	Leaser
	Inbox
	Signaler
}
