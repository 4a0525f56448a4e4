package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"text/template"
	"time"

	"github.com/promptev/promptev-bridge/bridge/outbox"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/internal/workgroup"
)

// ErrClosed is returned by HandleMessage once Shutdown has begun or Run has ended.
var ErrClosed = errors.New("bridge: shutting down")

// Intervals of the background sweepers.
const (
	expirySweepInterval = 15 * time.Second
	dedupeSweepInterval = time.Minute
	sweepBatch          = 500
)

// Options are the dependencies of a Bridge.
type Options struct {
	// Config is the bridge's configuration; it must pass Validate.
	Config Config
	// Agent runs the agents (ClientAgent over a *promptev.Client).
	Agent Agent
	// Store keeps sessions, approvals, in-flight runs and the dedupe ledger.
	Store chat.Store
	// Platforms are the chat platforms, each with a distinct Name.
	Platforms []chat.Platform
	// Logger receives the bridge's logs; nil discards them.
	Logger *slog.Logger
	// Metrics receives measurements; nil means NopMetrics.
	Metrics Metrics
	// RunEnded, when set, is told each time a message this process accepted
	// is over: its run ended (OutcomeDone, OutcomeError, OutcomeCancelled, or
	// OutcomeApproval once the approval is recorded; the decision's
	// continuation is a run of its own that ends later), it was refused
	// (OutcomeBusy), or it was
	// dropped from the queue at shutdown (OutcomeInterrupted). It is called
	// on the engine's goroutines and must not block.
	RunEnded func(key chat.ConversationKey, outcome string)
	// OperatorAtHand says the person chatting runs the bridge (a terminal
	// session): a notice of a failure they must fix (authentication, an
	// unknown agent) points at the error printed beside the conversation
	// instead of asking them to tell the operator.
	OperatorAtHand bool
	// Replica tunes the bridge when Store is shared by replicas
	// (chat.Cluster); it is ignored otherwise.
	Replica ReplicaOptions
}

// Run outcomes, as told to Options.RunEnded.
const (
	OutcomeDone        = outcomeDone
	OutcomeError       = outcomeError
	OutcomeApproval    = outcomeApproval
	OutcomeInterrupted = outcomeInterrupted
	OutcomeCancelled   = outcomeCancelled
	OutcomeBusy        = outcomeBusy
)

// platformState is one platform with its sender and optional abilities.
type platformState struct {
	p       chat.Platform
	name    string
	limits  chat.Limits
	out     *outbox.Outbox
	buttons bool
	// mentions makes agent text unable to ping on this platform
	// (chat.MentionGuard; text is kept as it is without one).
	mentions func(string) string
}

// Bridge connects chat platforms to Promptev agents. It is safe for
// concurrent use; create it with New and start it with Run.
type Bridge struct {
	cfg       Config
	agent     Agent
	store     chat.Store
	log       *slog.Logger
	metrics   Metrics
	runEnded  func(key chat.ConversationKey, outcome string)
	platforms map[string]*platformState
	// feedbackQuery is the parsed feedback.query (nil when off).
	feedbackQuery *template.Template

	// operatorAtHand is Options.OperatorAtHand.
	operatorAtHand bool

	// shared is set when the store is shared by replicas: conversations
	// then have owners (cluster.go).
	shared *shared

	// life ends when Run ends: platform writes stop. runs is its child and
	// ends when Shutdown's grace is over: agent streams stop.
	life       context.Context
	endLife    context.CancelFunc
	runs       context.Context
	cancelRuns context.CancelFunc

	// ready is closed once Run has listed the runs a previous process left
	// in flight; new runs wait for it so recovery never confuses them.
	ready chan struct{}

	// denyReason is approvals.deny_with_reason_query, parsed.
	denyReason *template.Template

	// actions holds the handler of each button kind; it is filled in New
	// and only read afterwards.
	actions map[chat.ActionKind]actionHandler

	// active holds the cancel handle of every run whose agent turn is under
	// way, by run id and by conversation.
	active activeRuns

	// posting maps the id of each approval whose card this process is
	// posting and recording to its *postingCard (requestApproval closes
	// those cards itself).
	posting sync.Map

	mu      sync.Mutex
	convs   map[chat.ConversationKey]*conversation
	started bool
	// workers runs the goroutines that run conversations and apply
	// decisions. It is closed once Shutdown has begun or Run has ended: the
	// bridge is then closing and starts no more work.
	workers workgroup.Group
}

var _ chat.Handler = (*Bridge)(nil)

// New checks the options and builds a Bridge.
func New(o Options) (*Bridge, error) {
	if err := o.Config.Validate().Err(); err != nil {
		return nil, fmt.Errorf("bridge: invalid config: %w", err)
	}
	if o.Agent == nil {
		return nil, errors.New("bridge: no agent")
	}
	if o.Store == nil {
		return nil, errors.New("bridge: no store")
	}
	if len(o.Platforms) == 0 {
		return nil, errors.New("bridge: no platform")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NopMetrics{}
	}
	b := &Bridge{
		cfg:       o.Config,
		agent:     o.Agent,
		store:     o.Store,
		log:       o.Logger.With("component", "bridge"),
		metrics:   o.Metrics,
		runEnded:  o.RunEnded,
		platforms: make(map[string]*platformState, len(o.Platforms)),
		convs:     make(map[chat.ConversationKey]*conversation),
		ready:     make(chan struct{}),
		actions:   make(map[chat.ActionKind]actionHandler),
	}
	b.denyReason, _ = denyReasonTemplate(o.Config.Approvals.DenyWithReasonQuery) // checked by Validate
	b.operatorAtHand = o.OperatorAtHand
	b.shared = newShared(o.Store, o.Replica)
	b.registerApprovals()
	b.registerRuns()
	b.registerFeedback()
	b.feedbackQuery, _ = parseFeedbackQuery(o.Config.Feedback.Query) // validated above
	for i, p := range o.Platforms {
		if p == nil {
			return nil, fmt.Errorf("bridge: platform %d is nil", i)
		}
		name := p.Name()
		if name == "" {
			return nil, fmt.Errorf("bridge: platform %d has no name", i)
		}
		if _, dup := b.platforms[name]; dup {
			return nil, fmt.Errorf("bridge: platform %q given twice", name)
		}
		lim := p.Limits()
		if lim.MaxMessageChars <= 0 {
			return nil, fmt.Errorf("bridge: platform %q declares no message size limit", name)
		}
		ps := &platformState{p: p, name: name, limits: lim, mentions: func(s string) string { return s }}
		if mg, ok := p.(chat.MentionGuard); ok {
			ps.mentions = mg.NeutralizeMentions
		}
		if bt, ok := p.(chat.Buttons); ok {
			ps.buttons = bt.ButtonsSupported()
		}
		shared, _ := o.Store.(chat.SharedBudgets) // a store shared by replicas shares their budgets
		if bs, ok := p.(chat.BudgetSharing); ok && shared != nil {
			bs.ShareBudgets(shared)
		}
		ps.out = outbox.New(p, outbox.Options{
			FinalDeadline: o.Config.Render.FinalDeadline,
			Logger:        b.log,
			Metrics:       o.Metrics,
			Shared:        shared,
		})
		b.platforms[name] = ps
	}
	b.life, b.endLife = context.WithCancel(context.Background())
	b.runs, b.cancelRuns = context.WithCancel(b.life)
	return b, nil
}

// Run runs the bridge: it first finalises the runs a previous process left
// in flight, then runs the platform senders, the approval expiry sweeper and
// the dedupe sweeper until ctx ends. It returns after every goroutine the
// bridge started has exited. Call Shutdown before ending ctx for a graceful
// stop; without it, running streams are cut and their in-flight records are
// finalised at the next start. Run may be called once.
func (b *Bridge) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.started {
		b.mu.Unlock()
		return errors.New("bridge: Run called twice")
	}
	b.started = true
	b.mu.Unlock()

	var leftovers []chat.InFlightRun
	if b.shared == nil {
		var err error
		if leftovers, err = b.store.ListRuns(ctx); err != nil {
			b.log.Error("cannot list interrupted runs", "err", err)
		}
	}
	close(b.ready)

	var bg sync.WaitGroup
	for _, ps := range b.platforms {
		bg.Go(func() { ps.out.Run(b.life) })
	}
	if b.shared != nil {
		// The runs and turns of replicas that died (this process's
		// predecessor among them) are taken over once their leases
		// expire; live replicas' are theirs.
		bg.Go(func() { b.listen(b.life) })
		bg.Go(func() { b.sweepLoop(b.life, dedupeSweepInterval, b.sweepLeases) })
		bg.Go(func() {
			b.sweepOrphans(b.life, time.Now())
			b.sweepLoop(b.life, b.shared.ttl/5, b.sweepOrphans)
		})
	} else {
		bg.Go(func() { b.recover(b.life, leftovers) })
	}
	bg.Go(func() { b.sweepLoop(b.life, expirySweepInterval, b.sweepExpired) })
	bg.Go(func() { b.sweepLoop(b.life, dedupeSweepInterval, b.sweepDedupe) })
	bg.Go(func() { b.sweepLoop(b.life, dedupeSweepInterval, b.sweepRunRecords) })

	select {
	case <-ctx.Done():
	case <-b.life.Done():
	}
	b.workers.Close()
	b.endLife()
	b.workers.Wait()
	bg.Wait()
	return nil
}

// Shutdown stops intake (HandleMessage returns ErrClosed), lets running
// streams finish for the configured grace or until ctx ends, whichever comes
// first, then cuts the rest and finalises them as interrupted. Finalising is
// given FinalDeadline plus a second even when ctx has ended, so no run is
// left as an eternal "thinking"; an error is returned when that was not
// enough. Queued messages that had not started are dropped, with a notice in
// their conversation. Run keeps the platform senders going until its own
// context ends, so call Shutdown first.
func (b *Bridge) Shutdown(ctx context.Context) error {
	b.workers.Close()
	done := make(chan struct{})
	go func() {
		b.workers.Wait()
		close(done)
	}()
	grace := time.NewTimer(b.cfg.Runs.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
		return nil
	case <-grace.C:
	case <-ctx.Done():
	}
	b.log.Info("shutdown: interrupting running streams")
	b.cancelRuns()
	bound := b.cfg.Render.FinalDeadline + time.Second
	finalise := time.NewTimer(bound)
	defer finalise.Stop()
	select {
	case <-done:
		return nil
	case <-finalise.C:
		return fmt.Errorf("bridge: shutdown: interrupted runs not finalised within %s", bound)
	}
}

// sweepLoop calls sweep every interval until ctx ends.
func (b *Bridge) sweepLoop(ctx context.Context, every time.Duration, sweep func(context.Context, time.Time)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			sweep(ctx, now)
		}
	}
}

// sweepDedupe deletes expired dedupe entries in batches.
func (b *Bridge) sweepDedupe(ctx context.Context, now time.Time) {
	for ctx.Err() == nil {
		n, err := b.store.SweepDedupe(ctx, now, sweepBatch)
		if err != nil {
			b.log.Warn("dedupe sweep failed", "err", err)
			return
		}
		if n < sweepBatch {
			return
		}
	}
}

func (b *Bridge) platform(name string) (*platformState, bool) {
	ps, ok := b.platforms[name]
	return ps, ok
}

// mentionsOf is the mentions rule of the platform name (none for a
// platform the bridge does not serve, like one without a MentionGuard).
func (b *Bridge) mentionsOf(name string) func(string) string {
	if ps, ok := b.platform(name); ok {
		return ps.mentions
	}
	return func(s string) string { return s }
}
