package discord

import (
	"testing"

	"github.com/bwmarrin/discordgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/chat"
)

func TestRenderMessageButtons(t *testing.T) {
	tests := []struct {
		name    string
		msg     chat.Message
		want    []discordgo.Button
		wantErr bool
	}{
		{"status with Stop", chat.Message{Kind: chat.KindStatus, Status: "Thinking…",
			Buttons: []chat.Button{{Kind: chat.Stop, Target: "RUN1", Label: "Stop"}}},
			[]discordgo.Button{{Label: "Stop", Style: discordgo.DangerButton, CustomID: "pvb:stop:RUN1"}}, false},
		{"notice with Retry", chat.Message{Kind: chat.KindNotice, Body: "⚠️ failed", Final: true,
			Buttons: []chat.Button{{Kind: chat.Retry, Target: "RUN2", Label: "Retry"}}},
			[]discordgo.Button{{Label: "Retry", Style: discordgo.PrimaryButton, CustomID: "pvb:retry:RUN2"}}, false},
		{"final without buttons removes them", chat.Message{Kind: chat.KindStatus, Status: "⏹ Stopped by Ana", Final: true}, nil, false},
		{"target too long", chat.Message{Kind: chat.KindStatus,
			Buttons: []chat.Button{{Kind: chat.Stop, Target: string(make([]byte, 100)), Label: "Stop"}}}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := render(tt.msg)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, r.components, "components are always sent")
			if tt.want == nil {
				assert.Empty(t, r.components)
				return
			}
			require.Len(t, r.components, 1)
			row := r.components[0].(discordgo.ActionsRow)
			var got []discordgo.Button
			for _, c := range row.Components {
				got = append(got, c.(discordgo.Button))
			}
			assert.Equal(t, tt.want, got)
			kind, target, ok := parseCustomID(got[0].CustomID)
			require.True(t, ok)
			assert.Equal(t, tt.msg.Buttons[0].Kind, kind)
			assert.Equal(t, tt.msg.Buttons[0].Target, target)
		})
	}
}

func TestRenderStoppedCard(t *testing.T) {
	r, err := render(chat.Message{Kind: chat.KindApproval, Final: true,
		Approval: &chat.ApprovalCard{ID: "a1", Tool: "git.push", State: chat.ApprovalStopped, DecidedBy: "Ana"}})
	require.NoError(t, err)
	assert.Contains(t, r.content, "⏹ Stopped by **Ana**.")
	assert.Empty(t, r.components)
}

func TestRenderGrantButton(t *testing.T) {
	r, err := render(chat.Message{Kind: chat.KindApproval,
		Approval: &chat.ApprovalCard{ID: "a1", Tool: "jira.create_issue", State: chat.ApprovalPending, DenyWithReason: true, GrantTool: true}})
	require.NoError(t, err)
	require.Len(t, r.components, 1)
	row := r.components[0].(discordgo.ActionsRow)
	require.Len(t, row.Components, 4)
	grant := row.Components[3].(discordgo.Button)
	assert.Equal(t, "Approve all jira.create_issue here", grant.Label)
	kind, target, ok := parseCustomID(grant.CustomID)
	require.True(t, ok)
	assert.Equal(t, chat.ApproveConversation, kind)
	assert.Equal(t, "a1", target)

	r, err = render(chat.Message{Kind: chat.KindApproval, Final: true,
		Approval: &chat.ApprovalCard{ID: "a1", Tool: "jira.create_issue", State: chat.ApprovalApproved, DecidedBy: "Ana", Granted: true}})
	require.NoError(t, err)
	assert.Contains(t, r.content, "✅ Approved for this conversation by **Ana**.")
}
