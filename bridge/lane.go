package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/promptev/promptev-bridge/bridge/outbox"
	"github.com/promptev/promptev-bridge/chat"
)

// Lanes: how a run shows its progress, as logged with the run.
const (
	// laneEdit is the placeholder the outbox edits.
	laneEdit = "edit"
	// laneStream is the platform's native stream (chat.NativeStreamer).
	laneStream = "stream"
)

// liveSink is where a run shows its progress and then its end: the
// placeholder's live message (*outbox.LiveMessage) or a native stream.
type liveSink interface {
	// Set replaces the live state; it never blocks.
	Set(m chat.Message)
	// Finish delivers the final chunks: chunks[0] ends the live message and
	// the others are posted after it. tidy, when not zero, is what the live
	// message should show if chunks[0] had to be posted elsewhere.
	Finish(ctx context.Context, chunks []chat.Message, tidy chat.Message) ([]chat.MessageRef, error)
	// Ref is the live message.
	Ref() chat.MessageRef
}

var _ liveSink = (*outbox.LiveMessage)(nil)

// openLive gives the run its live message: a native stream when the
// platform offers one and grants it for this run, else a placeholder
// posted through the outbox.
func (r *run) openLive() (liveSink, string, error) {
	if ns, ok := r.ps.p.(chat.NativeStreamer); ok {
		ctx, cancel := context.WithTimeout(r.life, paceCallTimeout)
		ref, err := ns.StartStream(ctx, chat.StreamRequest{Key: r.job.key, Asker: r.job.user, InboundID: r.job.inboundID})
		cancel()
		if err == nil {
			return r.b.newStreamSink(r, ns, ref), laneStream, nil
		}
		if !errors.Is(err, chat.ErrNoLane) {
			r.log.Warn("native stream not started; posting a placeholder", "err", err)
		} else {
			r.log.Debug("native stream declined; posting a placeholder", "reason", err)
		}
	}
	ref, err := r.ps.out.Post(r.life, r.job.key, r.withStop(placeholderMessage()), outbox.PrioHigh)
	if err != nil {
		return nil, laneEdit, fmt.Errorf("post placeholder: %w", err)
	}
	return r.ps.out.LiveUnder(r.life, ref), laneEdit, nil
}

// streamSink is a run's native stream: live states go through a pacer to
// AppendStream; the final goes to StopStream, and the answer's further parts
// are posted through the outbox.
type streamSink struct {
	b     *Bridge
	ns    chat.NativeStreamer
	out   *outbox.Outbox
	ref   chat.MessageRef
	log   *slog.Logger
	pace  *pacer
	final time.Duration
	// under is the run's context, whose fence every stream call checks.
	under context.Context

	mu sync.Mutex
	// steps are the latest live state's steps, which the stream ends with
	// (completed), whether or not their last state was appended.
	steps []chat.Step
}

func (b *Bridge) newStreamSink(r *run, ns chat.NativeStreamer, ref chat.MessageRef) *streamSink {
	s := &streamSink{b: b, ns: ns, out: r.ps.out, ref: ref, log: r.log, final: b.cfg.Render.FinalDeadline, under: r.life}
	if s.final <= 0 {
		s.final = 2 * time.Second
	}
	s.pace = b.startPacer(r.log, r.ps.limits.MinEditInterval, func(ctx context.Context, m chat.Message) error {
		if err := chat.CheckFence(r.life); err != nil {
			return err
		}
		return ns.AppendStream(ctx, ref, m)
	})
	return s
}

// Ref returns the stream's message.
func (s *streamSink) Ref() chat.MessageRef { return s.ref }

// Set hands the latest live state to the stream's pacer.
func (s *streamSink) Set(m chat.Message) {
	s.mu.Lock()
	s.steps = append(s.steps[:0:0], m.Steps...)
	s.mu.Unlock()
	s.pace.set(m)
}

// Finish stops the stream with chunks[0] and posts the other chunks. When the
// stream cannot be stopped within the final deadline (its budget is short,
// or the call failed), every chunk is posted instead, and the stream is
// stopped later with tidy (or chunks[0]) on a worker.
func (s *streamSink) Finish(ctx context.Context, chunks []chat.Message, tidy chat.Message) ([]chat.MessageRef, error) {
	if len(chunks) == 0 {
		return nil, errors.New("stream: finish: no chunks")
	}
	if err := errors.Join(chat.CheckFence(s.under), chat.CheckFence(ctx)); err != nil {
		return nil, fmt.Errorf("stream: finish: %w", err)
	}
	s.pace.stop()
	deadline := time.Now().Add(s.final)
	last := chunks[0]
	s.mu.Lock()
	last.Steps = append([]chat.Step(nil), s.steps...)
	s.mu.Unlock()
	for i := range last.Steps {
		last.Steps[i].Done = true
	}
	stopped, retry := s.stop(ctx, last, deadline)
	if stopped {
		refs := []chat.MessageRef{s.ref}
		for _, c := range chunks[1:] {
			ref, err := s.out.Post(ctx, s.ref.Key, c, outbox.PrioHigh)
			if err != nil {
				return refs, err
			}
			refs = append(refs, ref)
		}
		return refs, nil
	}
	var refs []chat.MessageRef
	for _, c := range chunks {
		ref, err := s.out.Post(ctx, s.ref.Key, c, outbox.PrioHigh)
		if err != nil {
			return refs, err
		}
		refs = append(refs, ref)
	}
	later := chunks[0]
	if tidy.Status != "" || tidy.Body != "" {
		later = tidy
	}
	s.stopLater(later, retry)
	return refs, nil
}

// stop tries StopStream until deadline; retry is the wait a rate limit asked
// for when it gave up.
func (s *streamSink) stop(ctx context.Context, final chat.Message, deadline time.Time) (ok bool, retry time.Duration) {
	for {
		cctx, cancel := context.WithDeadline(ctx, deadline)
		err := s.ns.StopStream(cctx, s.ref, final)
		cancel()
		if err == nil {
			return true, 0
		}
		var rl *chat.RateLimitError
		if !errors.As(err, &rl) {
			s.log.Warn("stream not stopped with the final; posting it instead", "err", err)
			return false, time.Second
		}
		if time.Now().Add(rl.RetryAfter).After(deadline) {
			s.log.Debug("stream stop budget short; posting the final instead", "retry_after", rl.RetryAfter)
			return false, rl.RetryAfter
		}
		if !chat.SleepContext(ctx, rl.RetryAfter) {
			return false, 0
		}
	}
}

// stopLater stops the stream with m on a worker, after wait and then as
// rate limits allow, until the bridge stops.
func (s *streamSink) stopLater(m chat.Message, wait time.Duration) {
	b := s.b
	b.workers.Go(func() {
		for attempt := 0; attempt < 10; attempt++ {
			if !chat.SleepContext(b.life, wait) {
				return
			}
			if chat.CheckFence(s.under) != nil {
				return
			}
			ctx, cancel := context.WithTimeout(b.life, paceCallTimeout)
			err := s.ns.StopStream(ctx, s.ref, m)
			cancel()
			if err == nil {
				return
			}
			var rl *chat.RateLimitError
			if !errors.As(err, &rl) {
				s.log.Warn("stream not stopped", "err", err)
				return
			}
			wait = rl.RetryAfter
		}
	})
}
