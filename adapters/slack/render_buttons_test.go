package slack

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
)

func TestRenderMessageButtons(t *testing.T) {
	tests := []struct {
		name       string
		msg        chat.Message
		wantAction string
		wantValue  string
		wantStyle  string
	}{
		{"status with Stop", chat.Message{Kind: chat.KindStatus, Status: "Thinking…",
			Buttons: []chat.Button{{Kind: chat.Stop, Target: "RUN1", Label: "Stop"}}}, "pvb_stop", "RUN1", "danger"},
		{"notice with Retry", chat.Message{Kind: chat.KindNotice, Body: "failed", Final: true,
			Buttons: []chat.Button{{Kind: chat.Retry, Target: "RUN2", Label: "Retry"}}}, "pvb_retry", "RUN2", "primary"},
		{"no buttons", chat.Message{Kind: chat.KindStatus, Status: "⏹ Stopped by Ana", Final: true}, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := json.Marshal(render(tt.msg).Blocks)
			require.NoError(t, err)
			var blocks []struct {
				Type     string `json:"type"`
				Elements []struct {
					Type     string `json:"type"`
					ActionID string `json:"action_id"`
					Value    string `json:"value"`
					Style    string `json:"style"`
				} `json:"elements"`
			}
			require.NoError(t, json.Unmarshal(raw, &blocks))
			var actions []string
			for _, b := range blocks {
				for _, e := range b.Elements {
					if e.Type == "button" {
						actions = append(actions, e.ActionID)
						assert.Equal(t, tt.wantValue, e.Value)
						assert.Equal(t, tt.wantStyle, e.Style)
						kind, ok := parseActionID(e.ActionID)
						require.True(t, ok)
						assert.Equal(t, tt.msg.Buttons[0].Kind, kind)
					}
				}
			}
			if tt.wantAction == "" {
				assert.Empty(t, actions)
			} else {
				assert.Equal(t, []string{tt.wantAction}, actions)
			}
		})
	}
}

func TestRenderStoppedCard(t *testing.T) {
	r := render(chat.Message{Kind: chat.KindApproval, Final: true,
		Approval: &chat.ApprovalCard{ID: "a1", Tool: "git.push", State: chat.ApprovalStopped, DecidedBy: "Ana"}})
	assert.Contains(t, r.Text, "Stopped by Ana")
	raw, err := json.Marshal(r.Blocks)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), `"button"`)
}

func TestRenderGrantButton(t *testing.T) {
	r := render(chat.Message{Kind: chat.KindApproval,
		Approval: &chat.ApprovalCard{ID: "a1", Tool: "jira.create_issue", State: chat.ApprovalPending, DenyWithReason: true, GrantTool: true}})
	raw, err := json.Marshal(r.Blocks)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"action_id":"pvb_approve_all","value":"a1"`)
	assert.Contains(t, string(raw), `"text":"Approve all jira.create_issue here"`)
	r = render(chat.Message{Kind: chat.KindApproval, Final: true,
		Approval: &chat.ApprovalCard{ID: "a1", Tool: "jira.create_issue", State: chat.ApprovalApproved, DecidedBy: "Ana", Granted: true}})
	assert.Contains(t, r.Text, "Approved for this conversation by Ana")
}
