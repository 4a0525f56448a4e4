package chat

import (
	"context"
	"errors"
)

// ErrNoLane is returned (wrapped) by a platform that declines a progress lane
// for one run: the setting or the conversation's audience rules it out, its
// budget is short right now, or the workspace lacks it. The bridge then shows
// the run's progress the ordinary way: a placeholder it edits, plus the
// working indicator (StatusSetter), when there is one.
var ErrNoLane = errors.New("chat: progress lane not available")

// StreamRequest asks for a native stream for one run.
type StreamRequest struct {
	// Key is the run's conversation.
	Key ConversationKey
	// Asker is the person whose message started the run: the reader of the
	// stream where the platform streams to one reader.
	Asker User
	// InboundID is the platform id of the message that started the run.
	InboundID string
}

// NativeStreamer is implemented by platforms with a native progress stream
// for a run (a message that grows as the agent works, with task cards for
// its steps). The bridge asks for one before it would post a placeholder;
// when the platform grants it, the stream is the run's live message: steps go
// to AppendStream (latest state wins, at the pace the platform allows), and
// the run ends with StopStream. The answer's further parts, approval cards
// and notices are posted as ordinary messages.
type NativeStreamer interface {
	// StartStream opens the run's stream and returns its message. It
	// returns an error wrapping ErrNoLane when the platform declines (the
	// run then posts a placeholder), or any other error for a failed call
	// (the run then posts a placeholder too).
	StartStream(ctx context.Context, req StreamRequest) (MessageRef, error)
	// AppendStream shows msg, the run's live state (status, steps,
	// thought), on the stream. A *RateLimitError asks the bridge to try
	// again after its RetryAfter with the state as it then is.
	AppendStream(ctx context.Context, ref MessageRef, msg Message) error
	// StopStream ends the stream with final as its last content: an answer
	// part, a notice, or a final status. After StopStream the message is
	// complete and visible to everyone in the conversation. A
	// *RateLimitError asks the bridge to try again after its RetryAfter.
	StopStream(ctx context.Context, ref MessageRef, final Message) error
}

// LaneFallback is a progress lane a platform stopped using in one
// workspace, because the platform answered that the workspace or the
// token lacks it, and that answer.
type LaneFallback struct {
	Workspace string `json:"workspace"`
	Lane      string `json:"lane"`
	Error     string `json:"error"`
}

// LaneReporter is implemented by platforms that remember, per workspace,
// the lanes they fell back from; the measurements export them.
type LaneReporter interface {
	LaneFallbacks() []LaneFallback
}
