package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// maxRequestBody caps an HTTP-mode request body; Slack's are far smaller.
const maxRequestBody = 1 << 20

// runHTTP serves the Events API and interactivity endpoints until ctx ends.
func (a *Adapter) runHTTP(ctx context.Context, h chat.Handler) error {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("slack: http mode: listen on %s: %w", a.cfg.Listen, err)
	}
	a.mu.Lock()
	a.httpAddr = ln.Addr()
	a.mu.Unlock()
	// The listener accepts connections from here on (Serve picks them up).
	a.ready.Store(true)
	a.listeningOnce.Do(func() { close(a.listening) })
	srv := &http.Server{
		Handler:           a.httpHandler(ctx, h),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("slack http mode listening", "addr", ln.Addr().String(),
		"events_path", a.cfg.EventsPath, "interactions_path", a.cfg.InteractionsPath)

	select {
	case <-ctx.Done():
		a.ready.Store(false)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
		<-errc
		return nil
	case err := <-errc:
		return fmt.Errorf("slack: http mode: serve: %w", err)
	}
}

// httpHandler routes the two Slack request URLs. Handlers use ctx (the Run
// context) for the bridge calls made after the acknowledgement.
func (a *Adapter) httpHandler(ctx context.Context, h chat.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+a.cfg.EventsPath, func(w http.ResponseWriter, r *http.Request) {
		a.serveEvent(ctx, h, w, r)
	})
	mux.HandleFunc("POST "+a.cfg.InteractionsPath, func(w http.ResponseWriter, r *http.Request) {
		a.serveInteraction(ctx, h, w, r)
	})
	if a.oauth() {
		mux.HandleFunc("GET "+a.cfg.OAuth.InstallPath, a.serveInstall)
		mux.HandleFunc("GET "+a.cfg.OAuth.redirectPath(), func(w http.ResponseWriter, r *http.Request) {
			a.serveOAuthRedirect(ctx, w, r)
		})
	}
	return mux
}

// readVerified reads the raw body and checks its signature and timestamp
// before anything parses it. On failure it answers (401, or 413 for a huge
// body) and returns ok false.
func (a *Adapter) readVerified(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "bad request", http.StatusBadRequest)
		}
		return nil, false
	}
	sv, err := slack.NewSecretsVerifier(r.Header, a.cfg.SigningSecret)
	if err == nil {
		_, _ = sv.Write(body)
		err = sv.Ensure()
	}
	if err != nil {
		reason := "invalid signature"
		switch {
		case errors.Is(err, slack.ErrExpiredTimestamp):
			reason = "expired timestamp"
		case errors.Is(err, slack.ErrMissingHeaders):
			reason = "missing signature headers"
		}
		a.log.Warn("slack request rejected", "path", r.URL.Path, "reason", reason, "remote", r.RemoteAddr)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return nil, false
	}
	return body, true
}

// handOverTimeout bounds the hand-over of a message to the bridge, which
// the HTTP response or the Socket Mode ack waits for: within Slack's
// 3-second deadline.
const handOverTimeout = 2 * time.Second

// serveEvent answers an Events API request: the url_verification challenge,
// or a message handed over to the bridge and then acknowledged with a 200,
// or another event acknowledged at once and then applied. A message the
// bridge could not accept (its store unreachable, the bridge shutting down)
// is answered 503, so Slack delivers it again, to this replica or another.
// Retries (X-Slack-Retry-Num) are handed over too: the bridge dedupes them.
func (a *Adapter) serveEvent(ctx context.Context, h chat.Handler, w http.ResponseWriter, r *http.Request) {
	body, ok := a.readVerified(w, r)
	if !ok {
		return
	}
	ev, err := slackevents.ParseEvent(body, slackevents.OptionNoVerifyToken())
	if err != nil {
		if !json.Valid(body) {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		// An event type this adapter does not subscribe to: acknowledge it so
		// Slack does not retry.
		a.log.Debug("slack event not understood, acknowledged", errAttr(err))
		w.WriteHeader(http.StatusOK)
		return
	}
	if ev.Type == slackevents.URLVerification {
		uv, ok := ev.Data.(*slackevents.EventsAPIURLVerificationEvent)
		if !ok {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, uv.Challenge)
		return
	}
	if n := r.Header.Get("X-Slack-Retry-Num"); n != "" {
		a.log.Debug("slack redelivery", "retry_num", n, "reason", r.Header.Get("X-Slack-Retry-Reason"))
	}
	self := a.self.Load()
	if a.oauth() {
		// The installation of the event's team: its bot, its token.
		if self, ok = a.eventTenant(ctx, h, ev); !ok {
			ackNow(w)
			return
		}
	}
	if _, stop := ev.InnerEvent.Data.(*slackevents.AgentSessionStoppedEvent); !stop {
		if msg, ok := inboundFromEvent(self, ev, a.now()); ok {
			a.handOver(ctx, h, w, msg)
			return
		}
	}
	ackNow(w)
	a.onAgentSessionStopped(ctx, h, ev)
}

// handOver hands msg to the bridge, then answers the request: 200 once the
// bridge has it (accepted, or dropped as a duplicate), 503 when it could not
// take it. The bridge's dedupe makes Slack's redelivery safe either way.
func (a *Adapter) handOver(ctx context.Context, h chat.Handler, w http.ResponseWriter, msg chat.InboundMessage) {
	hctx, cancel := context.WithTimeout(ctx, handOverTimeout)
	err := h.HandleMessage(hctx, msg)
	cancel()
	if err != nil {
		a.log.Warn("slack message not accepted: answered 503 so Slack delivers it again",
			"conversation", msg.Key.String(), "event_id", msg.EventID, errAttr(err))
		http.Error(w, "not accepted, try again", http.StatusServiceUnavailable)
		return
	}
	ackNow(w)
}

// serveInteraction acknowledges a verified interactivity request with an
// empty 200 at once, then applies its approval clicks (applyClick), so the
// bridge's store work never delays the acknowledgement.
func (a *Adapter) serveInteraction(ctx context.Context, h chat.Handler, w http.ResponseWriter, r *http.Request) {
	body, ok := a.readVerified(w, r)
	if !ok {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	ackNow(w)
	if a.oauth() && cb.Enterprise.ID != "" {
		// A click names the org of its workspace: remembered for the
		// answers, which name the workspace only.
		_, _ = a.tenantFor(ctx, firstNonEmpty(cb.Team.ID, cb.User.TeamID), cb.Enterprise.ID)
	}
	a.applyClick(ctx, h, cb)
}

// ackNow sends a complete, empty 200 at once (Content-Length 0, flushed), so
// Slack's 3-second deadline is met whatever the handler does afterwards.
func ackNow(w http.ResponseWriter) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}
