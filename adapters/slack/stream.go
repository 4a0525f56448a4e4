package slack

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/slack-go/slack"
)

var _ chat.NativeStreamer = (*Adapter)(nil)

// maxTaskTitle bounds a task card's title.
const maxTaskTitle = 256

// openStream is what the adapter remembers of a stream it started: where it
// is and the task card still in progress, completed when the stream stops.
type openStream struct {
	workspace string
	last      slack.TaskUpdateChunk
}

// streams are the adapter's open streams by channel and ts.
type streams struct {
	mu   sync.Mutex
	open map[string]*openStream
}

// wantsStream reports whether the setting lets key's run stream natively:
// auto in DMs only, native everywhere, edit nowhere.
func (a *Adapter) wantsStream(key chat.ConversationKey) bool {
	switch a.cfg.Streaming {
	case StreamingNative:
		return true
	case StreamingAuto, "":
		return isDM(key.Channel)
	}
	return false
}

// isDM reports whether channel is a direct message (ids start with D).
func isDM(channel string) bool { return strings.HasPrefix(channel, "D") }

// StartStream implements chat.NativeStreamer: it starts a chat.startStream
// message in the run's thread (in a DM without a thread, under the asker's
// message), addressed to the asker, with task cards as a timeline. It
// declines (chat.ErrNoLane) when the setting rules the conversation out,
// the workspace lacks streaming, or the start budget is short right now.
func (a *Adapter) StartStream(ctx context.Context, req chat.StreamRequest) (chat.MessageRef, error) {
	key := req.Key
	if !a.wantsStream(key) {
		return chat.MessageRef{}, fmt.Errorf("%w: streaming %s in this conversation", chat.ErrNoLane, a.cfg.Streaming)
	}
	if a.lanes.isMissing(key.Workspace, laneStream) {
		return chat.MessageRef{}, fmt.Errorf("%w: the workspace lacks streaming", chat.ErrNoLane)
	}
	thread := key.Thread
	if thread == "" {
		thread = req.InboundID
	}
	if thread == "" {
		return chat.MessageRef{}, fmt.Errorf("%w: no thread to stream in", chat.ErrNoLane)
	}
	if ok, _ := a.takeLane(ctx, "chat.startStream", key.Workspace); !ok {
		return chat.MessageRef{}, fmt.Errorf("%w: stream start budget short", chat.ErrNoLane)
	}
	opts := []slack.MsgOption{slack.MsgOptionTS(thread), slack.MsgOptionTaskDisplayMode(slack.TaskDisplayModeTimeline)}
	if !isDM(key.Channel) {
		// In a channel the stream needs its recipient: only they see the
		// text arrive; the others see the message once it stops.
		opts = append(opts, slack.MsgOptionRecipientUserID(req.Asker.ID), slack.MsgOptionRecipientTeamID(key.Workspace))
	}
	channel, ts, err := a.webAPI(ctx, key.Workspace).StartStreamContext(ctx, key.Channel, opts...)
	if err != nil {
		err = a.laneFailed(key.Workspace, laneStream, "chat.startStream", err)
		if rl := (*chat.RateLimitError)(nil); errors.As(err, &rl) {
			return chat.MessageRef{}, fmt.Errorf("%w: %w", chat.ErrNoLane, err)
		}
		return chat.MessageRef{}, err
	}
	ref := chat.MessageRef{Key: key, ID: ts, Posted: a.now()}
	if channel != "" && channel != key.Channel {
		ref.Channel = channel
	}
	a.streams.mu.Lock()
	a.streams.open[refChannel(ref)+" "+ts] = &openStream{workspace: key.Workspace}
	a.streams.mu.Unlock()
	return ref, nil
}

// AppendStream implements chat.NativeStreamer: the live state's steps become
// task_update chunks (one card per step, by its position in the run: the
// current one in progress, the earlier ones complete).
func (a *Adapter) AppendStream(ctx context.Context, ref chat.MessageRef, msg chat.Message) error {
	msg = neutralize(msg)
	chunks, last := taskChunks(msg.Steps)
	if len(chunks) == 0 {
		return nil
	}
	if ok, wait := a.takeLane(ctx, "chat.appendStream", ref.Key.Workspace); !ok {
		return budgetShort("chat.appendStream", wait)
	}
	if _, _, err := a.webAPI(ctx, ref.Key.Workspace).AppendStreamContext(ctx, refChannel(ref), ref.ID, slack.MsgOptionChunks(chunks...)); err != nil {
		return a.laneFailed(ref.Key.Workspace, laneStream, "chat.appendStream", err)
	}
	a.streams.mu.Lock()
	if st := a.streams.open[refChannel(ref)+" "+ref.ID]; st != nil && last != nil {
		st.last = *last
	}
	a.streams.mu.Unlock()
	return nil
}

// StopStream implements chat.NativeStreamer: final's steps (and the task
// card last shown in progress) are completed, and final's text (an answer part, a notice, a
// status) is the message's last markdown. The message is then complete and
// visible to everyone.
func (a *Adapter) StopStream(ctx context.Context, ref chat.MessageRef, final chat.Message) error {
	final = neutralize(final)
	k := refChannel(ref) + " " + ref.ID
	a.streams.mu.Lock()
	st := a.streams.open[k]
	a.streams.mu.Unlock()
	chunks, _ := taskChunks(final.Steps)
	if st != nil && st.last.ID != "" && !hasTask(chunks, st.last.ID) {
		done := st.last
		done.Status = slack.TaskCardStatusComplete
		chunks = append(chunks, done)
	}
	if text := finalMarkdown(final); text != "" {
		chunks = append(chunks, slack.NewMarkdownTextChunk(text))
	}
	if fb := feedbackBlock(final.Feedback); fb != nil && final.Kind == chat.KindAnswer {
		chunks = append(chunks, slack.NewBlocksChunk(fb))
	}
	if ok, wait := a.takeLane(ctx, "chat.stopStream", ref.Key.Workspace); !ok {
		return budgetShort("chat.stopStream", wait)
	}
	opts := []slack.MsgOption{}
	if len(chunks) > 0 {
		opts = append(opts, slack.MsgOptionChunks(chunks...))
	}
	if _, _, err := a.webAPI(ctx, ref.Key.Workspace).StopStreamContext(ctx, refChannel(ref), ref.ID, opts...); err != nil {
		err = a.laneFailed(ref.Key.Workspace, laneStream, "chat.stopStream", err)
		if rl := (*chat.RateLimitError)(nil); !errors.As(err, &rl) {
			// Not to be retried: forget the stream.
			a.streams.mu.Lock()
			delete(a.streams.open, k)
			a.streams.mu.Unlock()
		}
		return err
	}
	a.streams.mu.Lock()
	delete(a.streams.open, k)
	a.streams.mu.Unlock()
	return nil
}

// taskChunks turns steps into task_update chunks and returns the last one
// (the step in progress, if any).
func taskChunks(steps []chat.Step) ([]slack.StreamChunk, *slack.TaskUpdateChunk) {
	var out []slack.StreamChunk
	var last *slack.TaskUpdateChunk
	for i, s := range steps {
		seq := s.Seq
		if seq == 0 {
			seq = i + 1
		}
		c := slack.NewTaskUpdateChunk("step-"+strconv.Itoa(seq), chat.TruncateRunes(chat.OneLine(s.Text), maxTaskTitle))
		if c.Title == "" {
			c.Title = "Step " + strconv.Itoa(seq)
		}
		c.Status = slack.TaskCardStatusInProgress
		if s.Done {
			c.Status = slack.TaskCardStatusComplete
		}
		out = append(out, c)
		last = &c
	}
	return out, last
}

// hasTask reports whether chunks update the task card id.
func hasTask(chunks []slack.StreamChunk, id string) bool {
	for _, c := range chunks {
		if t, ok := c.(slack.TaskUpdateChunk); ok && t.ID == id {
			return true
		}
	}
	return false
}

// finalMarkdown is the markdown a stream ends with.
func finalMarkdown(m chat.Message) string {
	switch m.Kind {
	case chat.KindAnswer, chat.KindNotice:
		body := strings.TrimSpace(m.Body)
		if body == "" {
			body = "(empty answer)"
		}
		return chat.TruncateRunes(body, maxMarkdownChars)
	default:
		return chat.TruncateRunes(strings.TrimSpace(m.Status), maxMarkdownChars)
	}
}
