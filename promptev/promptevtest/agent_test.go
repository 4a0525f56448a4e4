package promptevtest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDemoAgent(t *testing.T) {
	a := DemoAgent()
	turn := Turn{Query: "printer on fire", History: []string{"hello"}}
	evs := a.events(turn)
	require.NotEmpty(t, evs)
	last := evs[len(evs)-1]
	assert.Equal(t, TypeApprovalRequired, last.Type)
	assert.Equal(t, `Create a Jira ticket for "printer on fire"?`, last.Output)
	assert.Equal(t, "printer on fire", last.Arguments["summary"])
	assert.Equal(t, "{{query}}", a.Script[len(a.Script)-1].Arguments["summary"], "the script itself is not modified")

	done := a.approvalEvents(true, turn)
	assert.Equal(t, TypeDone, done[len(done)-1].Type)
	assert.Contains(t, done[len(done)-1].Output, "Earlier in this thread: hello")
	deny := a.approvalEvents(false, turn)
	assert.Equal(t, TypeDone, deny[len(deny)-1].Type)
}

func TestFaultKindString(t *testing.T) {
	for k := FaultStatus; k <= FaultEOFWithoutDone; k++ {
		assert.NotEqual(t, "unknown", k.String())
	}
	assert.Equal(t, "unknown", FaultKind(0).String())
}

func TestMatch(t *testing.T) {
	tests := []struct {
		tmpl, path string
		want       map[string]string
	}{
		{"/a/{agent_id}/s", "/a/x/s", map[string]string{"agent_id": "x"}},
		{"/a/{agent_id}/s", "/a/x%2Fy/s", map[string]string{"agent_id": "x/y"}},
		{"/v/{project_key}/{agent_id}", "/v/k/a", map[string]string{"project_key": "k", "agent_id": "a"}},
		{"/a/{agent_id}/s", "/a//s", nil},
		{"/a/{agent_id}/s", "/a/x/s/extra", nil},
		{"/a/{agent_id}/s", "/b/x/s", nil},
		{"/fixed", "/fixed", map[string]string{}},
	}
	for _, tt := range tests {
		got, ok := match(tt.tmpl, tt.path)
		if tt.want == nil {
			assert.False(t, ok, tt.path)
			continue
		}
		require.True(t, ok, tt.path)
		assert.Equal(t, tt.want, got)
	}
}
