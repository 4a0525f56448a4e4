package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
)

// grantFor returns the grant that approves ev's tool in the run's
// conversation, when grants are allowed and one exists.
func (r *run) grantFor(ev promptev.AgentEvent) (chat.Grant, bool) {
	if !r.b.cfg.Approvals.AllowConversationGrants {
		return chat.Grant{}, false
	}
	tool := r.approvalTool(ev)
	if tool == "" {
		return chat.Grant{}, false
	}
	g, err := r.b.store.GetGrant(r.life, r.job.key, tool)
	if err != nil {
		if !errors.Is(err, chat.ErrNotFound) {
			r.log.Warn("grant not read: the request gets a card", "tool", tool, "err", err)
		}
		return chat.Grant{}, false
	}
	return g, true
}

// approvalTool is the tool name of an approval_required event as the
// approval records it (and as grants are keyed).
func (r *run) approvalTool(ev promptev.AgentEvent) string {
	return agentText(r.ps.mentions, ev.Tool, min(maxStepRunes, r.ps.limits.MaxMessageChars/10))
}

// autoApprove approves ev through grant g without a card: the request is
// recorded as approved (for the audit trail), the live message ends with a
// one-line note ("✓ jira.create_issue auto-approved (granted by Ana)"), the
// approval is logged and counted, and the agent's continuation is queued
// like a click's.
func (r *run) autoApprove(ev promptev.AgentEvent, g chat.Grant) error {
	b := r.b
	if r.tracked {
		// A Stop pressed before now wins: the request is not approved.
		rec, ok, err := b.store.MoveRun(context.WithoutCancel(r.life), r.handle.id, []chat.RunState{chat.RunRunning},
			chat.RunMove{To: chat.RunFinished})
		switch {
		case err != nil:
			r.log.Warn("run record not settled", "err", err)
		case !ok && rec.State == chat.RunStopped:
			return errStopped
		}
	}
	id, err := newApprovalID()
	if err != nil {
		return err
	}
	now := time.Now()
	by := g.ByName
	if by == "" {
		by = g.By
	}
	a := chat.Approval{
		ID:              id,
		Key:             r.job.key,
		Requester:       r.job.user.ID,
		AgentID:         r.agentID,
		Tool:            g.Tool,
		Description:     agentText(r.ps.mentions, ev.Output, min(maxDescriptionRunes, r.ps.limits.MaxMessageChars/2)),
		ArgumentsDigest: argumentsDigest(ev.Arguments),
		Created:         now,
		Expires:         now,
		State:           chat.ApprovalApproved,
		DecidedBy:       g.By,
		DecidedByName:   g.ByName,
		DecidedAt:       now,
		Granted:         true,
	}
	if err := b.store.PutApproval(context.WithoutCancel(r.life), a); err != nil {
		return fmt.Errorf("record automatic approval: %w", err)
	}
	b.metrics.Approval(a.Key.Platform, "auto", 0)
	r.log.Info("approval granted automatically", "approval", a.ID, "tool", a.Tool, "granted_by", g.By,
		"granted_by_name", g.ByName, "grant_approval", g.Approval, "arguments_digest", a.ArgumentsDigest)
	m := r.view.message(r.ps.limits.MaxMessageChars)
	m.Status, m.Final = fmt.Sprintf("✓ %s auto-approved (granted by %s)", a.Tool, agentText(r.ps.mentions, by, 80)), true
	for i := range m.Steps {
		m.Steps[i].Done = true
	}
	if err := r.finish(m); err != nil {
		r.log.Warn("auto-approval note not shown", "err", err)
	}
	j := job{
		key:       a.Key,
		user:      r.job.user,
		query:     b.cfg.Approvals.ApproveQuery,
		inboundID: "approval:" + a.ID,
		received:  now,
		decided:   &a,
	}
	if err := b.enqueue(j, true); err != nil {
		return fmt.Errorf("queue the continuation: %w", err)
	}
	return nil
}
