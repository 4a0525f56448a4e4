package bridge

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/promptev/promptev-bridge/bridge/outbox"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
)

// Notices shown only to the clicker of an approval button.
const (
	noticeUnknownApproval = "This approval request is unknown or no longer available."
	noticeNotAllowed      = "You are not allowed to decide this approval request."
	noticeExpired         = "This approval request has expired."
	noticeRestarting      = "The bridge is restarting; nothing was decided. Please click again in a minute."
)

// requestApproval records an approval_required event as a pending approval
// and posts its card with Priority. The record is stored before the card is
// posted, so a click on the card always finds it; the card's ref is recorded
// once the post returns (SetApprovalCard, which keeps any decision).
//
// Exactly one path edits the card to its decided state: the decision's own
// (afterDecision) when the card ref was recorded before the decision (or, when
// none was, the click names the card and this process is not posting it),
// and this one otherwise (a click that won while the card was being posted).
// The agent's continuation is started only by the decision (afterDecision).
func (r *run) requestApproval(ev promptev.AgentEvent) error {
	b := r.b
	id, err := newApprovalID()
	if err != nil {
		return err
	}
	now := time.Now()
	limit := r.ps.limits.MaxMessageChars
	a := chat.Approval{
		ID:              id,
		Key:             r.job.key,
		Requester:       r.job.user.ID,
		AgentID:         r.agentID,
		Tool:            agentText(r.ps.mentions, ev.Tool, min(maxStepRunes, limit/10)),
		Description:     agentText(r.ps.mentions, ev.Output, min(maxDescriptionRunes, limit/2)),
		ArgumentsDigest: argumentsDigest(ev.Arguments),
		Arguments:       agentText(r.ps.mentions, renderArguments(ev.Arguments), min(maxArgumentsRunes, limit/4)),
		Created:         now,
		Expires:         now.Add(b.cfg.Approvals.Timeout),
		State:           chat.ApprovalPending,
	}
	if r.tracked {
		a.Run = r.handle.id
	}
	if a.Description == "" {
		a.Description = "The agent asks for approval to continue."
	}
	slot := &postingCard{}
	b.posting.Store(a.ID, slot)
	defer b.posting.Delete(a.ID)
	if err := b.store.PutApproval(r.life, a); err != nil {
		return fmt.Errorf("record approval: %w", err)
	}
	r.log.Info("approval requested", "approval", a.ID, "tool", a.Tool, "requester", a.Requester,
		"arguments_digest", a.ArgumentsDigest, "expires", a.Expires)
	if !r.beginWait(a) {
		// Stopped before the card was shown: no card, the request is closed.
		if _, _, err := r.b.store.DecideApproval(context.WithoutCancel(r.life), a.ID, chat.ApprovalStopped, "", "", time.Now()); err != nil {
			r.log.Warn("approval of a stopped run not closed", "approval", a.ID, "err", err)
		}
		return errStopped
	}
	ref, err := r.ps.out.Post(r.life, a.Key, b.cardMessage(a, r.ps.buttons), outbox.PrioHigh)
	if err != nil {
		// No card to click: withdraw the request rather than leave it
		// pending until it expires.
		if decided, ok := r.withdrawApproval(a); !ok {
			// A click won during the post (its outcome was unknown, the
			// card was shown): the decision stands and its continuation
			// runs. The click named its card: close it.
			r.log.Warn("approval card post failed after a decision", "approval", a.ID,
				"state", decided.State, "err", err)
			if ref := slot.get(); ref.ID != "" {
				r.closeCard(ref, decided)
			}
			return nil
		}
		return fmt.Errorf("post approval card: %w", err)
	}
	// The card is out: record it even if the bridge is stopping now, so its
	// buttons keep working after a restart.
	rec, err := b.store.SetApprovalCard(context.WithoutCancel(r.life), a.ID, ref)
	if err != nil {
		// A later decision would not know which card to edit: withdraw the
		// request and close the card here.
		decided, ok := r.withdrawApproval(a)
		r.closeCard(ref, decided)
		if !ok {
			r.log.Warn("approval card not recorded after a decision", "approval", a.ID,
				"state", decided.State, "err", err)
			return nil
		}
		return fmt.Errorf("record approval card: %w", err)
	}
	if rec.Decided() {
		// A click (or the expiry) decided the request while its card was
		// being posted, so the decision saw no card to edit: edit it here.
		r.log.Info("approval decided while its card was posted", "approval", a.ID, "state", rec.State)
		r.closeCard(ref, rec)
	}
	return nil
}

// postingCard is the card of an approval this process is posting, as a click
// on it names it: the post's own ref is lost when the post fails after the
// card was shown.
type postingCard struct {
	mu  sync.Mutex
	ref chat.MessageRef
}

func (p *postingCard) offer(ref chat.MessageRef) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ref.ID == "" {
		p.ref = ref
	}
}

func (p *postingCard) get() chat.MessageRef {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ref
}

// withdrawApproval expires the pending approval a whose card could not be
// shown or recorded, without telling the agent (the run ends with a failure
// notice instead). ok is false when a decision was made first: the returned
// record is then that decision, whose continuation runs. When the store
// fails, a is returned as expired (so a card shows it closed) and ok is true.
func (r *run) withdrawApproval(a chat.Approval) (chat.Approval, bool) {
	// The store write is short and local; it must happen even when the
	// bridge is stopping, or a pending request would outlive its card.
	ctx := context.WithoutCancel(r.life)
	decided, ok, err := r.b.store.DecideApproval(ctx, a.ID, chat.ApprovalExpired, "", "", time.Now())
	if err != nil {
		r.log.Warn("approval not withdrawn", "approval", a.ID, "err", err)
		a.State = chat.ApprovalExpired
		return a, true
	}
	if ok {
		r.log.Info("approval withdrawn: its card could not be shown", "approval", a.ID)
	}
	return decided, ok
}

// closeCard edits the approval card ref to the decided state of a (no buttons).
func (r *run) closeCard(ref chat.MessageRef, a chat.Approval) {
	if _, err := r.ps.out.LiveUnder(r.life, ref).Finish(r.life, []chat.Message{cardMessage(a, false)}, chat.Message{}); err != nil {
		r.log.Warn("approval card not updated", "approval", a.ID, "state", a.State, "err", err)
	}
}

// registerApprovals makes approvals a user of the action registry: the
// approve and deny buttons of a card decide its request.
func (b *Bridge) registerApprovals() {
	b.onAction(chat.Approve, func(ctx context.Context, act chat.Action) (chat.ActionResult, error) {
		return b.decideApproval(ctx, act, chat.ApprovalApproved)
	})
	b.onAction(chat.Deny, func(ctx context.Context, act chat.Action) (chat.ActionResult, error) {
		return b.decideApproval(ctx, act, chat.ApprovalDenied)
	})
	b.onAction(chat.DenyWithReason, b.askDenyReason)
	b.onAction(chat.ApproveConversation, b.grantConversation)
}

// noticeGrantsOff answers an "Approve all" press when grants are off.
const noticeGrantsOff = "Approving a tool for the whole conversation is turned off; nothing was changed."

// grantConversation applies "Approve all <tool> here": it approves the
// request like Approve and, in the same compare-and-set, grants its tool
// for the rest of the conversation.
func (b *Bridge) grantConversation(ctx context.Context, act chat.Action) (chat.ActionResult, error) {
	if !b.cfg.Approvals.AllowConversationGrants {
		return chat.ActionResult{Notice: noticeGrantsOff}, nil
	}
	return b.decide(ctx, act, chat.ApprovalApproved, true)
}

// maxReasonRunes bounds a denial's reason.
const maxReasonRunes = 500

// askDenyReason answers a click on "Deny with reason…": when the clicker
// may still deny the request, it asks for the reason (a Prompt whose answer
// comes back as a Deny with the reason as its Text). Nothing is decided
// yet: the answer goes through the same compare-and-set as a click.
func (b *Bridge) askDenyReason(ctx context.Context, act chat.Action) (chat.ActionResult, error) {
	a, res, ok, err := b.decidable(ctx, act)
	if !ok || err != nil {
		return res, err
	}
	return chat.ActionResult{Prompt: &chat.Prompt{
		Kind:     chat.Deny,
		Target:   a.ID,
		Title:    "Deny with reason",
		Label:    "Why is this denied? The agent is told.",
		MaxChars: maxReasonRunes,
	}}, nil
}

// reasonText makes a typed reason safe for the card and the agent: trimmed,
// mentions neutralised with the platform's rule, at most maxReasonRunes.
func reasonText(mentions func(string) string, s string) string {
	return agentText(mentions, s, maxReasonRunes)
}

// decidable loads the approval a click names and checks that the clicker
// may decide it now. When ok is false, res is the answer for the clicker.
func (b *Bridge) decidable(ctx context.Context, act chat.Action) (a chat.Approval, res chat.ActionResult, ok bool, err error) {
	if b.isClosing() {
		// A decision now could not be carried out (card edit, agent answer):
		// leave the request pending for the next process.
		return a, chat.ActionResult{Notice: noticeRestarting}, false, nil
	}
	a, err = b.store.GetApproval(ctx, act.Target)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		b.log.Info("approval click on an unknown id", "platform", act.Platform, "user", act.User.ID)
		b.metrics.Approval(act.Platform, "unknown", 0)
		return a, chat.ActionResult{Notice: noticeUnknownApproval}, false, nil
	case err != nil:
		return a, chat.ActionResult{}, false, fmt.Errorf("bridge: load approval: %w", err)
	}
	if !b.cfg.routeFor(a.Key).mayDecide(a, act.Platform, act.User) {
		b.metrics.Approval(a.Key.Platform, "unauthorized", 0)
		b.log.Info("approval click refused: not allowed", "platform", a.Key.Platform, "conversation", a.Key.String(),
			"approval", a.ID, "user", act.User.ID, "from_platform", act.Platform)
		return a, chat.ActionResult{Notice: noticeNotAllowed}, false, nil
	}
	if a.Decided() {
		b.metrics.Approval(a.Key.Platform, "duplicate", 0)
		return a, chat.ActionResult{Notice: lateText(a, act)}, false, nil
	}
	if now := time.Now(); !now.Before(a.Expires) {
		b.expire(ctx, a, now)
		return a, chat.ActionResult{Notice: noticeExpired}, false, nil
	}
	return a, chat.ActionResult{}, true, nil
}

// lateText tells a clicker (or the submitter of a reason) that the request
// was decided by someone else first.
func lateText(a chat.Approval, act chat.Action) string {
	if act.Text != "" {
		return alreadyText(a) + "; your reason was not sent."
	}
	return alreadyText(a)
}

// decideApproval applies a click on an approval card's button: act.Target
// is the approval id and state the decision the button stands for. It only
// reads and writes the store: the card edit and the agent's continuation
// happen on a worker. Unknown ids, clickers the policy does not allow,
// expired requests and clicks on decided requests get a Notice and change
// nothing.
func (b *Bridge) decideApproval(ctx context.Context, act chat.Action, state chat.ApprovalState) (chat.ActionResult, error) {
	return b.decide(ctx, act, state, false)
}

// decide is decideApproval, granting the request's tool for the
// conversation when grant is set.
func (b *Bridge) decide(ctx context.Context, act chat.Action, state chat.ApprovalState, grant bool) (chat.ActionResult, error) {
	a, res, ok, err := b.decidable(ctx, act)
	if !ok || err != nil {
		return res, err
	}
	log := b.log.With("platform", a.Key.Platform, "conversation", a.Key.String(), "approval", a.ID)
	now := time.Now()
	reason := ""
	if state == chat.ApprovalDenied {
		reason = reasonText(b.mentionsOf(a.Key.Platform), act.Text)
	}
	// The card the click names, and whether this process is posting it. Both
	// are read before deciding: a failed post that then finds the decision
	// also finds the card, and a post that ends after the decision is known
	// to close the card itself.
	card := act.Card
	card.Key = a.Key
	named := act.Card.ID != "" && act.Platform == a.Key.Platform
	slot, posting := b.posting.Load(a.ID)
	if named && posting {
		slot.(*postingCard).offer(card)
	}
	decided, ok, err := b.store.DecideApprovalWith(ctx, a.ID, chat.ApprovalDecision{
		State: state, By: act.User.ID, ByName: act.User.Display(), At: now, Reason: reason, Grant: grant && a.Tool != ""})
	if err != nil {
		return chat.ActionResult{}, fmt.Errorf("bridge: decide approval: %w", err)
	}
	if !ok {
		b.metrics.Approval(a.Key.Platform, "duplicate", 0)
		return chat.ActionResult{Notice: lateText(decided, act)}, nil
	}
	if decided.Card.ID == "" && named && !posting {
		// No card was recorded and none is being posted here: a previous
		// process posted it and stopped before recording it. The click came
		// from that card, so close it there.
		decided.Card = card
		log.Info("approval card closed from the click", "card", act.Card.ID)
	}
	wait := now.Sub(decided.Created)
	b.metrics.Approval(a.Key.Platform, string(state), wait)
	log.Info("approval decided", "decision", state, "by", act.User.ID, "by_name", act.User.Display(),
		"tool", decided.Tool, "arguments_digest", decided.ArgumentsDigest, "wait", wait, "with_reason", reason != "",
		"granted", decided.Granted)
	b.afterDecision(decided)
	return chat.ActionResult{Accepted: true}, nil
}

// expire moves a pending approval to expired; when this call won, the card is
// edited and the agent told to deny.
func (b *Bridge) expire(ctx context.Context, a chat.Approval, now time.Time) {
	decided, ok, err := b.store.DecideApproval(ctx, a.ID, chat.ApprovalExpired, "", "", now)
	if err != nil {
		b.log.Warn("approval not expired", "approval", a.ID, "err", err)
		return
	}
	if !ok {
		return
	}
	b.metrics.Approval(a.Key.Platform, string(chat.ApprovalExpired), now.Sub(a.Created))
	b.log.Info("approval expired", "platform", a.Key.Platform, "conversation", a.Key.String(),
		"approval", a.ID, "tool", a.Tool, "arguments_digest", a.ArgumentsDigest)
	b.afterDecision(decided)
}

// sweepExpired expires the pending approvals whose time is up.
func (b *Bridge) sweepExpired(ctx context.Context, now time.Time) {
	for ctx.Err() == nil && !b.isClosing() {
		list, err := b.store.ListExpiredApprovals(ctx, now, sweepBatch)
		if err != nil {
			b.log.Warn("approval expiry sweep failed", "err", err)
			return
		}
		for _, a := range list {
			b.expire(ctx, a, now)
		}
		if len(list) < sweepBatch {
			return
		}
	}
}

// afterDecision edits the card to show the decision and queues the agent's
// continuation on the conversation, on a worker goroutine. a is the record
// DecideApproval returned to the one caller that decided. When it has no card
// ref, the decision came while the card was being posted: requestApproval,
// which then finds the decision in SetApprovalCard's answer, edits the card.
// Either way the card is edited once and the continuation queued once.
func (b *Bridge) afterDecision(a chat.Approval) {
	ps, ok := b.platform(a.Key.Platform)
	if !ok {
		b.log.Warn("decided approval of an unknown platform", "approval", a.ID, "platform", a.Key.Platform)
		return
	}
	query := b.decisionQuery(a)
	j := job{
		key:       a.Key,
		user:      chat.User{ID: a.Requester},
		query:     query,
		inboundID: "approval:" + a.ID,
		received:  a.DecidedAt,
		decided:   &a,
	}
	started := b.workers.Go(func() {
		if a.Card.ID != "" {
			if _, err := ps.out.Live(a.Card).Finish(b.life, []chat.Message{cardMessage(a, false)}, chat.Message{}); err != nil {
				b.log.Warn("approval card not updated", "approval", a.ID, "err", err)
			}
		}
		if err := b.enqueue(j, true); err != nil {
			b.log.Warn("approval continuation not started", "approval", a.ID, "err", err)
		}
	})
	if !started {
		b.log.Warn("shutting down: decided approval not continued", "approval", a.ID, "state", a.State)
	}
}

// decisionQuery is what the agent is told of decision a: the approve
// query, the deny query, or a denial's reason through
// approvals.deny_with_reason_query.
func (b *Bridge) decisionQuery(a chat.Approval) string {
	switch {
	case a.State == chat.ApprovalApproved:
		return b.cfg.Approvals.ApproveQuery
	case a.State == chat.ApprovalDenied && a.Reason != "" && b.denyReason != nil:
		var out strings.Builder
		err := b.denyReason.Execute(&out, denyReasonData{Reason: a.Reason})
		if err == nil {
			return out.String()
		}
		b.log.Warn("deny_with_reason_query failed: plain deny sent", "approval", a.ID, "err", err)
	}
	return b.cfg.Approvals.DenyQuery
}

// endWait ends the run that waited for the decided request a: its record
// becomes finished and its live message loses its Stop button. The
// request's compare-and-set already ordered this decision against the
// run's Stop, so the move only fails when the record is gone.
func (b *Bridge) endWait(ps *platformState, a chat.Approval) {
	if a.Run == "" {
		return
	}
	rec, ok, err := b.store.MoveRun(context.WithoutCancel(b.life), a.Run, []chat.RunState{chat.RunWaiting},
		chat.RunMove{To: chat.RunFinished})
	if err != nil || !ok {
		b.log.Warn("waiting run not ended", "run", a.Run, "approval", a.ID, "err", err)
		return
	}
	if rec.Live.ID == "" {
		return
	}
	// A plain edit: the decision's continuation posts its own message, so
	// this one must never turn into a new post.
	m := chat.Message{Kind: chat.KindStatus, Status: waitEndedText(ps.mentions, a), Steps: rec.Steps, Final: true}
	ps.out.Live(rec.Live).Set(m)
}

// waitEndedText is the status of a waiting run's message once its request
// is decided.
func waitEndedText(mentions func(string) string, a chat.Approval) string {
	by := a.DecidedByName
	if by == "" {
		by = a.DecidedBy
	}
	switch a.State {
	case chat.ApprovalApproved:
		return "▶ Continuing: approved by " + agentText(mentions, by, 80)
	case chat.ApprovalDenied:
		return "▶ Continuing: denied by " + agentText(mentions, by, 80)
	case chat.ApprovalExpired:
		return "▶ Continuing: the approval request expired"
	}
	return string(a.State)
}

// cardMessage renders an approval card; with grants allowed, a pending
// card of a named tool offers "Approve all <tool> here".
func (b *Bridge) cardMessage(a chat.Approval, buttons bool) chat.Message {
	m := cardMessage(a, buttons)
	m.Approval.GrantTool = buttons && b.cfg.Approvals.AllowConversationGrants && a.Tool != "" && a.State == chat.ApprovalPending
	return m
}

// cardMessage renders an approval card. Without working buttons the body says
// how to decide; a decided card shows its state and who decided (the adapter
// renders "Approved by X" from the card).
func cardMessage(a chat.Approval, buttons bool) chat.Message {
	card := &chat.ApprovalCard{
		ID:          a.ID,
		Tool:        a.Tool,
		Description: a.Description,
		Arguments:   a.Arguments,
		State:       a.State,
		DecidedBy:   a.DecidedByName,
		Reason:      a.Reason,
	}
	if card.DecidedBy == "" {
		card.DecidedBy = a.DecidedBy
	}
	card.DenyWithReason = buttons && a.State == chat.ApprovalPending
	card.Granted = a.Granted
	m := chat.Message{Kind: chat.KindApproval, Approval: card, Final: a.Decided()}
	if a.State == chat.ApprovalPending && !buttons {
		m.Body = fmt.Sprintf("Approval id `%s`: decide with this platform's approve or deny command. Messages typed in the thread are not taken as a decision.", a.ID)
	}
	return m
}

// alreadyText tells a late clicker what happened to the request.
func alreadyText(a chat.Approval) string {
	by := a.DecidedByName
	if by == "" {
		by = a.DecidedBy
	}
	switch a.State {
	case chat.ApprovalApproved:
		return "Already approved by " + by
	case chat.ApprovalDenied:
		return "Already denied by " + by
	case chat.ApprovalExpired:
		return noticeExpired
	case chat.ApprovalStopped:
		return "Already stopped by " + by
	}
	return noticeUnknownApproval
}

// newApprovalID returns a random opaque id (128 bits, hex): short enough for
// every platform's button id.
func newApprovalID() (string, error) {
	var buf [16]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return "", fmt.Errorf("approval id: %w", err)
	}
	return hex.EncodeToString(buf[:]), nil
}

// argumentsDigest is the hex SHA-256 of the raw tool arguments ("" when none).
func argumentsDigest(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// renderArguments is a compact one-line rendering of the tool arguments.
func renderArguments(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	return buf.String()
}
