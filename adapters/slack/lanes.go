package slack

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/slack-go/slack"
)

// Streaming modes (Config.Streaming).
const (
	// StreamingAuto streams natively in DMs, where the asker is the whole
	// audience; channel threads get the edited placeholder plus the status
	// line, so that everyone sees the same progress.
	StreamingAuto = "auto"
	// StreamingNative streams natively to the asker everywhere, while the
	// stream budgets allow.
	StreamingNative = "native"
	// StreamingEdit shows progress in the edited placeholder alone.
	StreamingEdit = "edit"
)

// Lanes: the Web API methods the adapter shows progress with, beside
// chat.postMessage and chat.update (metered by the bridge's outbox).
const (
	laneStream  = "stream"         // chat.startStream, chat.appendStream, chat.stopStream
	laneStatus  = "status"         // assistant.threads.setStatus
	laneSession = "agent_sessions" // agents.sessions.setStatus
)

// laneMissingCodes are the error codes of a workspace (or token) that lacks
// a lane altogether: asking again would not help.
var laneMissingCodes = map[string]bool{
	"unknown_method":          true,
	"not_allowed_token_type":  true,
	"missing_scope":           true,
	"no_permission":           true,
	"feature_not_enabled":     true,
	"not_allowed":             true,
	"method_not_supported":    true,
	"team_access_not_granted": true,
}

// The lanes' budgets, each under Slack's documented limit with a margin of
// a fifth: chat.startStream and chat.stopStream are Tier 2 (20 a minute per
// workspace), chat.appendStream Tier 4 (100 a minute), agents.sessions.setStatus
// is budgeted as Tier 3 (50 a minute). assistant.threads.setStatus has
// "special" limits without a published figure; it is budgeted at 4 calls
// per 5 s per thread, a fifth under one a second.
var laneRates = map[string]laneRate{
	"chat.startStream":            {count: 16, per: time.Minute, burst: 4, workspace: true},
	"chat.stopStream":             {count: 16, per: time.Minute, burst: 4, workspace: true},
	"chat.appendStream":           {count: 80, per: time.Minute, burst: 10, workspace: true},
	"assistant.threads.setStatus": {count: 4, per: 5 * time.Second, burst: 1},
	"agents.sessions.setStatus":   {count: 40, per: time.Minute, burst: 10, workspace: true},
}

// laneRate is a token bucket: burst at once, then count per per.
// workspace marks a budget per workspace, which replicas share (a thread's
// budget is spent by the one replica running its conversation).
type laneRate struct {
	count     int
	per       time.Duration
	burst     int
	workspace bool
}

// lanes holds the lanes' budgets and what each workspace lacks.
type lanes struct {
	mu sync.Mutex
	// tat is the theoretical arrival time of each budget (GCRA), by method
	// and scope.
	tat map[string]time.Time
	// missing maps "workspace lane" to the error that showed the lane is
	// missing there.
	missing map[string]string
	// processing holds the threads whose agent session this adapter moved
	// to processing and not yet back.
	processing map[string]bool
	// takes counts take calls, for the sweep of spent budgets.
	takes int
	// shared, when set, holds the workspace budgets shared with the other
	// replicas (ShareBudgets).
	shared chat.SharedBudgets
}

// laneSweepEvery is how many take calls go between two sweeps of the
// budgets that are full again (per-thread budgets would otherwise pile up
// for the life of the process).
const laneSweepEvery = 1024

func newLanes() *lanes {
	return &lanes{tat: map[string]time.Time{}, missing: map[string]string{}, processing: map[string]bool{}}
}

// sessionMoves records that thread's session is (working) or is not
// processing, and reports whether that is a change.
func (l *lanes) sessionMoves(thread string, working bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.processing[thread] == working {
		return false
	}
	if working {
		l.processing[thread] = true
	} else {
		delete(l.processing, thread)
	}
	return true
}

// take draws one call of method in scope from its budget at now; when the
// budget is short it draws nothing and returns how long to wait.
func (l *lanes) take(method, scope string, now time.Time) (ok bool, wait time.Duration) {
	r, known := laneRates[method]
	if !known {
		return true, 0
	}
	interval := r.per / time.Duration(r.count)
	tolerance := interval * time.Duration(r.burst-1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.takes++; l.takes%laneSweepEvery == 0 {
		for k, t := range l.tat {
			if !t.After(now) { // a full budget: the same as none
				delete(l.tat, k)
			}
		}
	}
	k := method + " " + scope
	tat := l.tat[k]
	if tat.Before(now) {
		tat = now
	}
	if at := tat.Add(-tolerance); at.After(now) {
		return false, at.Sub(now)
	}
	l.tat[k] = tat.Add(interval)
	return true, 0
}

// isMissing reports whether the workspace lacks lane.
func (l *lanes) isMissing(workspace, lane string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.missing[workspace+" "+lane]
	return ok
}

// markMissing remembers that the workspace lacks lane because of code, and
// reports whether this is news (to be logged once).
func (l *lanes) markMissing(workspace, lane, code string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := workspace + " " + lane
	if _, ok := l.missing[k]; ok {
		return false
	}
	l.missing[k] = code
	return true
}

// LaneFallback is a lane a workspace lacks, and the error that showed it.
type LaneFallback = chat.LaneFallback

var _ chat.LaneReporter = (*Adapter)(nil)

// LaneFallbacks returns the lanes the adapter stopped using, per workspace,
// because Slack answered that the workspace or the token lacks them
// (unknown_method, not_allowed_token_type, missing_scope, ...). The
// bridge's measurements export them.
func (a *Adapter) LaneFallbacks() []LaneFallback {
	a.lanes.mu.Lock()
	defer a.lanes.mu.Unlock()
	out := make([]LaneFallback, 0, len(a.lanes.missing))
	for k, code := range a.lanes.missing {
		ws, lane, _ := strings.Cut(k, " ")
		out = append(out, LaneFallback{Workspace: ws, Lane: lane, Error: code})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Workspace != out[j].Workspace {
			return out[i].Workspace < out[j].Workspace
		}
		return out[i].Lane < out[j].Lane
	})
	return out
}

// laneFailed checks a failed lane call: when Slack's answer says the
// workspace lacks the lane, it is remembered (and logged once) and the
// returned error wraps chat.ErrNoLane; a 429 becomes *chat.RateLimitError.
func (a *Adapter) laneFailed(workspace, lane, method string, err error) error {
	var se slack.SlackErrorResponse
	code := ""
	if errors.As(err, &se) {
		code = se.Err
	} else if s := err.Error(); laneMissingCodes[s] {
		code = s
	}
	if laneMissingCodes[code] {
		if a.lanes.markMissing(workspace, lane, code) {
			a.log.Warn("slack lane not available in this workspace; falling back for the rest of this process",
				"workspace", workspace, "lane", lane, "method", method, "error", code)
		}
		return fmt.Errorf("%w: %s answered %s", chat.ErrNoLane, method, code)
	}
	return mapError(method, err)
}

// budgetShort is the answer to a lane call its budget cannot take now.
func budgetShort(method string, wait time.Duration) error {
	return &chat.RateLimitError{RetryAfter: max(wait, 10*time.Millisecond), Scope: method + " (budget)"}
}
