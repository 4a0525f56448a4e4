package bridgetest

import (
	"strings"

	"github.com/promptev/promptev-bridge/chat"
)

// Mentions is the fake platform's mention syntax: both kinds of escape
// (<@id>, <!word>) and the mass-mention words everyone, here and channel.
var Mentions = chat.MentionSyntax{
	Escapes:   []string{"<@", "<!"},
	MassWords: []string{"everyone", "here", "channel"},
}

// Render returns the plain text a user of the fake platform sees for msg: the
// status line, the thought, the steps (✓ for finished ones, … for running
// ones), the body and the approval card, one part per line. Like a careful
// adapter, it neutralises mentions, so Render never shows a live ping.
func Render(msg chat.Message) string {
	var parts []string
	if msg.Status != "" {
		parts = append(parts, msg.Status)
	}
	if msg.Thought != "" {
		parts = append(parts, "_"+msg.Thought+"_")
	}
	for _, s := range msg.Steps {
		mark := "…"
		if s.Done {
			mark = "✓"
		}
		parts = append(parts, mark+" "+s.Text)
	}
	if msg.Body != "" {
		parts = append(parts, msg.Body)
	}
	if a := msg.Approval; a != nil {
		if a.Tool != "" {
			parts = append(parts, "Tool: "+a.Tool)
		}
		if a.Description != "" {
			parts = append(parts, a.Description)
		}
		if a.Arguments != "" {
			parts = append(parts, "Arguments: "+a.Arguments)
		}
		switch a.State {
		case chat.ApprovalApproved:
			if a.Granted {
				parts = append(parts, "Approved for this conversation by "+a.DecidedBy)
			} else {
				parts = append(parts, "Approved by "+a.DecidedBy)
			}
		case chat.ApprovalDenied:
			if a.Reason != "" {
				parts = append(parts, "Denied by "+a.DecidedBy+": "+a.Reason)
			} else {
				parts = append(parts, "Denied by "+a.DecidedBy)
			}
		case chat.ApprovalExpired:
			parts = append(parts, "Expired")
		case chat.ApprovalStopped:
			parts = append(parts, "Stopped by "+a.DecidedBy)
		default:
			buttons := "[Approve] [Deny]"
			if a.DenyWithReason {
				buttons += " [Deny with reason…]"
			}
			if a.GrantTool {
				buttons += " [Approve all " + a.Tool + " here]"
			}
			parts = append(parts, buttons)
		}
	}
	return Mentions.NeutralizeMentions(strings.Join(parts, "\n"))
}
