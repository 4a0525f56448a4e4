package slack

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// runSocket keeps cfg.SocketConnections Socket Mode connections open until
// ctx ends or a fatal error (a refused token) ends them all. Slack spreads
// envelopes and their retries across an app's connections, so while one
// connection is silently dead, the retry of what was lost on it reaches
// another; the adapter notices the dead one (watchSilence) and replaces it.
func (a *Adapter) runSocket(ctx context.Context, h chat.Handler) error {
	if a.client == nil {
		return errors.New("slack: socket mode needs a client made by New")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	slots := make([]*socketSlot, a.cfg.SocketConnections)
	fatal := make(chan error, len(slots))
	var wg sync.WaitGroup
	for i := range slots {
		s := newSocketSlot(i+1, a.now)
		slots[i] = s
		wg.Go(func() {
			if err := a.runSlot(ctx, h, s); err != nil {
				fatal <- err
				cancel()
			}
		})
	}
	wg.Go(func() { a.watchSilence(ctx, slots) })
	wg.Wait()
	select {
	case err := <-fatal:
		return err
	default:
		return nil
	}
}

// runSlot runs one Socket Mode connection (slack-go reconnects it) until ctx
// ends (nil) or a fatal error.
func (a *Adapter) runSlot(ctx context.Context, h chat.Handler, s *socketSlot) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer a.setSlotReady(s, false)
	smc := socketmode.New(a.client,
		socketmode.OptionPingInterval(a.pingInterval),
		socketmode.OptionDialer(s.dialer(a.socketTLS)),
	)
	runErr := make(chan error, 1)
	go func() { runErr <- smc.RunContext(ctx) }()

	for {
		select {
		case <-ctx.Done():
			<-runErr
			return nil
		case err := <-runErr:
			if ctx.Err() != nil {
				return nil
			}
			if fatal := asAuthError("apps.connections.open", "slack.app_token", err); fatal != nil {
				return fatal
			}
			return errors.New("slack: socket mode stopped: " + redact(err.Error()))
		case evt := <-smc.Events:
			if fatal := a.socketEvent(ctx, smc, s, h, evt); fatal != nil {
				cancel()
				<-runErr
				return fatal
			}
		}
	}
}

// socketEvent handles one Socket Mode event of slot s; it returns a fatal
// error when the connection cannot succeed (refused token).
func (a *Adapter) socketEvent(ctx context.Context, smc *socketmode.Client, s *socketSlot, h chat.Handler, evt socketmode.Event) error {
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		a.setSlotReady(s, false)
		a.log.Debug("slack socket mode connecting", "connection", s.idx)
	case socketmode.EventTypeConnectionError:
		a.setSlotReady(s, false)
		if ce, ok := evt.Data.(*slack.ConnectionErrorEvent); ok {
			if fatal := asAuthError("apps.connections.open", "slack.app_token", ce.ErrorObj); fatal != nil {
				return fatal
			}
			a.log.Warn("slack socket mode connection failed, retrying", "connection", s.idx, errAttr(ce.ErrorObj), "backoff", ce.Backoff)
		}
	case socketmode.EventTypeInvalidAuth:
		return &authError{method: "apps.connections.open", code: "invalid_auth", setting: "slack.app_token"}
	case socketmode.EventTypeConnected:
		a.log.Info("slack socket mode connected", "connection", s.idx)
	case socketmode.EventTypeHello:
		a.setSlotReady(s, true)
	case socketmode.EventTypeDisconnect:
		a.setSlotReady(s, false)
		a.log.Info("slack asked to reconnect", "connection", s.idx)
	case socketmode.EventTypeIncomingError:
		a.setSlotReady(s, false)
		if ie, ok := evt.Data.(*slack.IncomingEventError); ok {
			a.log.Warn("slack socket mode read error", "connection", s.idx, errAttr(ie.ErrorObj))
		}
	case socketmode.EventTypeErrorWriteFailed:
		if we, ok := evt.Data.(*socketmode.ErrorWriteFailed); ok {
			a.log.Warn("slack socket mode ack failed", errAttr(we.Cause))
		}
	case socketmode.EventTypeErrorBadMessage:
		a.ackBadMessage(ctx, smc, evt)
	case socketmode.EventTypeEventsAPI:
		ev, ok := evt.Data.(slackevents.EventsAPIEvent)
		if !ok {
			a.ack(ctx, smc, evt.Request)
			return nil
		}
		if evt.Request != nil && evt.Request.RetryAttempt > 0 {
			a.log.Debug("slack redelivery", "retry_attempt", evt.Request.RetryAttempt, "reason", evt.Request.RetryReason)
		}
		if _, stop := ev.InnerEvent.Data.(*slackevents.AgentSessionStoppedEvent); !stop {
			if msg, ok := inboundFromEvent(a.self.Load(), ev, a.now()); ok {
				// Hand over, then ack: a message the bridge could not take
				// (its database unreachable, the bridge stopping) is left
				// unacknowledged, and Slack sends it again, to another
				// connection (another replica's) when there is one.
				hctx, cancel := context.WithTimeout(ctx, handOverTimeout)
				err := h.HandleMessage(hctx, msg)
				cancel()
				if err != nil {
					a.log.Warn("slack message not accepted: left unacknowledged so Slack delivers it again",
						"conversation", msg.Key.String(), "event_id", msg.EventID, errAttr(err))
					return nil
				}
				a.ack(ctx, smc, evt.Request)
				return nil
			}
		}
		a.ack(ctx, smc, evt.Request)
		a.onAgentSessionStopped(ctx, h, ev)
	case socketmode.EventTypeInteractive:
		// Ack first (Slack's 3-second deadline), then apply the click: the
		// bridge's HandleAction reads and fsyncs the store.
		a.ack(ctx, smc, evt.Request)
		if cb, ok := evt.Data.(slack.InteractionCallback); ok {
			a.applyClick(ctx, h, cb)
		}
	case socketmode.EventTypeSlashCommand:
		a.ack(ctx, smc, evt.Request)
	}
	return nil
}

func (a *Adapter) ack(ctx context.Context, smc *socketmode.Client, req *socketmode.Request) {
	if req == nil || req.EnvelopeID == "" {
		return
	}
	if err := smc.AckCtx(ctx, req.EnvelopeID, nil); err != nil && ctx.Err() == nil {
		a.log.Warn("slack ack failed", "envelope", req.EnvelopeID, errAttr(err))
	}
}

// ackBadMessage acks an envelope slack-go could not parse (for example an
// unknown inner event type), so Slack does not redeliver it again and again.
func (a *Adapter) ackBadMessage(ctx context.Context, smc *socketmode.Client, evt socketmode.Event) {
	bad, ok := evt.Data.(*socketmode.ErrorBadMessage)
	if !ok {
		return
	}
	var req socketmode.Request
	if err := json.Unmarshal(bad.Message, &req); err != nil || req.EnvelopeID == "" {
		a.log.Warn("slack sent an unreadable socket mode message", errAttr(bad.Cause))
		return
	}
	a.log.Debug("slack envelope not understood, acknowledged", "envelope", req.EnvelopeID, "type", req.Type, errAttr(bad.Cause))
	a.ack(ctx, smc, &req)
}
