package slackfake

import (
	"context"
	"time"
)

// maxRetries is how many times Slack redelivers an envelope that was not
// acknowledged (retry_attempt 1 to 3).
const maxRetries = 3

// Delivery is one attempt of Deliver to hand an event over.
type Delivery struct {
	// EventID is the event's id, the same in every attempt.
	EventID string
	// EnvelopeID is the attempt's envelope id.
	EnvelopeID string
	// Conn is the connection it was sent on (a ConnIDs value), 0 when no
	// connection was open.
	Conn int
	// RetryAttempt and RetryReason are what the envelope carried.
	RetryAttempt int
	RetryReason  string
}

// Deliver hands ev over the way Slack does and returns its event id at once:
// the envelope goes to the next open connection in turn; when it is not
// acknowledged within the ack timeout (WithAckTimeout, default 3 s, Slack's
// deadline), it is sent again with retry_attempt 1, 2 and 3 and
// retry_reason "timeout", each time on another open connection when there
// is one. An attempt made while no connection is open is lost and retried
// the same way. The attempts run in the background until one is
// acknowledged, the retries run out or the server closes; Deliveries lists
// them.
func (s *Server) Deliver(ev Event) string {
	s.mu.Lock()
	if ev.EventID == "" {
		ev.EventID = s.nextIDLocked("Ev")
	}
	if s.closed {
		s.mu.Unlock()
		return ev.EventID
	}
	s.wg.Add(1)
	s.mu.Unlock()
	body := s.EventBody(ev)
	go func() {
		defer s.wg.Done()
		prev := 0
		for attempt := 0; attempt <= maxRetries; attempt++ {
			env := Envelope{Type: "events_api", Payload: body, RetryAttempt: attempt}
			if attempt > 0 {
				env.RetryReason = "timeout"
			}
			id, conn, err := s.sendEnvelope(env, prev)
			if err != nil {
				conn = 0 // lost: no connection, or the write failed
			}
			prev = conn
			s.mu.Lock()
			s.socket.deliveries = append(s.socket.deliveries, Delivery{
				EventID: ev.EventID, EnvelopeID: id, Conn: conn, RetryAttempt: env.RetryAttempt, RetryReason: env.RetryReason,
			})
			s.notifyLocked()
			s.mu.Unlock()
			if s.awaitAck(id) {
				return
			}
		}
	}()
	return ev.EventID
}

// awaitAck waits up to the ack timeout for envelopeID's acknowledgement; it
// reports true when it arrived or the server closed (nothing more to do).
func (s *Server) awaitAck(envelopeID string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), s.ackTimeout)
	defer cancel()
	err := s.WaitFor(ctx, func() bool {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		return closed || s.Acked(envelopeID)
	})
	return err == nil
}

// Deliveries returns the attempts of Deliver for eventID (all events when
// ""), oldest first.
func (s *Server) Deliveries(eventID string) []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Delivery
	for _, d := range s.socket.deliveries {
		if eventID == "" || d.EventID == eventID {
			out = append(out, d)
		}
	}
	return out
}

// WithAckTimeout sets how long Deliver waits for an acknowledgement before
// it redelivers (default 3 s, Slack's deadline).
func WithAckTimeout(d time.Duration) Option { return func(s *Server) { s.ackTimeout = d } }
