package metrics

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
)

type laneList []chat.LaneFallback

func (l *laneList) LaneFallbacks() []chat.LaneFallback { return *l }

func TestLaneFallbacksExported(t *testing.T) {
	m := New(Options{NoRuntimeCollectors: true})
	var lanes laneList
	require.NoError(t, m.RegisterLanes("slack", &lanes))
	assert.NotContains(t, gather(t, m, "promptev_bridge_lane_fallback"), "workspace=", "nothing before a fallback")
	lanes = append(lanes, chat.LaneFallback{Workspace: "T1", Lane: "stream", Error: "unknown_method"})
	text := gather(t, m, "promptev_bridge_lane_fallback")
	assert.True(t, strings.Contains(text, `promptev_bridge_lane_fallback{error="unknown_method",lane="stream",platform="slack",workspace="T1"} 1`), text)
}
