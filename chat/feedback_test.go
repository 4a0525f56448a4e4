package chat

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFeedbackTarget(t *testing.T) {
	tests := []struct {
		in     string
		answer string
		v      FeedbackValue
		ok     bool
	}{
		{"RUN1:up", "RUN1", FeedbackUp, true},
		{"RUN1:down", "RUN1", FeedbackDown, true},
		{"a:b:up", "a:b", FeedbackUp, true},
		{":up", "", "", false},
		{"RUN1:meh", "", "", false},
		{"RUN1", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		answer, v, err := ParseFeedbackTarget(tt.in)
		if !tt.ok {
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.answer, answer)
		assert.Equal(t, tt.v, v)
	}
}

func FuzzFeedbackTargetRoundTrip(f *testing.F) {
	f.Add("RUN1", true)
	f.Add("a:b", false)
	f.Add("", true)
	f.Fuzz(func(t *testing.T, answer string, up bool) {
		v := FeedbackDown
		if up {
			v = FeedbackUp
		}
		got, gv, err := ParseFeedbackTarget(FeedbackTarget(answer, v))
		if answer == "" {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		assert.Equal(t, answer, got)
		assert.Equal(t, v, gv)
	})
}
