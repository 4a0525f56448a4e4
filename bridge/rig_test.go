package bridge_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

// rig is one Bridge running against a fake platform and a memory store.
type rig struct {
	t       testing.TB
	p       *bridgetest.Platform
	store   *bridgetest.MemStore
	b       *bridge.Bridge
	metrics *countMetrics
	cancel  context.CancelFunc
	done    chan error
	msgSeq  int
	once    sync.Once
}

type rigConf struct {
	cfg      bridge.Config
	platform *bridgetest.Platform
	store    *bridgetest.MemStore
	// backing, when set, is the Store the Bridge uses instead of store (a
	// real bbolt store, or a MemStore wrapped with faults).
	backing  chat.Store
	logger   *slog.Logger
	runEnded func(chat.ConversationKey, string)
}

type rigOption func(*rigConf)

func withConfig(edit func(*bridge.Config)) rigOption {
	return func(c *rigConf) { edit(&c.cfg) }
}

func withPlatform(p *bridgetest.Platform) rigOption {
	return func(c *rigConf) { c.platform = p }
}

func withRunEnded(fn func(chat.ConversationKey, string)) rigOption {
	return func(c *rigConf) { c.runEnded = fn }
}

func withLogger(l *slog.Logger) rigOption {
	return func(c *rigConf) { c.logger = l }
}

func withStore(s *bridgetest.MemStore) rigOption {
	return func(c *rigConf) { c.store = s }
}

// withBackingStore makes the Bridge use s; rig.store is then not the Bridge's store.
func withBackingStore(s chat.Store) rigOption {
	return func(c *rigConf) { c.backing = s }
}

func testConfig() bridge.Config {
	c := bridge.DefaultConfig()
	c.Routes.Default.Agent = "agent-1"
	return c
}

// startRig builds a Bridge and runs it until the test stops it with stop.
func startRig(t testing.TB, agent bridge.Agent, opts ...rigOption) *rig {
	t.Helper()
	conf := rigConf{cfg: testConfig()}
	for _, o := range opts {
		o(&conf)
	}
	if conf.platform == nil {
		conf.platform = bridgetest.NewPlatform("slack", bridgetest.WorkspaceLimits(),
			bridgetest.WithServerLimits(bridgetest.WorkspaceServerLimits()...), bridgetest.WithVisitorID(workspaceVisitor))
	}
	if conf.store == nil {
		conf.store = bridgetest.NewMemStore()
	}
	var st chat.Store = conf.store
	if conf.backing != nil {
		st = conf.backing
	}
	m := newCountMetrics()
	b, err := bridge.New(bridge.Options{
		Config:    conf.cfg,
		Agent:     agent,
		Store:     st,
		Platforms: []chat.Platform{conf.platform},
		Metrics:   m,
		Logger:    conf.logger,
		RunEnded:  conf.runEnded,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{t: t, p: conf.platform, store: conf.store, b: b, metrics: m, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- b.Run(ctx) }()
	return r
}

// stop ends Run (without Shutdown) and waits for it; later calls do nothing.
func (r *rig) stop() {
	r.once.Do(func() {
		r.cancel()
		require.NoError(r.t, <-r.done)
	})
}

// shutdown runs the graceful Shutdown, then stops Run.
func (r *rig) shutdown(ctx context.Context) error {
	err := r.b.Shutdown(ctx)
	r.stop()
	return err
}

func engKey(thread string) chat.ConversationKey {
	return chat.ConversationKey{Platform: "slack", Workspace: "T1", Channel: "C1", Thread: thread}
}

// msg builds a mention from user in key with a fresh message id.
func (r *rig) msg(key chat.ConversationKey, user, text string) chat.InboundMessage {
	r.msgSeq++
	return chat.InboundMessage{
		Key:       key,
		User:      chat.User{ID: user, Name: "name-" + user},
		Text:      text,
		MessageID: fmt.Sprintf("m%d", r.msgSeq),
		Mentioned: true,
		Received:  time.Now(),
	}
}

// send hands a mention to the bridge.
func (r *rig) send(key chat.ConversationKey, user, text string) {
	r.t.Helper()
	require.NoError(r.t, r.b.HandleMessage(context.Background(), r.msg(key, user, text)))
}

// texts returns what users see in key, message by message.
func (r *rig) texts(key chat.ConversationKey) []string {
	var out []string
	for _, m := range r.p.Messages(key) {
		out = append(out, r.p.Text(m.Ref))
	}
	return out
}

// refs returns the refs of the messages in key, in post order.
func (r *rig) refs(key chat.ConversationKey) []chat.MessageRef {
	var out []chat.MessageRef
	for _, m := range r.p.Messages(key) {
		out = append(out, m.Ref)
	}
	return out
}

// countMetrics is a bridge.Metrics that counts calls by name and label.
type countMetrics struct {
	mu     sync.Mutex
	counts map[string]int
	obs    map[string][]time.Duration
}

var _ bridge.Metrics = (*countMetrics)(nil)

func newCountMetrics() *countMetrics {
	return &countMetrics{counts: map[string]int{}, obs: map[string][]time.Duration{}}
}

func (m *countMetrics) inc(name string) {
	m.mu.Lock()
	m.counts[name]++
	m.mu.Unlock()
}

func (m *countMetrics) observe(name string, d time.Duration) {
	m.mu.Lock()
	m.counts[name]++
	m.obs[name] = append(m.obs[name], d)
	m.mu.Unlock()
}

// count returns how often name was recorded ("run:done", "dedupe", ...).
func (m *countMetrics) count(name string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[name]
}

func (m *countMetrics) durations(name string) []time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]time.Duration(nil), m.obs[name]...)
}

func (m *countMetrics) MessageReceived(string)          { m.inc("received") }
func (m *countMetrics) DedupeHit(string)                { m.inc("dedupe") }
func (m *countMetrics) Feedback(_ string, v string)     { m.inc("feedback:" + v) }
func (m *countMetrics) AgentEvent(_ string, typ string) { m.inc("event:" + typ) }
func (m *countMetrics) Edit(_ string, result string)    { m.inc("edit:" + result) }
func (m *countMetrics) RateLimited(_ string, op string) { m.inc("429:" + op) }
func (m *countMetrics) TimeToPlaceholder(_ string, d time.Duration) {
	m.observe("placeholder", d)
}
func (m *countMetrics) TimeToFirstStatus(_ string, d time.Duration) {
	m.observe("first_status", d)
}
func (m *countMetrics) RunFinished(_ string, outcome string, d time.Duration) {
	m.observe("run:"+outcome, d)
}
func (m *countMetrics) Approval(_ string, outcome string, d time.Duration) {
	m.observe("approval:"+outcome, d)
}

func newDiscord() *bridgetest.Platform {
	return bridgetest.NewPlatform("discord", bridgetest.SharedChannelLimits(),
		bridgetest.WithServerLimits(bridgetest.SharedChannelServerLimits()...))
}

// settle lets fake time pass (edit intervals, budgets) until the bubble is idle.
func settle() {
	time.Sleep(5 * time.Second)
	synctest.Wait()
}

// workspaceVisitor is a visitor rule for platforms whose user ids are unique
// per workspace only: "platform:workspace:user".
func workspaceVisitor(key chat.ConversationKey, u chat.User) string {
	return key.Platform + ":" + key.Workspace + ":" + u.ID
}
