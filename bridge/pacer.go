package bridge

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// paceCallTimeout bounds one paced call; a lane that hangs loses one state,
// never the run.
const paceCallTimeout = 5 * time.Second

// pacer sends the latest of a run's live states through one platform call
// (a native stream's append, the status line) at the pace the platform
// allows: at most one call in flight, at least interval apart, and after a
// *chat.RateLimitError not before its RetryAfter. Newer states replace older
// ones that were not sent yet. Its goroutine is owned by the bridge's
// workers and ends with stop.
type pacer struct {
	send     func(ctx context.Context, m chat.Message) error
	interval time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	pending *chat.Message
	stopped bool
	// sent counts the states the platform accepted.
	sent int

	wake chan struct{} // buffered(1)
	quit chan struct{} // closed by stop
	done chan struct{} // closed when the goroutine returns
	// cancel ends a call in flight when the pacer stops: the run's end
	// (its final) never waits for a live state.
	cancel context.CancelFunc
}

// startPacer starts a pacer on the bridge's workers; when the bridge is
// stopping, the pacer only records states (nothing is sent).
func (b *Bridge) startPacer(log *slog.Logger, interval time.Duration, send func(context.Context, chat.Message) error) *pacer {
	ctx, cancel := context.WithCancel(b.life)
	p := &pacer{
		send:     send,
		interval: interval,
		log:      log,
		wake:     make(chan struct{}, 1),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		cancel:   cancel,
	}
	if !b.workers.Go(func() { p.loop(ctx) }) {
		close(p.done)
	}
	return p
}

// set makes m the state to send next; it never blocks.
func (p *pacer) set(m chat.Message) {
	m = cloneMessage(m)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.pending = &m
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// stop ends the pacer, cancelling a call in flight, and waits for its
// goroutine; states not sent are dropped. It returns how many states were
// sent.
func (p *pacer) stop() int {
	p.mu.Lock()
	if !p.stopped {
		p.stopped = true
		p.pending = nil
		close(p.quit)
	}
	p.mu.Unlock()
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent
}

func (p *pacer) loop(life context.Context) {
	defer close(p.done)
	for {
		select {
		case <-p.wake:
		case <-p.quit:
			return
		case <-life.Done():
			return
		}
		p.mu.Lock()
		m := p.pending
		p.pending = nil
		p.mu.Unlock()
		if m == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(life, paceCallTimeout)
		err := p.send(ctx, *m)
		cancel()
		wait := p.interval
		var rl *chat.RateLimitError
		switch {
		case err == nil:
			p.mu.Lock()
			p.sent++
			p.mu.Unlock()
		case errors.As(err, &rl):
			// Nothing was sent: only the platform's wait applies.
			wait = rl.RetryAfter
			p.mu.Lock()
			if p.pending == nil && !p.stopped {
				p.pending = m
			}
			p.mu.Unlock()
		case life.Err() != nil:
			return
		default:
			p.log.Debug("live state not sent", "err", err)
		}
		if !p.pause(life, wait) {
			return
		}
		p.mu.Lock()
		more := p.pending != nil
		p.mu.Unlock()
		if more {
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
	}
}

// pause waits d; false when the pacer or the bridge stopped meanwhile.
func (p *pacer) pause(life context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.quit:
		return false
	case <-life.Done():
		return false
	}
}

// cloneMessage copies m's slices and card, so a held state cannot change.
func cloneMessage(m chat.Message) chat.Message {
	if m.Steps != nil {
		m.Steps = append([]chat.Step(nil), m.Steps...)
	}
	if m.Approval != nil {
		card := *m.Approval
		m.Approval = &card
	}
	return m
}
