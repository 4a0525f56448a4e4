package bridgetest

import (
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// WorkspaceLimits returns limits whose edit budget is per workspace and whose
// post budget is per channel, with the figures a large workspace chat budgets:
// 3,900 runes per message, edits at most 40 per minute per workspace (evenly
// spaced: burst 1, so no 60 s window holds more than 40), at least 1 s between
// edits of one message, and posts about 1 per second per channel with short
// bursts.
func WorkspaceLimits() chat.Limits {
	return chat.Limits{
		MaxMessageChars: 3900,
		MinEditInterval: time.Second,
		EditRate:        chat.Rate{Count: 40, Per: time.Minute, Burst: 1},
		EditScope:       chat.ScopeWorkspace,
		PostRate:        chat.Rate{Count: 1, Per: time.Second, Burst: 3},
		PostScope:       chat.ScopeChannel,
	}
}

// SharedChannelLimits returns limits with one write budget per channel shared
// by posts and edits: 1,900 runes per message, 4 writes per 5 s (burst 1, so
// no 5 s window holds more than 4), at least 1.5 s between edits of one
// message, and no edits of messages older than 55 minutes.
func SharedChannelLimits() chat.Limits {
	return chat.Limits{
		MaxMessageChars: 1900,
		MinEditInterval: 1500 * time.Millisecond,
		EditRate:        chat.Rate{Count: 4, Per: 5 * time.Second, Burst: 1},
		EditScope:       chat.ScopeChannel,
		SharedBudget:    true,
		MaxEditAge:      55 * time.Minute,
	}
}

// WorkspaceServerLimits returns what a server budgeted by WorkspaceLimits
// enforces: 50 edits per minute per workspace and 10 posts per 5 s per
// channel.
func WorkspaceServerLimits() []ServerLimit {
	return []ServerLimit{
		{Op: OpEdit, Scope: chat.ScopeWorkspace, Max: 50, Window: time.Minute},
		{Op: OpPost, Scope: chat.ScopeChannel, Max: 10, Window: 5 * time.Second},
	}
}

// SharedChannelServerLimits returns what a server budgeted by
// SharedChannelLimits enforces: 5 writes (posts and edits together) per 5 s
// per channel.
func SharedChannelServerLimits() []ServerLimit {
	return []ServerLimit{
		{Op: OpWrite, Scope: chat.ScopeChannel, Max: 5, Window: 5 * time.Second},
	}
}
