package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/promptev/promptev-bridge/bridge/outbox"
	"github.com/promptev/promptev-bridge/chat"
)

// conversation is the in-memory state of a conversation with work to do: the
// job being run and the jobs waiting behind it. It exists only while its
// worker goroutine runs and is guarded by Bridge.mu.
type conversation struct {
	key   chat.ConversationKey
	queue []job
	// more, with a shared store (whose queue holds the jobs), tells the
	// worker that a turn was queued after it last looked.
	more bool
}

// job is one agent turn to run in a conversation.
type job struct {
	key chat.ConversationKey
	// user is whose turn it is: the author of the message, or the requester
	// of a decided approval.
	user chat.User
	// query is the text sent to the agent.
	query string
	// inboundID is the platform id of the message (or "approval:<id>").
	inboundID string
	// received is when the message or decision arrived.
	received time.Time
	// decided is set for the continuation of a decided approval.
	decided *chat.Approval
	// seq is the job's turn in a shared store's queue and hold the lease
	// it runs under (zero and nil without a shared store).
	seq  int64
	hold *leaseHold
	// started, when set, is set once the queued turn became the
	// conversation's in-flight run (it then left the queue).
	started *bool
}

// HandleMessage dedupes an inbound message and queues it on its
// conversation. It does no network I/O: the placeholder and the agent run
// happen on the conversation's worker. A message that is not for the bridge
// (a non-mention in an unknown thread, or one outside the allow-lists) is
// ignored and nil is returned.
func (b *Bridge) HandleMessage(ctx context.Context, msg chat.InboundMessage) error {
	ps, ok := b.platform(msg.Key.Platform)
	if !ok {
		return fmt.Errorf("bridge: message from unknown platform %q", msg.Key.Platform)
	}
	if !msg.Key.Valid() {
		return fmt.Errorf("bridge: message with invalid conversation key %q", msg.Key.String())
	}
	b.metrics.MessageReceived(ps.name)
	if msg.Received.IsZero() {
		msg.Received = time.Now()
	}
	log := func() *slog.Logger { return b.log.With("platform", ps.name, "conversation", msg.Key.String()) }
	if b.isClosing() {
		return ErrClosed
	}
	rt := b.cfg.routeFor(msg.Key)
	if !rt.allows(msg.Key, msg.User) {
		log().Debug("message ignored: not on the route's allow-lists", "user", msg.User.ID)
		return nil
	}
	if !msg.Mentioned {
		known, err := b.knownConversation(ctx, msg.Key)
		if err != nil {
			return err
		}
		if !known {
			log().Debug("message ignored: no mention in a conversation the bridge does not know")
			return nil
		}
	}
	j := job{
		key:       msg.Key,
		user:      msg.User,
		query:     msg.Text,
		inboundID: msg.MessageID,
		received:  msg.Received,
	}
	hint := msg.Mentioned && strings.TrimSpace(msg.Text) == ""
	decision := !hint && b.isDecisionText(msg.Text)
	// With a shared store a turn is queued in the store, in the dedupe's
	// statement; a full queue only marks the message seen. The limit
	// counts the turn about to start as well as those waiting behind it.
	queue := b.shared != nil && !hint && !decision
	var dup, busy bool
	var err error
	if queue {
		dup, busy, err = b.acceptShared(ctx, dedupeKeys(ps.name, msg), j, b.cfg.Runs.QueueSize+1)
	} else {
		dup, err = b.seen(ctx, ps.name, msg)
	}
	if err != nil {
		return err
	}
	if dup {
		b.metrics.DedupeHit(ps.name)
		log().Debug("duplicate delivery dropped", "message_id", msg.MessageID, "event_id", msg.EventID)
		return nil
	}
	if hint {
		// A bare mention (nothing left once the mention is removed): a hint,
		// not a run with an empty query.
		l := log()
		l.Debug("empty mention answered with a hint", "user", msg.User.ID)
		b.workers.Go(func() {
			if _, err := ps.out.Post(b.life, msg.Key, noticeMessage(chat.EmptyQuestionText), outbox.PrioNormal); err != nil {
				l.Warn("empty-question hint not posted", "err", err)
			}
		})
		return nil
	}
	if decision {
		// The agent would take this text as the answer to a pending approval,
		// bypassing the card's policy: typed text never decides.
		l := log()
		l.Info("typed approval text not sent to the agent", "user", msg.User.ID)
		b.workers.Go(func() {
			if _, err := ps.out.Post(b.life, msg.Key, noticeMessage(typedDecisionText), outbox.PrioNormal); err != nil {
				l.Warn("typed-decision notice not posted", "err", err)
			}
		})
		return nil
	}
	if queue && !busy {
		return nil
	}
	err = errBusy
	if !busy {
		err = b.enqueue(j, false)
	}
	switch {
	case errors.Is(err, errBusy):
		b.metrics.RunFinished(ps.name, outcomeBusy, 0)
		b.ended(msg.Key, outcomeBusy)
		l := log()
		l.Info("conversation busy: message refused", "queue_size", b.cfg.Runs.QueueSize)
		b.workers.Go(func() {
			_, err := ps.out.Post(b.life, msg.Key, noticeMessage(busyText), outbox.PrioNormal)
			if err != nil {
				l.Warn("busy notice not posted", "err", err)
			}
		})
		return nil
	case err != nil:
		return err
	}
	return nil
}

var errBusy = errors.New("bridge: conversation queue full")

// enqueue appends j to its conversation's queue, starting a worker when the
// conversation is idle. A full queue refuses j with errBusy unless force is set
// (continuations of decided approvals are never refused).
func (b *Bridge) enqueue(j job, force bool) error {
	if b.shared != nil {
		// Continuations, retries: queued for the conversation's owner,
		// whichever replica that is.
		if b.isClosing() {
			return ErrClosed
		}
		_, _, err := b.acceptShared(b.life, nil, j, 0)
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.isClosing() {
		return ErrClosed
	}
	c, active := b.convs[j.key]
	if active {
		if !force && len(c.queue) >= b.cfg.Runs.QueueSize {
			return errBusy
		}
		c.queue = append(c.queue, j)
		return nil
	}
	c = &conversation{key: j.key}
	// The worker removes c under b.mu, which is held here: it cannot do so
	// before c is added.
	if !b.workers.Go(func() { b.work(c, j) }) {
		return ErrClosed
	}
	b.convs[j.key] = c
	return nil
}

// work runs a conversation's jobs in order, one at a time, and removes the
// conversation when its queue is empty. Once the bridge is closing, jobs
// that have not started are dropped.
func (b *Bridge) work(c *conversation, first job) {
	j := first
	for {
		b.runJob(j)
		b.mu.Lock()
		if len(c.queue) == 0 || b.isClosing() {
			dropped := len(c.queue)
			delete(b.convs, c.key)
			b.mu.Unlock()
			if dropped > 0 {
				b.dropQueued(c.key, dropped)
			}
			return
		}
		j = c.queue[0]
		c.queue[0] = job{}
		c.queue = c.queue[1:]
		b.mu.Unlock()
	}
}

// dropQueued tells a conversation that its waiting messages were not run
// because the bridge is shutting down.
func (b *Bridge) dropQueued(key chat.ConversationKey, n int) {
	log := b.log.With("platform", key.Platform, "conversation", key.String())
	log.Info("shutdown: queued messages dropped", "count", n)
	b.metrics.RunFinished(key.Platform, outcomeInterrupted, 0)
	for range n {
		b.ended(key, outcomeInterrupted)
	}
	ps, ok := b.platform(key.Platform)
	if !ok {
		return
	}
	if _, err := ps.out.Post(b.life, key, noticeMessage(droppedText), outbox.PrioNormal); err != nil {
		log.Warn("dropped-messages notice not posted", "err", err)
	}
}

// isDecisionText reports whether text is the approve or deny query the agent
// takes as an approval answer.
func (b *Bridge) isDecisionText(text string) bool {
	t := strings.TrimSpace(text)
	return strings.EqualFold(t, strings.TrimSpace(b.cfg.Approvals.ApproveQuery)) ||
		strings.EqualFold(t, strings.TrimSpace(b.cfg.Approvals.DenyQuery))
}

// isClosing reports whether Shutdown has begun or Run has ended.
func (b *Bridge) isClosing() bool {
	return b.workers.Closed()
}

// knownConversation reports whether the bridge is in the conversation: it has
// a stored session, or its first run is under way.
func (b *Bridge) knownConversation(ctx context.Context, key chat.ConversationKey) (bool, error) {
	b.mu.Lock()
	_, active := b.convs[key]
	b.mu.Unlock()
	if active {
		return true, nil
	}
	_, err := b.store.GetConversation(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, chat.ErrNotFound) && b.shared != nil:
		// The conversation's first turn may be queued, or under way on
		// another replica, before its session is stored.
		if n, err := b.shared.store.CountQueued(ctx, key); err != nil || n > 0 {
			return n > 0, err
		}
		_, err := b.shared.store.GetRun(ctx, key)
		if errors.Is(err, chat.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	case errors.Is(err, chat.ErrNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("bridge: look up conversation: %w", err)
	}
}

// seen marks the message's dedupe keys and reports whether any had been seen,
// in one store call (one transaction): a platform may deliver one message
// twice as two events (a mention event and a message event), with different
// event ids and the same message id.
func (b *Bridge) seen(ctx context.Context, platform string, msg chat.InboundMessage) (bool, error) {
	keys := dedupeKeys(platform, msg)
	if len(keys) == 0 {
		return false, nil
	}
	dup, err := b.store.SeenOrMark(ctx, keys, b.cfg.Runs.DedupeTTL, time.Now())
	if err != nil {
		return false, fmt.Errorf("bridge: dedupe: %w", err)
	}
	return dup, nil
}

// dedupeKeys are the dedupe keys of msg: its event id and its message id.
func dedupeKeys(platform string, msg chat.InboundMessage) []string {
	keys := make([]string, 0, 2)
	if msg.EventID != "" {
		keys = append(keys, platform+":event:"+msg.EventID)
	}
	if msg.MessageID != "" {
		keys = append(keys, platform+":msg:"+msg.Key.Channel+":"+msg.MessageID)
	}
	return keys
}
