package slack

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Each lane's budget, driven as hard as it allows for five minutes, stays
// under Slack's documented limit with a margin in every window.
func TestLaneBudgetsStayUnderSlackLimits(t *testing.T) {
	tests := []struct {
		method string
		limit  int           // Slack's limit (the fake's model where Slack publishes none)
		window time.Duration // in any window of this length
	}{
		{"chat.startStream", 20, time.Minute},
		{"chat.stopStream", 20, time.Minute},
		{"chat.appendStream", 100, time.Minute},
		{"assistant.threads.setStatus", 1, time.Second},
		{"agents.sessions.setStatus", 50, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			l := newLanes()
			t0 := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
			var granted []time.Time
			for now := t0; now.Before(t0.Add(5 * time.Minute)); now = now.Add(10 * time.Millisecond) {
				for {
					ok, wait := l.take(tt.method, "T1", now)
					if !ok {
						assert.Positive(t, wait)
						break
					}
					granted = append(granted, now)
				}
			}
			most := 0
			for i := range granted {
				n := 0
				for j := i; j < len(granted) && granted[j].Sub(granted[i]) < tt.window; j++ {
					n++
				}
				most = max(most, n)
			}
			assert.LessOrEqual(t, most, tt.limit, "at most Slack's limit in any window")
			if tt.limit > 1 {
				assert.Less(t, most, tt.limit, "with a margin")
			}
			assert.Greater(t, len(granted), 0)
		})
	}
}

func TestLaneBudgetScopes(t *testing.T) {
	l := newLanes()
	now := time.Now()
	ok, _ := l.take("assistant.threads.setStatus", "C1 1.1", now)
	assert.True(t, ok)
	ok, wait := l.take("assistant.threads.setStatus", "C1 1.1", now)
	assert.False(t, ok)
	assert.Equal(t, 1250*time.Millisecond, wait, "4 calls per 5 s: one every 1.25 s")
	ok, _ = l.take("assistant.threads.setStatus", "C1 1.2", now)
	assert.True(t, ok, "another thread has its own budget")
}

func TestMissingLaneRememberedOnce(t *testing.T) {
	l := newLanes()
	assert.False(t, l.isMissing("T1", laneStream))
	assert.True(t, l.markMissing("T1", laneStream, "unknown_method"), "news the first time")
	assert.False(t, l.markMissing("T1", laneStream, "unknown_method"), "logged once")
	assert.True(t, l.isMissing("T1", laneStream))
	assert.False(t, l.isMissing("T2", laneStream), "per workspace")
	assert.False(t, l.isMissing("T1", laneStatus), "per lane")
}

func TestLaneBudgetsOfIdleThreadsAreSwept(t *testing.T) {
	l := newLanes()
	t0 := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	for i := range 5000 {
		l.take("assistant.threads.setStatus", fmt.Sprintf("C1 %d.1", i), t0.Add(time.Duration(i)*time.Millisecond))
	}
	l.mu.Lock()
	n := len(l.tat)
	l.mu.Unlock()
	// At most the threads still within their 1.25 s interval (1,250 at one
	// new thread a millisecond) plus those added since the last sweep.
	assert.LessOrEqual(t, n, 1250+laneSweepEvery, "threads whose budget is full again are forgotten")
	ok, _ := l.take("assistant.threads.setStatus", "C1 4999.1", t0.Add(5000*time.Millisecond))
	assert.False(t, ok, "a thread still within its interval keeps its budget")
}
