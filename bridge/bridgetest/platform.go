package bridgetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/promptev/promptev-bridge/chat"
)

// Op names a platform operation in a Record or a ServerLimit.
type Op string

// Operations.
const (
	OpPost      Op = "post"
	OpEdit      Op = "edit"
	OpDelete    Op = "delete"
	OpEphemeral Op = "ephemeral"
	OpStatus    Op = "status"
	// OpWrite, in a ServerLimit, meters posts and edits together.
	OpWrite Op = "write"
)

// Errors the fake platform answers with.
var (
	// ErrTooLong is returned for a message whose Body exceeds Limits.MaxMessageChars.
	ErrTooLong = errors.New("bridgetest: msg_too_long")
	// ErrMessageNotFound is returned for an edit or delete of an unknown message.
	ErrMessageNotFound = errors.New("bridgetest: message_not_found")
)

// ServerLimit is a rate limit the fake server enforces on its own: at most Max
// requests of Op within any Window, per workspace or per channel. A request
// over it is answered with *chat.RateLimitError whose RetryAfter is when
// the window frees up.
type ServerLimit struct {
	Op     Op
	Scope  chat.Scope
	Max    int
	Window time.Duration
}

// Record is one request the platform received, in arrival order.
type Record struct {
	Op   Op
	Time time.Time
	Key  chat.ConversationKey
	// Ref is the posted message's ref (post) or the target (edit, delete).
	Ref chat.MessageRef
	// Message is the message sent (post, edit).
	Message chat.Message
	// User and Text are the recipient and text of an ephemeral notice, or the
	// status text (OpStatus).
	User string
	Text string
	// Err is the error answered; nil when the request was applied.
	Err error
	// ServerLimited is true when Err is a 429 from a ServerLimit (not injected).
	ServerLimited bool
}

// Posted is a message as the platform now holds it.
type Posted struct {
	Ref     chat.MessageRef
	Message chat.Message
	// Edits is how many edits the message received.
	Edits   int
	Deleted bool
}

// PlatformOption configures a Platform.
type PlatformOption func(*Platform)

// WithServerLimits makes the platform enforce the given rate limits.
func WithServerLimits(limits ...ServerLimit) PlatformOption {
	return func(p *Platform) { p.server = append(p.server, limits...) }
}

// WithoutButtons makes ButtonsSupported report false.
func WithoutButtons() PlatformOption {
	return func(p *Platform) { p.noButtons = true }
}

// WithMentions gives the platform its own mention rule (its
// NeutralizeMentions); without it the platform uses Mentions.
func WithMentions(fn func(string) string) PlatformOption {
	return func(p *Platform) { p.mentions = fn }
}

// WithVisitorID gives the platform its own visitor id rule (its VisitorID);
// without it the platform uses chat.DefaultVisitorID.
func WithVisitorID(fn func(chat.ConversationKey, chat.User) string) PlatformOption {
	return func(p *Platform) { p.visitorID = fn }
}

// WithoutRecords makes the platform keep only the messages as they now
// stand, not the log of every request: Records and Applied return nothing.
// For benchmarks, whose request log would otherwise grow for the whole run
// and be copied and scanned by the garbage collector of the process under
// measurement.
func WithoutRecords() PlatformOption {
	return func(p *Platform) { p.noRecords = true }
}

// WithLatency sets the time every request takes (see SetLatency).
func WithLatency(d time.Duration) PlatformOption {
	return func(p *Platform) { p.latency = d }
}

// PostStage is the moment of a Post at which a PostHook runs.
type PostStage int

// Post stages.
const (
	// BeforePost: the request has arrived; nothing is applied yet (latency,
	// injected failures and limits come after the hook).
	BeforePost PostStage = iota
	// AfterPost: the message is posted (others can see it) but the
	// response has not reached the caller yet. Not run for a refused post.
	AfterPost
)

// PostHook observes a Post at stage. ref is the posted message's ref at
// AfterPost, the zero ref at BeforePost. It runs on the caller's goroutine,
// outside the platform's lock, so it may call the platform's other methods
// (FailNext, SetLatency) or the bridge (HandleAction: a click that arrives
// while a card is being posted).
type PostHook func(stage PostStage, key chat.ConversationKey, msg chat.Message, ref chat.MessageRef)

// WithPostHook makes every Post call fn at BeforePost and AfterPost.
func WithPostHook(fn PostHook) PlatformOption {
	return func(p *Platform) { p.postHook = fn }
}

// Platform is an in-memory chat.Platform that behaves like a real one. It
// records every request with its time, rejects messages over
// Limits.MaxMessageChars, enforces its own server-side rate limits by answering
// *chat.RateLimitError, and can inject 429s, latency and failures. It
// implements the optional Ephemeral, StatusSetter, Buttons, Deleter,
// MentionGuard and VisitorNamer abilities. It is safe for concurrent use.
type Platform struct {
	name      string
	limits    chat.Limits
	server    []ServerLimit
	noButtons bool
	noRecords bool
	postHook  PostHook
	visitorID func(chat.ConversationKey, chat.User) string
	mentions  func(string) string

	mu          sync.Mutex
	latency     time.Duration
	inject429   int
	retryAfter  time.Duration
	failNext    []error
	loseNext    []error // post responses to lose (LoseNextPostResponse)
	seq         int
	records     []Record
	messages    map[string]*Posted // by message id
	order       map[chat.ConversationKey][]string
	history     map[string][]time.Time // server-limit bucket -> request times
	rateLimited int
	serverLimit int
	changed     chan struct{} // closed and replaced on every change
}

var (
	_ chat.Platform     = (*Platform)(nil)
	_ chat.Ephemeral    = (*Platform)(nil)
	_ chat.StatusSetter = (*Platform)(nil)
	_ chat.Buttons      = (*Platform)(nil)
	_ chat.Deleter      = (*Platform)(nil)
	_ chat.MentionGuard = (*Platform)(nil)
	_ chat.VisitorNamer = (*Platform)(nil)
)

// NewPlatform returns a platform named name (the ConversationKey.Platform it
// serves) with the given limits.
func NewPlatform(name string, limits chat.Limits, opts ...PlatformOption) *Platform {
	p := &Platform{
		name:     name,
		limits:   limits,
		messages: make(map[string]*Posted),
		order:    make(map[chat.ConversationKey][]string),
		history:  make(map[string][]time.Time),
		changed:  make(chan struct{}),
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Name returns the platform name.
func (p *Platform) Name() string { return p.name }

// Limits returns the limits the platform was built with.
func (p *Platform) Limits() chat.Limits { return p.limits }

// VisitorID implements chat.VisitorNamer: the WithVisitorID rule, else
// chat.DefaultVisitorID.
func (p *Platform) VisitorID(key chat.ConversationKey, u chat.User) string {
	if p.visitorID != nil {
		return p.visitorID(key, u)
	}
	return chat.DefaultVisitorID(key, u)
}

// NeutralizeMentions implements chat.MentionGuard: the WithMentions rule,
// else Mentions.
func (p *Platform) NeutralizeMentions(text string) string {
	if p.mentions != nil {
		return p.mentions(text)
	}
	return Mentions.NeutralizeMentions(text)
}

// ButtonsSupported reports whether approval cards get buttons (true unless
// WithoutButtons was given).
func (p *Platform) ButtonsSupported() bool { return !p.noButtons }

// SetLatency makes every later request take d before it is applied.
func (p *Platform) SetLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = d
}

// Inject429 makes the next n writes (posts and edits) answer 429 with
// retryAfter.
func (p *Platform) Inject429(n int, retryAfter time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inject429 = n
	p.retryAfter = retryAfter
}

// FailNext makes the next write (post or edit) fail with err. Calls queue up.
func (p *Platform) FailNext(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failNext = append(p.failNext, err)
}

// LoseNextPostResponse makes the next successful post answer err instead of
// its ref: the message is posted (users see it) but the caller cannot know
// it, as when a response times out after the server applied the request.
// Calls queue up.
func (p *Platform) LoseNextPostResponse(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.loseNext = append(p.loseNext, err)
}

// Post posts msg into the conversation key.
func (p *Platform) Post(ctx context.Context, key chat.ConversationKey, msg chat.Message) (chat.MessageRef, error) {
	if p.postHook != nil {
		p.postHook(BeforePost, key, cloneMessage(msg), chat.MessageRef{})
	}
	ref, err := p.post(ctx, key, msg)
	if err != nil {
		return ref, err
	}
	if p.postHook != nil {
		p.postHook(AfterPost, key, cloneMessage(msg), ref)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.loseNext) > 0 {
		err = p.loseNext[0]
		p.loseNext = p.loseNext[1:]
		return chat.MessageRef{}, err
	}
	return ref, nil
}

func (p *Platform) post(ctx context.Context, key chat.ConversationKey, msg chat.Message) (chat.MessageRef, error) {
	if err := p.wait(ctx); err != nil {
		return chat.MessageRef{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	rec := Record{Op: OpPost, Time: now, Key: key, Message: cloneMessage(msg)}
	if err := p.admitLocked(&rec, key, now); err != nil {
		return chat.MessageRef{}, err
	}
	p.seq++
	ref := chat.MessageRef{Key: key, ID: fmt.Sprintf("%s-%d", p.name, p.seq), Posted: now}
	rec.Ref = ref
	p.messages[ref.ID] = &Posted{Ref: ref, Message: cloneMessage(msg)}
	p.order[key] = append(p.order[key], ref.ID)
	p.recordLocked(rec)
	return ref, nil
}

// Edit replaces the message ref with msg.
func (p *Platform) Edit(ctx context.Context, ref chat.MessageRef, msg chat.Message) error {
	if err := p.wait(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	rec := Record{Op: OpEdit, Time: now, Key: ref.Key, Ref: ref, Message: cloneMessage(msg)}
	if err := p.admitLocked(&rec, ref.Key, now); err != nil {
		return err
	}
	m, ok := p.messages[ref.ID]
	if !ok || m.Deleted {
		rec.Err = ErrMessageNotFound
		p.recordLocked(rec)
		return ErrMessageNotFound
	}
	m.Message = cloneMessage(msg)
	m.Edits++
	p.recordLocked(rec)
	return nil
}

// Delete deletes the message ref.
func (p *Platform) Delete(ctx context.Context, ref chat.MessageRef) error {
	if err := p.wait(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	rec := Record{Op: OpDelete, Time: time.Now(), Key: ref.Key, Ref: ref}
	m, ok := p.messages[ref.ID]
	if !ok || m.Deleted {
		rec.Err = ErrMessageNotFound
		p.recordLocked(rec)
		return ErrMessageNotFound
	}
	m.Deleted = true
	p.recordLocked(rec)
	return nil
}

// Ephemeral records a notice shown only to userID.
func (p *Platform) Ephemeral(ctx context.Context, key chat.ConversationKey, userID, text string) error {
	if err := p.wait(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recordLocked(Record{Op: OpEphemeral, Time: time.Now(), Key: key, User: userID, Text: text})
	return nil
}

// SetStatus records the conversation's "working" status ("" clears it).
func (p *Platform) SetStatus(ctx context.Context, key chat.ConversationKey, status string) error {
	if err := p.wait(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recordLocked(Record{Op: OpStatus, Time: time.Now(), Key: key, Text: status})
	return nil
}

// wait applies the configured latency, honouring ctx.
func (p *Platform) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	d := p.latency
	p.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// admitLocked applies injected failures, injected 429s, the length limit and
// the server limits to a write; a refused write is recorded and its error
// returned.
func (p *Platform) admitLocked(rec *Record, key chat.ConversationKey, now time.Time) error {
	var err error
	switch {
	case len(p.failNext) > 0:
		err = p.failNext[0]
		p.failNext = p.failNext[1:]
	case p.inject429 > 0:
		p.inject429--
		err = &chat.RateLimitError{RetryAfter: p.retryAfter, Scope: "injected"}
	case p.limits.MaxMessageChars > 0 && utf8.RuneCountInString(rec.Message.Body) > p.limits.MaxMessageChars:
		err = fmt.Errorf("%w: %d runes, limit %d", ErrTooLong,
			utf8.RuneCountInString(rec.Message.Body), p.limits.MaxMessageChars)
	default:
		if ra, limited := p.serverLimitedLocked(rec.Op, key, now); limited {
			err = &chat.RateLimitError{RetryAfter: ra, Scope: "server"}
			rec.ServerLimited = true
			p.serverLimit++
		}
	}
	if err == nil {
		return nil
	}
	var rl *chat.RateLimitError
	if errors.As(err, &rl) {
		p.rateLimited++
	}
	rec.Err = err
	p.recordLocked(*rec)
	return err
}

// serverLimitedLocked checks and, when allowed, counts a write against every
// matching server limit.
func (p *Platform) serverLimitedLocked(op Op, key chat.ConversationKey, now time.Time) (time.Duration, bool) {
	var keys []string
	var retry time.Duration
	for i, l := range p.server {
		if l.Op != op && l.Op != OpWrite {
			continue
		}
		bucket := fmt.Sprintf("%d/%s", i, key.Workspace)
		if l.Scope == chat.ScopeChannel {
			bucket += "/" + key.Channel
		}
		times := p.history[bucket]
		cut := 0
		for cut < len(times) && !times[cut].After(now.Add(-l.Window)) {
			cut++
		}
		times = times[cut:]
		p.history[bucket] = times
		if len(times) >= l.Max {
			retry = max(retry, times[len(times)-l.Max].Add(l.Window).Sub(now))
		}
		keys = append(keys, bucket)
	}
	if retry > 0 {
		return retry, true
	}
	for _, k := range keys {
		p.history[k] = append(p.history[k], now)
	}
	return 0, false
}

// recordLocked appends rec and wakes WaitFor callers.
func (p *Platform) recordLocked(rec Record) {
	if !p.noRecords {
		p.records = append(p.records, rec)
	}
	close(p.changed)
	p.changed = make(chan struct{})
}

// Records returns every request received so far, in arrival order.
func (p *Platform) Records() []Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Record(nil), p.records...)
}

// Applied returns the requests of op that were applied (not refused).
func (p *Platform) Applied(op Op) []Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Record
	for _, r := range p.records {
		if r.Op == op && r.Err == nil {
			out = append(out, r)
		}
	}
	return out
}

// RateLimited returns how many requests were answered 429, injected or not.
func (p *Platform) RateLimited() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rateLimited
}

// ServerRateLimited returns how many requests were answered 429 by a
// ServerLimit: a well-behaved bridge causes none.
func (p *Platform) ServerRateLimited() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.serverLimit
}

// Messages returns the messages posted into key, in post order, as they are now.
func (p *Platform) Messages(key chat.ConversationKey) []Posted {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := p.order[key]
	out := make([]Posted, 0, len(ids))
	for _, id := range ids {
		m := *p.messages[id]
		m.Message = cloneMessage(m.Message)
		out = append(out, m)
	}
	return out
}

// Lookup returns the message ref as it is now, as received (not neutralised).
func (p *Platform) Lookup(ref chat.MessageRef) (Posted, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.messages[ref.ID]
	if !ok {
		return Posted{}, false
	}
	out := *m
	out.Message = cloneMessage(m.Message)
	return out, true
}

// Current returns the message ref as it is now, as received; the zero Message
// when it is unknown.
func (p *Platform) Current(ref chat.MessageRef) chat.Message {
	m, _ := p.Lookup(ref)
	return m.Message
}

// Text returns what a user now sees for ref (Render of its current state);
// "" when it is unknown or deleted.
func (p *Platform) Text(ref chat.MessageRef) string {
	m, ok := p.Lookup(ref)
	if !ok || m.Deleted {
		return ""
	}
	return Render(m.Message)
}

// Buttons returns the buttons ref now shows, each as the Action a click on
// it hands to the bridge (Platform, Kind, Target and Card set; the test
// fills in User and Received): approve, deny (and deny with a reason and
// approve for the conversation, when the card offers them) on a pending
// approval card,
// then the message's own Buttons (Stop, Retry), when buttons are supported;
// else none.
func (p *Platform) Buttons(ref chat.MessageRef) []chat.Action {
	m, ok := p.Lookup(ref)
	if !ok || m.Deleted || p.noButtons {
		return nil
	}
	var out []chat.Action
	if a := m.Message.Approval; a != nil && a.State == chat.ApprovalPending {
		kinds := []chat.ActionKind{chat.Approve, chat.Deny}
		if a.DenyWithReason {
			kinds = append(kinds, chat.DenyWithReason)
		}
		if a.GrantTool {
			kinds = append(kinds, chat.ApproveConversation)
		}
		for _, kind := range kinds {
			out = append(out, chat.Action{Platform: p.name, Kind: kind, Target: a.ID, Card: m.Ref})
		}
	}
	for _, b := range m.Message.Buttons {
		out = append(out, chat.Action{Platform: p.name, Kind: b.Kind, Target: b.Target, Card: m.Ref})
	}
	return out
}

// ButtonCount returns how many buttons ref now shows (see Buttons).
func (p *Platform) ButtonCount(ref chat.MessageRef) int {
	return len(p.Buttons(ref))
}

// Keys returns the conversations that have messages, sorted by their String form.
func (p *Platform) Keys() []chat.ConversationKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := make([]chat.ConversationKey, 0, len(p.order))
	for k := range p.order {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys
}

// WaitFor blocks until cond reports true or ctx ends. cond is evaluated at once
// and after every request the platform receives; it must not block and may
// call the platform's other methods. Inside a testing/synctest bubble, a ctx
// with a timeout makes WaitFor wait in fake time.
func (p *Platform) WaitFor(ctx context.Context, cond func() bool) error {
	for {
		p.mu.Lock()
		ch := p.changed
		p.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("bridgetest: wait: %w", ctx.Err())
		}
	}
}

// cloneMessage deep-copies msg.
func cloneMessage(m chat.Message) chat.Message {
	if m.Steps != nil {
		m.Steps = append([]chat.Step(nil), m.Steps...)
	}
	if m.Approval != nil {
		a := *m.Approval
		m.Approval = &a
	}
	if m.Buttons != nil {
		m.Buttons = append([]chat.Button(nil), m.Buttons...)
	}
	return m
}

// Ephemerals returns the ephemeral notices userID received, oldest first.
func (p *Platform) Ephemerals(userID string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, r := range p.records {
		if r.Op == OpEphemeral && r.User == userID && r.Err == nil {
			out = append(out, r.Text)
		}
	}
	return out
}
