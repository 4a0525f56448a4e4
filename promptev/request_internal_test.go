package promptev

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		base, max time.Duration
	}{
		{500 * time.Millisecond, 8 * time.Second},
		{time.Millisecond, 2 * time.Millisecond},
		{time.Hour, time.Hour},
		{time.Nanosecond, time.Duration(1<<63 - 1)},
	}
	for _, tt := range tests {
		c, err := New("pk_x", WithRetryBackoff(tt.base, tt.max))
		require.NoError(t, err)
		for n := range 70 {
			d := tt.base
			for range n {
				if d >= tt.max/2 {
					d = tt.max
					break
				}
				d *= 2
			}
			d = min(d, tt.max)
			for range 20 {
				got := c.backoff(n)
				assert.GreaterOrEqual(t, got, d/2, "n=%d", n)
				assert.LessOrEqual(t, got, d, "n=%d", n)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 10 ", 10 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{"999999999999", 24 * time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, parseRetryAfter(tt.in, now), tt.in)
	}
}

func TestExpand(t *testing.T) {
	assert.Equal(t, "/v1/k%2Fey/agent/a%20b%3F/stream", expand("/v1/{project_key}/agent/{agent_id}/stream", "a b?", "k/ey"))
	assert.Equal(t, "/agent/x/start", expand("/agent/{agent_id}/start", "x", "secret"))
}

func TestCheckProjectKey(t *testing.T) {
	for _, ok := range []string{"pk_live_123", "abc", "A-b.C_d~e+f/g="} {
		assert.NoError(t, checkProjectKey(ok), ok)
	}
	for _, bad := range []string{"", " pk", "pk ", "p\tk", "pk\n", "pké", "${KEY}", string(make([]byte, 600))} {
		assert.Error(t, checkProjectKey(bad), "%q", bad)
	}
}
