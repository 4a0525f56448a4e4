package slackfake

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestLimiterPosts(t *testing.T) {
	l := &limiter{posts: map[string]*bucket{}}
	t0 := time.Unix(1_700_000_000, 0)
	for i := range PostBurst {
		ok, _ := l.admit("chat.postMessage", "C1", t0)
		assert.True(t, ok, "burst post %d", i)
	}
	ok, wait := l.admit("chat.postMessage", "C1", t0.Add(900*time.Millisecond))
	assert.False(t, ok, "a fourth post within the first second")
	assert.Equal(t, time.Second, wait)
	ok, _ = l.admit("chat.postMessage", "C2", t0)
	assert.True(t, ok, "another channel has its own budget")
	ok, _ = l.admit("chat.postMessage", "C1", t0.Add(time.Second))
	assert.True(t, ok, "one post a second after the burst")
	ok, _ = l.admit("chat.postMessage", "C1", t0.Add(1500*time.Millisecond))
	assert.False(t, ok)
	ok, _ = l.admit("chat.postMessage", "C1", t0.Add(2*time.Second))
	assert.True(t, ok)
}

func TestLimiterUpdates(t *testing.T) {
	l := &limiter{posts: map[string]*bucket{}}
	t0 := time.Unix(1_700_000_000, 0)
	for i := range UpdatePerMin {
		ok, _ := l.admit("chat.update", "C1", t0.Add(time.Duration(i)*time.Second))
		assert.True(t, ok, "update %d", i)
	}
	ok, wait := l.admit("chat.update", "C9", t0.Add(59*time.Second))
	assert.False(t, ok, "the 51st update within a minute, in any channel of the workspace")
	assert.Equal(t, time.Second, wait)
	assert.Equal(t, 1, retryAfterSeconds(wait))
	ok, _ = l.admit("chat.update", "C1", t0.Add(60*time.Second))
	assert.True(t, ok, "the first update left the window")
	ok, _ = l.admit("chat.delete", "C1", t0)
	assert.True(t, ok, "other methods are not limited here")
}
