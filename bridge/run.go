package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/promptev/promptev-bridge/bridge/outbox"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
)

// Run outcomes, as counted by Metrics.RunFinished and logged.
const (
	outcomeDone        = "done"
	outcomeError       = "error"
	outcomeApproval    = "approval"
	outcomeInterrupted = "interrupted"
	outcomeCancelled   = "cancelled"
	outcomeStopped     = "stopped"
	outcomeBusy        = "busy"
)

// ended tells Options.RunEnded, when set, that an accepted message is over.
func (b *Bridge) ended(key chat.ConversationKey, outcome string) {
	if b.runEnded != nil {
		b.runEnded(key, outcome)
	}
}

// run is one agent turn of a conversation, from placeholder to final state.
type run struct {
	b   *Bridge
	ps  *platformState
	job job
	rt  route
	log *slog.Logger
	// handle is the run's id and cancel handle; endTurn makes it
	// unreachable once the agent turn is over (cancelling could no longer
	// change the outcome).
	handle  *runHandle
	endTurn func()

	// tracked is true when the run has a RunRecord: its messages then
	// carry its Stop and Retry buttons.
	tracked bool
	// liveDone is true once r.live was finished; later edits of the
	// placeholder go through a new editor.
	liveDone bool

	// life is the bridge's life carrying the run's fence (its
	// conversation's lease) when the store is shared: every write of the
	// run is made with it.
	life context.Context

	started time.Time
	live    liveSink
	lane    string
	status  *pacer
	ref     chat.MessageRef
	agentID string

	view    liveView
	events  int
	updates int
}

// result is how an agent turn ended.
type result struct {
	outcome string
	// answer is the final text (outcomeDone).
	answer string
	// notice is the failure or interruption text (outcomeError, outcomeInterrupted).
	notice string
	// approval is the approval_required event (outcomeApproval).
	approval promptev.AgentEvent
	// note, when set, is posted before the answer (a restarted session).
	note string
	// err is the cause of a failure, for the log.
	err error
	// stoppedBy is who pressed Stop (outcomeStopped).
	stoppedBy string
}

// runJob runs one job and logs it.
func (b *Bridge) runJob(j job) {
	select {
	case <-b.ready:
	case <-b.life.Done():
		return
	}
	ps := b.platforms[j.key.Platform]
	handle, endTurn := b.active.start(b.runs, j.key)
	r := &run{
		b:       b,
		ps:      ps,
		job:     j,
		rt:      b.cfg.routeFor(j.key),
		log:     b.log.With("platform", ps.name, "conversation", j.key.String()),
		handle:  handle,
		endTurn: endTurn,
		started: time.Now(),
		life:    b.life,
	}
	if j.hold != nil {
		r.life = chat.WithFence(b.life, j.hold.fence())
	}
	if j.decided != nil {
		// The run that waited for this decision ended before this job
		// started (a conversation runs one job at a time): its message
		// is tidied after its own last edit.
		b.endWait(ps, *j.decided)
	}
	r.record()
	res := r.execute()
	endTurn()
	d := time.Since(r.started)
	b.metrics.RunFinished(ps.name, res.outcome, d)
	b.ended(j.key, res.outcome)
	attrs := []any{"run", handle.id, "lane", r.lane, "agent", r.agentID, "duration", d, "events", r.events, "edits", r.updates, "outcome", res.outcome}
	if res.err != nil {
		attrs = append(attrs, "err", res.err)
	}
	level := slog.LevelInfo
	if res.outcome == outcomeError {
		level = slog.LevelError
	}
	r.log.Log(context.Background(), level, "run finished", attrs...)
}

// execute posts the placeholder, runs the agent turn and delivers its end.
func (r *run) execute() result {
	b := r.b
	live, lane, err := r.openLive()
	r.lane = lane
	if err != nil {
		r.settle(&result{outcome: outcomeError, notice: "placeholder not posted"})
		return result{outcome: outcomeError, err: err}
	}
	b.metrics.TimeToPlaceholder(r.ps.name, time.Since(r.job.received))
	ref := live.Ref()
	r.ref = ref
	r.live = live
	r.recordLive(ref)
	inflight := chat.InFlightRun{Key: r.job.key, Placeholder: ref, InboundID: r.job.inboundID, Started: r.started}
	if r.tracked {
		inflight.RunID = r.handle.id
	}
	if r.job.seq != 0 {
		// The queued turn becomes the in-flight run in one transaction.
		if err := b.shared.store.StartQueued(r.life, r.job.seq, inflight); err != nil {
			r.settle(&result{outcome: outcomeError, notice: "turn not started"})
			return result{outcome: outcomeInterrupted, err: fmt.Errorf("start the queued turn: %w", err)}
		}
		*r.job.started = true
	} else if err := b.store.PutRun(r.life, inflight); err != nil {
		r.log.Warn("in-flight run not recorded", "err", err)
	}

	stopIndicator := r.indicate()
	ctx, cancel := context.WithTimeout(r.handle.ctx, b.cfg.Runs.RunTimeout)
	res := r.turn(ctx)
	cancel()
	r.endTurn()
	stopIndicator()
	if r.job.hold != nil && !r.job.hold.held() {
		// Another replica owns the conversation now and finalises this
		// run as interrupted: nothing more is written from here.
		return result{outcome: outcomeInterrupted, err: errors.Join(res.err, errLeaseLost)}
	}
	r.settle(&res)
	if res.note != "" && res.outcome != outcomeStopped {
		if _, err := r.ps.out.Post(r.life, r.job.key, noticeMessage(res.note), outbox.PrioNormal); err != nil {
			r.log.Warn("note not posted", "err", err)
		}
	}
	if err := r.deliver(&res); err != nil {
		// The in-flight record stays: the next start-up finalises the placeholder.
		res.err = errors.Join(res.err, err)
		return res
	}
	// The final state is out: the record must go even if the bridge is
	// stopping right now, or the next start would overwrite the answer.
	if err := b.store.DeleteRun(context.WithoutCancel(r.life), r.job.key); err != nil {
		r.log.Warn("in-flight run not removed", "err", err)
	}
	return res
}

// deliver puts the end of the turn into the conversation.
func (r *run) deliver(res *result) error {
	r.view.finishSteps()
	switch res.outcome {
	case outcomeDone:
		chunks := answerMessages(r.ps.mentions, res.answer, r.ps.limits.MaxMessageChars)
		if r.ps.buttons {
			// The answer's last part carries its 👍/👎.
			chunks[len(chunks)-1].Feedback = r.handle.id
		}
		if _, err := r.live.Finish(r.life, chunks, r.view.summary()); err != nil {
			return fmt.Errorf("deliver answer: %w", err)
		}
	case outcomeApproval:
		if g, ok := r.grantFor(res.approval); ok {
			err := r.autoApprove(res.approval, g)
			if errors.Is(err, errStopped) {
				res.outcome, res.stoppedBy = outcomeStopped, r.stoppedBy("")
				return r.finishStopped(res.stoppedBy)
			}
			if err != nil {
				res.outcome = outcomeError
				res.notice = "⚠️ The agent's request was approved by a grant, but could not be continued. Please try again."
				res.err = errors.Join(res.err, err)
				r.settle(res)
				return r.finishNotice(res.notice)
			}
			return nil
		}
		err := r.requestApproval(res.approval)
		switch {
		case errors.Is(err, errStopped):
			res.outcome, res.stoppedBy = outcomeStopped, r.stoppedBy(res.stoppedBy)
			return r.finishStopped(res.stoppedBy)
		case err != nil:
			res.outcome = outcomeError
			res.notice = "⚠️ The agent asked for an approval, but the request could not be shown. Please try again."
			res.err = errors.Join(res.err, err)
			r.settle(res)
			if res.outcome == outcomeStopped {
				return r.finishStopped(res.stoppedBy)
			}
			return r.finishNotice(res.notice)
		}
		return r.showWaiting()
	case outcomeStopped:
		return r.finishStopped(res.stoppedBy)
	default:
		return r.finishNotice(res.notice)
	}
	return nil
}

// finish delivers msg as the last state of the run's live message.
func (r *run) finish(msg chat.Message) error {
	l := r.live
	if r.liveDone {
		l = r.ps.out.LiveUnder(r.life, r.ref)
	}
	r.liveDone = true
	if _, err := l.Finish(r.life, []chat.Message{msg}, chat.Message{}); err != nil {
		return err
	}
	return nil
}

// finishNotice ends the live message with a failure notice; a failed run's
// notice carries its Retry button.
func (r *run) finishNotice(text string) error {
	id := ""
	if r.tracked {
		id = r.handle.id
	}
	if err := r.finish(failureMessage(text, id)); err != nil {
		return fmt.Errorf("deliver notice: %w", err)
	}
	return nil
}

// finishStopped ends the live message with "Stopped by X" and the steps seen.
func (r *run) finishStopped(by string) error {
	if err := r.finish(stoppedMessage(r.ps.mentions, r.view.message(r.ps.limits.MaxMessageChars).Steps, by, "")); err != nil {
		return fmt.Errorf("deliver stop: %w", err)
	}
	return nil
}

// turn resolves the conversation's session and runs the agent.
func (r *run) turn(ctx context.Context) result {
	b := r.b
	conv, err := b.store.GetConversation(ctx, r.job.key)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		if r.job.decided != nil {
			return result{outcome: outcomeError, notice: "⚠️ The agent session of this approval is gone. Please ask again.", err: err}
		}
		now := time.Now()
		conv = chat.Conversation{
			Key:     r.job.key,
			AgentID: r.rt.agent,
			Mode:    r.rt.mode,
			Visitor: visitorID(r.ps.p, r.job.key, r.job.user),
			Created: now,
		}
	case err != nil:
		return r.failure(ctx, fmt.Errorf("load conversation: %w", err))
	}
	r.agentID = conv.AgentID
	var res result
	if conv.Mode == chat.ModeTrigger {
		res = r.trigger(ctx, &conv)
	} else {
		res = r.stream(ctx, &conv)
	}
	if conv.SessionToken != "" || conv.SessionID != "" {
		conv.LastActive = time.Now()
		conv.Turns++
		if err := b.store.PutConversation(r.life, conv); err != nil {
			r.log.Warn("conversation not saved", "err", err)
		}
	}
	return res
}

// stream runs a stream-mode turn, starting (or restarting once) the session.
func (r *run) stream(ctx context.Context, conv *chat.Conversation) result {
	fresh := false
	if conv.SessionToken == "" {
		if err := r.start(ctx, conv); err != nil {
			return r.failure(ctx, err)
		}
		fresh = true
	}
	s, err := r.b.agent.Stream(ctx, conv.AgentID, conv.SessionToken, r.job.query)
	note := ""
	if err != nil && sessionGone(err) && !fresh && r.job.decided == nil {
		r.log.Info("agent session gone: starting a new one", "err", err)
		conv.SessionToken = ""
		if err := r.start(ctx, conv); err != nil {
			return r.failure(ctx, err)
		}
		note = restartNoteText
		s, err = r.b.agent.Stream(ctx, conv.AgentID, conv.SessionToken, r.job.query)
	}
	if err != nil {
		if sessionGone(err) && r.job.decided != nil {
			return result{outcome: outcomeError, notice: "⚠️ The agent session expired before the decision arrived. Please ask again.", err: err}
		}
		res := r.failure(ctx, fmt.Errorf("open stream: %w", err))
		res.note = note
		return res
	}
	res := r.consume(ctx, s)
	res.note = note
	return res
}

// start starts a new agent session and stores it.
func (r *run) start(ctx context.Context, conv *chat.Conversation) error {
	sess, err := r.b.agent.Start(ctx, conv.AgentID, promptev.StartOptions{Visitor: conv.Visitor, Platform: r.ps.name})
	if err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	if sess == nil || sess.SessionToken == "" {
		return errors.New("start session: no session token in the answer")
	}
	conv.SessionToken = sess.SessionToken
	if err := r.b.store.PutConversation(r.life, *conv); err != nil {
		r.log.Warn("conversation not saved", "err", err)
	}
	return nil
}

// trigger runs a trigger-mode turn: one blocking call.
func (r *run) trigger(ctx context.Context, conv *chat.Conversation) result {
	opts := promptev.TriggerOptions{SessionID: conv.SessionID, Variables: r.rt.variables, Visitor: conv.Visitor}
	res, err := r.b.agent.Trigger(ctx, conv.AgentID, r.job.query, opts)
	note := ""
	if err != nil && sessionGone(err) && conv.SessionID != "" {
		r.log.Info("agent session gone: starting a new one", "err", err)
		opts.SessionID = ""
		note = restartNoteText
		res, err = r.b.agent.Trigger(ctx, conv.AgentID, r.job.query, opts)
	}
	if err != nil {
		out := r.failure(ctx, fmt.Errorf("trigger: %w", err))
		out.note = note
		return out
	}
	r.events++
	r.b.metrics.AgentEvent(r.ps.name, promptev.EventDone)
	if res.SessionID != "" {
		conv.SessionID = res.SessionID
	}
	return result{outcome: outcomeDone, answer: res.Response, note: note}
}

// consume reads the stream until its terminal event, rendering live states.
// The context closes the stream to end a blocked Next: no goroutine is
// needed per run. An idle stream fails on its own (EventStream).
func (r *run) consume(ctx context.Context, s EventStream) result {
	stopClose := context.AfterFunc(ctx, func() { _ = s.Close() })
	defer func() {
		stopClose()
		if err := s.Close(); err != nil {
			r.log.Debug("closing agent stream", "err", err)
		}
	}()
	for {
		ev, err := s.Next()
		switch {
		case err != nil && ctx.Err() != nil:
			return r.failure(ctx, ctx.Err())
		case err != nil:
			return r.failure(ctx, err)
		}
		if res, end := r.onEvent(ev); end {
			return res
		}
	}
}

// onEvent applies one agent event; end is true for a terminal event.
func (r *run) onEvent(ev promptev.AgentEvent) (result, bool) {
	r.events++
	r.b.metrics.AgentEvent(r.ps.name, ev.Type)
	switch ev.Type {
	case promptev.EventProcessing:
		first := r.view.total == 0
		r.view.addStep(agentText(r.ps.mentions, ev.Output, maxStatusRunes), r.b.cfg.Render.Steps)
		r.update()
		if first && r.job.decided == nil {
			r.b.metrics.TimeToFirstStatus(r.ps.name, time.Since(r.job.received))
		}
	case promptev.EventThoughts:
		if mode := r.b.cfg.Render.ShowThoughts; mode != ThoughtsOff {
			r.view.addThought(agentText(r.ps.mentions, ev.Output, maxThoughtRunes), mode)
			r.update()
		}
	case promptev.EventDone:
		return result{outcome: outcomeDone, answer: ev.Output}, true
	case promptev.EventError:
		return result{outcome: outcomeError, notice: failureText(r.ps.mentions, ev.Output), err: errors.New("agent error event")}, true
	case promptev.EventApprovalRequired:
		return result{outcome: outcomeApproval, approval: ev}, true
	default:
		r.log.Debug("unknown agent event ignored", "type", ev.Type)
	}
	return result{}, false
}

// update hands the current live state to the coalescing editor.
func (r *run) update() {
	r.updates++
	m := r.withStop(r.view.message(r.ps.limits.MaxMessageChars))
	r.live.Set(m)
	if r.status != nil {
		r.status.set(m)
	}
}

// failure turns an error into the user-facing end of the turn. A run
// cancelled through its handle ends with the cancellation's notice, whatever
// error the cancellation caused.
func (r *run) failure(ctx context.Context, err error) result {
	switch {
	case r.b.runs.Err() != nil:
		return result{outcome: outcomeInterrupted, notice: interruptedText, err: err}
	case errors.Is(r.handle.cancelCause(), errStopped):
		return result{outcome: outcomeStopped, err: r.handle.cancelCause()}
	case r.handle.cancelCause() != nil:
		return result{outcome: outcomeCancelled, notice: cancelledText, err: errors.Join(r.handle.cancelCause(), err)}
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		return result{outcome: outcomeError, notice: fmt.Sprintf("⚠️ The agent took longer than %s; the run was stopped.", r.b.cfg.Runs.RunTimeout), err: err}
	case errors.Is(err, io.EOF), errors.Is(err, promptev.ErrIncompleteStream):
		return result{outcome: outcomeError, notice: "⚠️ The agent's answer ended unexpectedly. Please try again.", err: err}
	case errors.Is(err, promptev.ErrStreamIdle):
		return result{outcome: outcomeError, notice: "⚠️ The agent stopped responding. Please try again.", err: err}
	}
	return result{outcome: outcomeError, notice: agentErrorText(err, r.b.operatorAtHand), err: err}
}

// agentErrorText is the user-facing text for a failed agent request. It
// reads the HTTP status of the SDK's common *promptev.Error, which every typed
// SDK error (RateLimitError, NotFoundError, ...) unwraps to. operatorAtHand
// (Options.OperatorAtHand) replaces "tell the operator" by a pointer at the
// printed error.
func agentErrorText(err error, operatorAtHand bool) string {
	tell := "Please tell the operator."
	if operatorAtHand {
		tell = "The request and the answer are printed below."
	}
	var pe *promptev.Error
	if !errors.As(err, &pe) || pe.StatusCode == 0 {
		return "⚠️ Lost the connection to the agent. Please try again."
	}
	switch code := pe.StatusCode; {
	case code == http.StatusTooManyRequests:
		return "⚠️ The agent service is busy right now. Please try again in a minute."
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return "⚠️ The bridge could not authenticate with the agent service. " + tell
	case code == http.StatusNotFound:
		return "⚠️ The agent was not found. " + tell
	case code >= 500:
		return "⚠️ The agent service failed. Please try again."
	}
	return "⚠️ The agent service rejected the request."
}

// sessionGone reports whether err says the API no longer knows the session
// (401 or 404 on a session call).
func sessionGone(err error) bool {
	var pe *promptev.Error
	return errors.As(err, &pe) && (pe.StatusCode == http.StatusUnauthorized || pe.StatusCode == http.StatusNotFound)
}

// visitorID is the visitor a conversation's session is started with: the
// platform's own rule (chat.VisitorNamer), else chat.DefaultVisitorID.
func visitorID(p chat.Platform, key chat.ConversationKey, u chat.User) string {
	if vn, ok := p.(chat.VisitorNamer); ok {
		return vn.VisitorID(key, u)
	}
	return chat.DefaultVisitorID(key, u)
}

// workingStatus is the text of a platform's native "working" indicator
// before the first step.
const workingStatus = "is working on it…"

// statusCallTimeout bounds the call that clears the indicator.
const statusCallTimeout = 5 * time.Second

// indicate shows the platform's native "working" indicator (an assistant
// thread status, a typing indicator) while the agent runs, when the platform
// has one: first workingStatus, then each step's text as the run goes (the
// status line everyone in the conversation sees), paced like live edits. It
// returns the function that clears it. The calls run on a worker, so a slow
// indicator never delays the run; failures are only logged, since the live
// message already shows the run's progress.
func (r *run) indicate() (stop func()) {
	ss, ok := r.ps.p.(chat.StatusSetter)
	if !ok {
		return func() {}
	}
	b, key := r.b, r.job.key
	under := r.life
	r.status = b.startPacer(r.log, r.ps.limits.MinEditInterval, func(ctx context.Context, m chat.Message) error {
		if err := chat.CheckFence(under); err != nil {
			return err
		}
		return ss.SetStatus(ctx, key, statusLineText(m))
	})
	r.status.set(chat.Message{Kind: chat.KindStatus, Status: workingStatus})
	return func() {
		p := r.status
		r.status = nil
		// Clear even while stopping: a stale "working" status would outlive the run.
		clear := func() {
			p.stop()
			if chat.CheckFence(under) != nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(under), statusCallTimeout)
			defer cancel()
			if err := ss.SetStatus(ctx, key, ""); err != nil {
				r.log.Debug("status indicator not cleared", "err", err)
			}
		}
		if !b.workers.Go(clear) {
			clear()
		}
	}
}

// statusLineText is the status line of a live state: its current step's
// text, verbatim, or workingStatus before the first step.
func statusLineText(m chat.Message) string {
	if m.Status == "" || m.Status == thinkingText {
		return workingStatus
	}
	return m.Status
}
