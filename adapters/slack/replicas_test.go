package slack_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/adapters/slack"
	"github.com/promptev/promptev-bridge/adapters/slack/slackfake"
	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/promptev"
	"github.com/promptev/promptev-bridge/promptev/promptevtest"
	"github.com/promptev/promptev-bridge/store/postgres"
	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"
)

// replicas is n bridges, each with its own Slack adapter (one Socket Mode
// connection each) and its own PostgreSQL pool on one schema, over one
// slackfake enforcing Slack's documented limits and one fake Promptev API.
type replicas struct {
	fake  *slackfake.Server
	agent *stampAgent
	// ran counts the runs each replica ended.
	mu  sync.Mutex
	ran []int
}

// localStore hides a store's shared budgets: the bridge then keeps its
// budgets in the process, as before they were shared.
type localStore struct{ chat.Store }

// startReplicas starts n replicas; with shared false their stores do not
// share budgets; edit, when not nil, changes each adapter's config.
// Everything is stopped when tb ends.
func startReplicas(tb testing.TB, n int, shared bool, agent promptevtest.Agent, edit func(*slack.Config)) *replicas {
	tb.Helper()
	dsn := postgrestest.DSN(tb)
	fake := slackfake.New(tb, slackfake.WithRateLimits())
	api := promptevtest.NewServer(projectKey)
	tb.Cleanup(api.Close)
	api.AddAgent(agentID, agent)
	client, err := promptev.New(projectKey, promptev.WithBaseURL(api.URL))
	require.NoError(tb, err)
	r := &replicas{fake: fake, agent: &stampAgent{Agent: bridge.ClientAgent(client), stamp: map[string]time.Time{}}, ran: make([]int, n)}
	for i := range n {
		st, err := postgres.Open(context.Background(), dsn, postgres.Options{MaxConns: 4})
		require.NoError(tb, err)
		var store chat.Store = st
		if !shared {
			store = localStore{st}
		}
		cfg := slack.DefaultConfig()
		cfg.Enabled = true
		cfg.BotToken, cfg.AppToken, cfg.APIURL = slackfake.BotToken, slackfake.AppToken, fake.APIURL()
		cfg.SocketConnections = 1
		if edit != nil {
			edit(&cfg)
		}
		adapter, err := slack.New(cfg, slog.New(slog.DiscardHandler))
		require.NoError(tb, err)
		bcfg := bridge.DefaultConfig()
		bcfg.Routes.Default.Agent = agentID
		b, err := bridge.New(bridge.Options{
			Config: bcfg, Agent: r.agent, Store: store, Platforms: []chat.Platform{adapter},
			RunEnded: func(chat.ConversationKey, string) {
				r.mu.Lock()
				r.ran[i]++
				r.mu.Unlock()
			},
		})
		require.NoError(tb, err)
		tb.Cleanup(func() {
			assert.NoError(tb, st.Close())
		})
		bridgetest.Serve(tb, b, adapter)
		fake.Await(tb, fmt.Sprintf("socket connection of replica %d", i), func() bool { return fake.Connections() == i+1 })
	}
	return r
}

// mention starts one conversation per channel, "conv<NN>" in channel
// C<NN>; the fake deals the mentions to the replicas' connections in turn.
func (r *replicas) mention(tb testing.TB, n int) {
	tb.Helper()
	for i := range n {
		ev := r.fake.Mention(fmt.Sprintf("C%02d", i), "U1", fmt.Sprintf("conv%02d", i))
		_, err := r.fake.SendEvent(ev, 0)
		require.NoError(tb, err)
	}
}

// replicaFigures are what the replicas did to Slack.
type replicaFigures struct {
	limited     int             // calls answered 429, of every method
	maxUpdates  int             // chat.update calls, refused ones included, in any 60 s
	doneToFinal []time.Duration // per conversation, sorted
}

// await waits until every conversation's answer is shown, then measures.
func (r *replicas) await(tb testing.TB, n int, timeout time.Duration) replicaFigures {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := r.fake.WaitFor(ctx, func() bool {
		got := 0
		for _, c := range r.fake.Calls("chat.update", "chat.postMessage") {
			if c.Error == "" && strings.Contains(string(c.Blocks)+c.Text, " answer") {
				got++
			}
		}
		return got >= n
	})
	require.NoError(tb, err, "every answer shown")
	var f replicaFigures
	calls := r.fake.Calls()
	var updates []time.Time
	for _, c := range calls {
		if c.Error == "ratelimited" {
			f.limited++
		}
		if c.Method == "chat.update" {
			updates = append(updates, c.At)
		}
	}
	f.maxUpdates = mostInWindow(updates, time.Minute)
	for i := range n {
		conv := fmt.Sprintf("conv%02d", i)
		doneAt, ok := r.agent.at(conv + " answer")
		require.True(tb, ok, "%s done read", conv)
		for _, c := range calls {
			if shows(c, conv+" answer") {
				f.doneToFinal = append(f.doneToFinal, c.At.Sub(doneAt))
				break
			}
		}
	}
	require.Len(tb, f.doneToFinal, n)
	slices.Sort(f.doneToFinal)
	return f
}

// mostInWindow is the most of times in any window [t, t+w).
func mostInWindow(times []time.Time, w time.Duration) int {
	ts := slices.Clone(times)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	best, lo := 0, 0
	for hi := range ts {
		for ts[hi].Sub(ts[lo]) >= w {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// stepScript is n steps every apart, then done after as long again; every
// text names its conversation (the query).
func stepScript(n int, every time.Duration) []promptevtest.Event {
	script := make([]promptevtest.Event, 0, n+1)
	for i := range n {
		script = append(script, promptevtest.Event{Type: "processing", Output: fmt.Sprintf("{{query}} step %03d", i+1), Delay: every})
	}
	return append(script, promptevtest.Event{Type: promptevtest.TypeDone, Output: "{{query}} answer", Delay: every})
}

// TestReplicasShareSlackBudgets runs 18 conversations of one workspace on
// three replicas whose chat.update budget is 30 a minute with a burst of
// 20: shared through PostgreSQL, no 60 s holds more than 50 calls, so
// Slack answers no call with a 429, and every replica ran conversations;
// kept by each replica alone, the three bursts together overrun Slack's 50.
func TestReplicasShareSlackBudgets(t *testing.T) {
	const n = 18
	for _, shared := range []bool{true, false} {
		t.Run(fmt.Sprintf("shared=%t", shared), func(t *testing.T) {
			r := startReplicas(t, 3, shared, promptevtest.Agent{Script: stepScript(10, 300*time.Millisecond)}, func(c *slack.Config) {
				c.EditBudgetPerMin, c.EditBurst = 30, 20
			})
			r.mention(t, n)
			f := r.await(t, n, 60*time.Second)
			if !shared {
				assert.Positive(t, f.limited, "three bursts of 20 overrun Slack's 50 a minute")
				return
			}
			assert.Zero(t, f.limited, "429s")
			assert.LessOrEqual(t, f.maxUpdates, slackfake.UpdatePerMin, "chat.update calls in any minute")
			r.fake.Await(t, "every run ended", func() bool {
				r.mu.Lock()
				defer r.mu.Unlock()
				return r.ran[0]+r.ran[1]+r.ran[2] == n
			})
			r.mu.Lock()
			defer r.mu.Unlock()
			for i, ran := range r.ran {
				assert.Positive(t, ran, "replica %d ran conversations", i)
			}
		})
	}
}

// BenchmarkReplicasFiftyConversations runs 50 conversations in one Slack
// workspace (one channel thread each, 130 steps 500 ms apart, then done:
// longer than the 60 s window Slack counts chat.update in) on
// three replicas, each with its own Socket Mode connection and PostgreSQL
// pool, against slackfake enforcing Slack's documented limits. budgets=shared
// is the bridge as it runs on PostgreSQL; budgets=local hides the shared
// budgets from the replicas (each keeps its own, as before). It reports the
// calls answered 429 (every method), the most chat.update calls (refused
// ones included) in any 60 s, and done→final p50/p99/max. One iteration is
// about 66 s of agent time; use -benchtime 1x.
func BenchmarkReplicasFiftyConversations(b *testing.B) {
	for _, shared := range []bool{true, false} {
		name := "budgets=local"
		if shared {
			name = "budgets=shared"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				const n = 50
				r := startReplicas(b, 3, shared, promptevtest.Agent{Script: stepScript(130, 500*time.Millisecond)}, nil)
				r.mention(b, n)
				f := r.await(b, n, 3*time.Minute)
				ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
				b.ReportMetric(float64(f.limited), "429s")
				b.ReportMetric(float64(f.maxUpdates), "max_chat.update/60s")
				b.ReportMetric(ms(f.doneToFinal[len(f.doneToFinal)/2]), "p50_done→final_ms")
				b.ReportMetric(ms(f.doneToFinal[len(f.doneToFinal)*99/100]), "p99_done→final_ms")
				b.ReportMetric(ms(f.doneToFinal[len(f.doneToFinal)-1]), "max_done→final_ms")
			}
		})
	}
}
