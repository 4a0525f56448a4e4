package chat

import (
	"context"
	"time"
)

// Platform is a chat service the bridge posts to. Implementations live in
// adapters/...; they translate Message values into native messages and nothing
// more: throttling, splitting and retries are the bridge's job.
//
// Post and Edit return *RateLimitError when the platform refused the request
// with a retry-after (HTTP 429); the bridge then pauses the matching budget.
// They must not retry or sleep internally.
type Platform interface {
	// Name is the platform name used in ConversationKey.Platform.
	Name() string
	// Limits describes the platform's message size and rate budgets.
	Limits() Limits
	// Post posts a new message in the conversation (in its thread).
	Post(ctx context.Context, key ConversationKey, msg Message) (MessageRef, error)
	// Edit replaces the content of a message the bridge posted earlier.
	Edit(ctx context.Context, ref MessageRef, msg Message) error
}

// Scope says which messages share a rate budget.
type Scope int

// Budget scopes.
const (
	// ScopeWorkspace: one budget for the whole workspace (Slack chat.update).
	ScopeWorkspace Scope = iota
	// ScopeChannel: one budget per channel (Discord, Slack posts).
	ScopeChannel
)

// Rate is a token-bucket budget: Burst requests at once, refilled at Count per Per.
type Rate struct {
	Count int
	Per   time.Duration
	Burst int
}

// Limits describes a platform's constraints. The bridge enforces them before
// sending, so a well-behaved adapter never sees "message too long" or a 429 in
// normal operation.
type Limits struct {
	// MaxMessageChars is the most characters (runes) of Body one message may carry.
	MaxMessageChars int
	// MinEditInterval is the least time between two edits of one message.
	MinEditInterval time.Duration
	// EditRate and EditScope are the budget for edits.
	EditRate  Rate
	EditScope Scope
	// PostRate and PostScope are the budget for new messages.
	PostRate  Rate
	PostScope Scope
	// SharedBudget is true when posts and edits draw from one budget (Discord's
	// per-channel write limit); PostRate and PostScope are then ignored.
	SharedBudget bool
	// MaxEditAge, when not zero, is the age after which a message is no longer
	// edited; a new message is posted instead (Discord: about 55 minutes).
	MaxEditAge time.Duration
	// ThreadScope makes every thread its own channel scope: the posts and
	// edits of a conversation with a Thread are budgeted on the thread, not
	// on its parent channel (Discord: a thread is a channel with its own
	// buckets).
	ThreadScope bool
	// GlobalRate, when set, is a bot-wide budget every write passes through
	// as well as its scope's (Discord: 50 requests per second per bot).
	// Status edits and tidy-ups leave part of its burst to finals and posts.
	GlobalRate Rate
}

// RateLimitError is returned by Platform calls refused with a retry-after.
type RateLimitError struct {
	RetryAfter time.Duration
	// Scope, when not empty, names what was limited (for logs).
	Scope string
	// Global is true when the platform's bot-wide limit was hit: every
	// budget pauses, not only the one of the refused write.
	Global bool
}

func (e *RateLimitError) Error() string {
	return "rate limited: retry after " + e.RetryAfter.String()
}

// Ephemeral is implemented by platforms that can show a notice to one user only.
// Without it, notices for one user are posted in the conversation.
type Ephemeral interface {
	Ephemeral(ctx context.Context, key ConversationKey, userID string, text string) error
}

// StatusSetter is implemented by platforms with a native "working" indicator
// (an assistant thread status, a typing indicator). Status "" clears it.
type StatusSetter interface {
	SetStatus(ctx context.Context, key ConversationKey, status string) error
}

// Buttons is implemented by platforms that render ApprovalCard buttons that
// come back as Actions. Without it, the card says how to decide on that platform.
type Buttons interface {
	// ButtonsSupported reports whether approval cards get working buttons.
	ButtonsSupported() bool
}

// ThreadStarter is implemented by platforms on which the first post of a
// thread conversation first creates the thread with a write on its parent
// channel (Discord). With Limits.ThreadScope the bridge then budgets that
// write on the parent channel as well.
type ThreadStarter interface {
	// NeedsThread reports whether the next post into key creates its thread.
	NeedsThread(key ConversationKey) bool
}

// RequestCounter counts platform requests refused as invalid (HTTP 401, 403
// and 429); route is the method and path with ids replaced. Platforms that
// ban clients for many invalid requests (Discord) report them.
type RequestCounter interface {
	InvalidRequest(platform, route string, status int)
}

// RequestCounted is implemented by adapters that report invalid requests to
// a RequestCounter set before Run.
type RequestCounted interface {
	SetRequestCounter(c RequestCounter)
}

// Deleter is implemented by platforms that can delete a message the bridge posted.
type Deleter interface {
	Delete(ctx context.Context, ref MessageRef) error
}

// MentionGuard is implemented by platforms whose message syntax can ping
// people. The bridge passes every piece of agent text through
// NeutralizeMentions before it reaches the platform; without it, agent text
// is sent as it is. Adapters apply their own rule again to whatever they send,
// so it must be idempotent.
type MentionGuard interface {
	// NeutralizeMentions returns text that looks the same but pings nobody.
	NeutralizeMentions(text string) string
}

// VisitorNamer is implemented by platforms whose user ids are not unique on
// their own (per workspace, for example). The bridge starts each agent
// session with the visitor id VisitorID returns; without it, the id is
// DefaultVisitorID.
type VisitorNamer interface {
	VisitorID(key ConversationKey, u User) string
}

// DefaultVisitorID is the visitor id of a user on a platform without a
// VisitorNamer: "platform:userID".
func DefaultVisitorID(key ConversationKey, u User) string { return key.Platform + ":" + u.ID }

// Handler is what adapters call with inbound traffic. *Bridge implements it.
//
// Both methods return quickly and do no network I/O on the caller's goroutine
// beyond the store, so adapters may call them before acknowledging.
type Handler interface {
	// HandleMessage dedupes the message and queues it on its conversation.
	HandleMessage(ctx context.Context, msg InboundMessage) error
	// HandleAction applies a button click exactly once and tells the adapter
	// how to answer the clicker.
	HandleAction(ctx context.Context, act Action) (ActionResult, error)
}

// Adapter is a Platform with a connection of its own: it runs until ctx ends
// or a fatal error (bad token, disallowed intents) happens, and hands inbound
// traffic to h.
type Adapter interface {
	Platform
	Run(ctx context.Context, h Handler) error
	// Ready reports whether the adapter is connected (for /readyz).
	Ready() bool
}
