package chat

import "time"

// InboundMessage is a chat message an adapter hands to the bridge.
//
// Adapters drop their own messages, other bots' messages, edits, deletions and
// joins before calling the bridge; everything else that could concern the bot is
// handed over, and the bridge decides (for example, a non-mention in a thread the
// bridge does not know is ignored).
type InboundMessage struct {
	// Key is the conversation the message belongs to (for a top-level Slack
	// mention, the thread rooted at the message itself).
	Key ConversationKey
	// User is the author.
	User User
	// Text is the message text with the bot's own mention removed.
	Text string
	// MessageID is the platform's id of the message (Slack ts, Discord id).
	MessageID string
	// EventID is the platform's delivery id (Slack event_id), when there is one.
	EventID string
	// Mentioned is true when the bot was addressed directly (a mention, a DM or
	// a slash command): such a message may start a new conversation.
	Mentioned bool
	// Received is when the adapter received the event.
	Received time.Time
}

// EmptyQuestionText is the hint shown when the bot is addressed with nothing
// to answer: a bare mention, or a slash command with no question. Every
// platform shows the same words.
const EmptyQuestionText = "Please add a question."

// ActionKind says what a button does. It is a short lowercase word (see
// Valid); adapters carry it in their button ids, so a kind, once used, is
// part of the wire format of every button already posted.
type ActionKind string

// Action kinds.
const (
	// Approve approves the approval request named by Action.Target.
	Approve ActionKind = "approve"
	// Deny denies the approval request named by Action.Target.
	Deny ActionKind = "deny"
	// Stop stops the run named by Action.Target.
	Stop ActionKind = "stop"
	// Retry runs the failed turn of the run named by Action.Target again.
	Retry ActionKind = "retry"
	// DenyWithReason asks the clicker for a reason (ActionResult.Prompt);
	// the reason then comes back as a Deny with Action.Text.
	DenyWithReason ActionKind = "deny_reason"
	// ApproveConversation approves the request named by Action.Target and
	// grants its tool for the rest of the conversation.
	ApproveConversation ActionKind = "approve_all"
	// StopConversation stops the run under way in the conversation whose
	// ConversationKey.String() is Action.Target: a platform's own stop
	// control (Slack's agent_session_stopped) names a thread, not a run.
	StopConversation ActionKind = "stop_conversation"
)

// maxActionKind bounds the length of an ActionKind.
const maxActionKind = 32

// Valid reports whether k can be carried in a button id: 1 to 32 characters,
// each a lowercase ASCII letter, a digit or an underscore, starting with a
// letter. Adapters drop clicks whose kind is not valid (they are not the
// bridge's buttons) and hand every valid kind to the bridge, which answers
// the kinds it does not know with a notice.
func (k ActionKind) Valid() bool {
	if len(k) == 0 || len(k) > maxActionKind || k[0] < 'a' || k[0] > 'z' {
		return false
	}
	for i := 1; i < len(k); i++ {
		c := k[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// Action is a button press (or an equivalent console answer) handed to the
// bridge: Kind says what the button does and Target is the opaque id it
// carried (for approvals, the approval id).
type Action struct {
	// Platform is the platform the click came from.
	Platform string
	// Kind is what the button does.
	Kind ActionKind
	// Target is the opaque id the button carried.
	Target string
	// User is the person who clicked.
	User User
	// Received is when the adapter received the click.
	Received time.Time
	// Card is the message the clicked button is on, when the platform says
	// (ID empty otherwise). The bridge may edit it, for example to close an
	// approval card whose ref was never recorded: a process that stopped
	// between posting the card and recording it, or a card post that failed
	// after the card was shown.
	Card MessageRef
	// Text is what the user typed into a Prompt (a deny reason); empty for
	// a plain click.
	Text string
}

// Prompt asks the clicker for a line of text (a modal on Slack and
// Discord, a question on the console); the answer comes back as an Action
// of Kind with Target and Text.
type Prompt struct {
	Kind   ActionKind
	Target string
	// Title heads the form ("Deny with reason").
	Title string
	// Label names the text field ("Reason").
	Label string
	// MaxChars bounds the answer.
	MaxChars int
}

// ActionResult tells the adapter how to answer a click. It is computed without
// network I/O (only the store is touched), so an adapter may call HandleAction
// inside its acknowledgement deadline and answer with the result (Discord's
// interaction response does), or acknowledge first and send the notice after
// (Slack's ack carries no message).
type ActionResult struct {
	// Accepted is true when this click was applied (for approvals: it decided
	// the request). The messages it changes are edited by the bridge
	// (through Platform.Edit).
	Accepted bool
	// Notice, when not empty, is a short text to show only to the clicker
	// ("You are not allowed to decide this approval request", "Already
	// approved by Ana").
	Notice string
	// Prompt, when set, asks the clicker for text: the adapter shows the
	// form (Slack views.open with the click's trigger_id, a Discord MODAL
	// response, a console question) and hands the answer back as an Action.
	Prompt *Prompt
}

// MessageRef addresses a message the bridge posted.
type MessageRef struct {
	// Key is the conversation the message is in.
	Key ConversationKey `json:"key"`
	// ID is the platform's message id (Slack ts, Discord message id).
	ID string `json:"id"`
	// Channel is the channel the message was posted in, when it differs from
	// Key.Channel (for example a Discord thread created for the reply).
	Channel string `json:"channel,omitempty"`
	// Posted is when the message was posted.
	Posted time.Time `json:"posted"`
}

// MessageKind says what a rendered message is for.
type MessageKind int

// Message kinds.
const (
	// KindStatus is the placeholder and its live status edits.
	KindStatus MessageKind = iota
	// KindAnswer is (a chunk of) the agent's final answer.
	KindAnswer
	// KindApproval is an approval card.
	KindApproval
	// KindNotice is a short bridge notice (failure, busy, interrupted, restart).
	KindNotice
)

// Step is one tool step of a run, as shown in the live status.
type Step struct {
	Text string
	Done bool
	// Seq is the step's position in its run, from 1 (0 when unknown).
	// Platforms that show steps as cards of their own (a native stream's
	// task cards) use it as the card's identity.
	Seq int
}

// ApprovalState is the state of an approval request.
type ApprovalState string

// Approval states.
const (
	ApprovalPending  ApprovalState = "pending"
	ApprovalApproved ApprovalState = "approved"
	ApprovalDenied   ApprovalState = "denied"
	ApprovalExpired  ApprovalState = "expired"
	// ApprovalStopped is the state of a request whose run was stopped
	// before anyone decided it.
	ApprovalStopped ApprovalState = "stopped"
)

// ApprovalCard is what an approval message shows.
type ApprovalCard struct {
	// ID is the opaque approval id the buttons carry.
	ID string
	// Tool names the tool the agent wants to use (may be empty).
	Tool string
	// Description is the agent's human-readable request (plain text; adapters escape it).
	Description string
	// Arguments is a short, truncated rendering of the tool arguments (plain text).
	Arguments string
	// State is pending while the buttons should be shown.
	State ApprovalState
	// DecidedBy is who decided, once decided.
	DecidedBy string
	// Reason is the reason given with a denial ("Denied by X: <reason>").
	Reason string
	// DenyWithReason shows the "Deny with reason…" button while pending.
	DenyWithReason bool
	// GrantTool shows the "Approve all <Tool> here" button while pending.
	GrantTool bool
	// Granted is set on a card approved for the whole conversation.
	Granted bool
}

// Message is a platform-neutral rendered message. Adapters turn it into their
// native form (Block Kit, Discord content and components, terminal lines). All
// text has been neutralised (no mass or user mentions) and Body fits the
// platform's Limits.MaxMessageChars.
type Message struct {
	Kind MessageKind
	// Status is the current status line ("Searching Jira..."), for KindStatus.
	Status string
	// Thought is the latest agent thought, shown as a muted line, when enabled.
	Thought string
	// Steps are the most recent tool steps, oldest first.
	Steps []Step
	// Body is Markdown text: an answer chunk or a notice.
	Body string
	// Approval is set for KindApproval.
	Approval *ApprovalCard
	// Final is true for the last state of a message (no more edits follow).
	Final bool
	// Feedback, when set, is the id of the answer this message ends: the
	// platform shows 👍/👎 buttons whose action is Feedback with the target
	// FeedbackTarget(Feedback, value). Only the last part of an answer has it.
	Feedback string
	// Buttons are extra buttons the message carries (a run's Stop, a failure
	// notice's Retry), rendered after any approval buttons. An edit without
	// them removes them.
	Buttons []Button
}

// Button is a button of a message: a click on it comes back as an Action of
// Kind with Target.
type Button struct {
	Kind   ActionKind
	Target string
	// Label is the button's text ("Stop", "Retry").
	Label string
}
