package console

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// Fixed parts of the console's conversation key.
const (
	Workspace = "local"
	Channel   = "tty"
)

// maxLine bounds one input line.
const maxLine = 1 << 20

// Options configure New.
type Options struct {
	// In supplies the user's lines. Required.
	In io.Reader
	// Out receives the rendered conversation. Required.
	Out io.Writer
	// TTY rewrites the live status in place with ANSI escapes; otherwise
	// each change is printed as a plain line and typed lines are echoed.
	TTY bool
	// Width is the terminal's width in columns, used in TTY mode to count
	// the screen rows a wrapped block takes; 80 when zero.
	Width int
	// Session is the conversation's thread id; a random one when empty.
	Session string
	// User is the person at the terminal; {ID: "local", Name: "you"} when empty.
	User chat.User
	// Logger receives diagnostics; nothing is logged when nil.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Adapter is the console platform. It implements chat.Adapter,
// chat.Buttons and chat.Ephemeral.
type Adapter struct {
	opts Options
	key  chat.ConversationKey
	log  *slog.Logger

	ready     atomic.Bool
	endOnce   sync.Once
	inputDone chan struct{}
	wake      chan struct{}

	mu      sync.Mutex
	seq     int
	inSeq   int
	msgs    map[string]*rendered
	order   []string // ids of msgs, oldest first (for keepMessages)
	live    []string // ids of the messages whose blocks end the output, oldest first (TTY mode)
	liveN   int      // screen rows of those blocks
	pending []string
	tools   map[string]string // tool of each pending card, by card id
	autoQ   []answer
	// stops maps each message showing a Stop button to its run id.
	stops map[string]string
	// retry is the run id of the latest failure notice's Retry, shown in
	// message retryMsg.
	retry, retryMsg string
	// prompt is the question the bridge asked (a deny reason): the next
	// line typed is its answer.
	prompt *chat.Prompt
	// prompting is set by Prompt: on a terminal, "> " then stays at the
	// bottom of the output until the input ends. promptShown says it is on
	// screen now (the cursor is after it).
	prompting   bool
	promptShown bool
}

// answer is a button press queued for Run: an answer to a pending approval
// card (AnswerPending) or a run's Stop (Interrupt).
type answer struct {
	id   string
	kind chat.ActionKind
}

var (
	_ chat.Adapter   = (*Adapter)(nil)
	_ chat.Buttons   = (*Adapter)(nil)
	_ chat.Ephemeral = (*Adapter)(nil)
)

// New creates a console adapter.
func New(opts Options) *Adapter {
	if opts.Session == "" {
		opts.Session = randomSession()
	}
	if opts.User.ID == "" {
		opts.User = chat.User{ID: "local", Name: "you"}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Adapter{
		opts:      opts,
		key:       chat.ConversationKey{Platform: Name, Workspace: Workspace, Channel: Channel, Thread: opts.Session},
		log:       opts.Logger.With("component", "console"),
		inputDone: make(chan struct{}),
		wake:      make(chan struct{}, 1),
		msgs:      make(map[string]*rendered),
		stops:     make(map[string]string),
		tools:     make(map[string]string),
	}
}

func randomSession() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// Key returns the conversation key every console message belongs to.
func (a *Adapter) Key() chat.ConversationKey { return a.key }

// InputDone is closed when the input has ended (EOF, read error or /quit).
// The adapter keeps rendering until Run's context ends.
func (a *Adapter) InputDone() <-chan struct{} { return a.inputDone }

// Name implements chat.Platform.
func (a *Adapter) Name() string { return Name }

// Limits implements chat.Platform. A terminal has no rate limit to speak
// of; the small edit interval only keeps a fast stream readable.
func (a *Adapter) Limits() chat.Limits {
	fast := chat.Rate{Count: 50, Per: time.Second, Burst: 50}
	return chat.Limits{
		MaxMessageChars: 16000,
		MinEditInterval: 100 * time.Millisecond,
		EditRate:        fast,
		EditScope:       chat.ScopeChannel,
		PostRate:        fast,
		PostScope:       chat.ScopeChannel,
	}
}

// ButtonsSupported implements chat.Buttons: typed y/n answers are the
// console's buttons.
func (a *Adapter) ButtonsSupported() bool { return true }

// Ready implements chat.Adapter: true while Run is running.
func (a *Adapter) Ready() bool { return a.ready.Load() }

// Run implements chat.Adapter. It reads lines until the input ends and
// keeps serving (auto-approvals, rendering) until ctx ends; it returns nil
// then. The goroutine reading the input is owned by Run's caller's reader:
// it ends when the reader returns EOF or an error.
func (a *Adapter) Run(ctx context.Context, h chat.Handler) error {
	a.ready.Store(true)
	defer a.ready.Store(false)

	lines := make(chan string)
	readerDone := make(chan error, 1)
	go a.read(ctx, lines, readerDone)

	for {
		select {
		case <-ctx.Done():
			return nil
		case line := <-lines:
			a.handleLine(ctx, h, line)
		case err := <-readerDone:
			if err != nil {
				a.log.Warn("console input failed", "err", err)
			}
			a.endInput()
			readerDone = nil // keep serving auto-approvals until ctx ends
		case <-a.wake:
			a.drainAuto(ctx, h)
		}
	}
}

func (a *Adapter) read(ctx context.Context, lines chan<- string, done chan<- error) {
	sc := bufio.NewScanner(a.opts.In)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for sc.Scan() {
		if a.opts.TTY {
			// The terminal echoed the line: the block above it can no
			// longer be rewritten by moving the cursor up.
			a.mu.Lock()
			a.endLiveLocked()
			a.promptShown = false // the Enter moved the cursor below the prompt
			a.mu.Unlock()
		}
		line := strings.TrimSpace(sc.Text())
		if line == "/quit" || line == "/exit" {
			break
		}
		select {
		case lines <- line:
		case <-ctx.Done():
			done <- nil
			return
		}
	}
	done <- sc.Err()
}

// endInput marks the input as ended; the prompt goes.
func (a *Adapter) endInput() {
	a.endOnce.Do(func() { close(a.inputDone) })
	a.mu.Lock()
	a.hidePromptLocked()
	a.mu.Unlock()
}

// AnswerPending answers every approval card shown as pending with kind
// (chat.Approve or chat.Deny), as if
// the user had typed it; Run sends the answers. It returns how many it
// queued. Callers use it for --auto-approve, or to deny what nobody can
// answer once the input has ended. Call it only once the bridge has
// recorded the approval (after its run finished with outcome "approval"):
// the card is shown a moment before that.
func (a *Adapter) AnswerPending(kind chat.ActionKind) int {
	a.mu.Lock()
	for _, id := range a.pending {
		a.autoQ = append(a.autoQ, answer{id: id, kind: kind})
	}
	n := len(a.pending)
	a.mu.Unlock()
	if n > 0 {
		a.poke()
	}
	return n
}

// Interrupt presses the Stop button of the run under way, as the console's
// Ctrl-C does: it reports true when a run was showing its Stop (Run then
// sends the press) and false when none is, so the caller can treat the
// interrupt as a request to exit.
func (a *Adapter) Interrupt() bool {
	a.mu.Lock()
	var target string
	for i := len(a.order) - 1; i >= 0 && target == ""; i-- {
		target = a.stops[a.order[i]]
	}
	if target != "" {
		a.autoQ = append(a.autoQ, answer{id: target, kind: chat.Stop})
	}
	a.mu.Unlock()
	if target == "" {
		return false
	}
	a.poke()
	return true
}

func (a *Adapter) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Prompt turns the prompt on (interactive sessions): on a terminal "> "
// stays below the output, where the next line is typed, until the input
// ends. Output written while it shows replaces it and shows it again below.
func (a *Adapter) Prompt() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.prompting = true
	a.showPromptLocked()
}

// showPromptLocked shows the prompt when it is on and not shown.
func (a *Adapter) showPromptLocked() {
	if !a.prompting || !a.opts.TTY || a.promptShown {
		return
	}
	select {
	case <-a.inputDone:
		return
	default:
	}
	if _, err := io.WriteString(a.opts.Out, "> "); err == nil {
		a.promptShown = true
	}
}

// hidePromptLocked returns the cursor to the start of the prompt's row and
// clears it, so output takes its place.
func (a *Adapter) hidePromptLocked() {
	if a.promptShown {
		_, _ = io.WriteString(a.opts.Out, "\r"+ansiClearLine)
		a.promptShown = false
	}
}

func (a *Adapter) handleLine(ctx context.Context, h chat.Handler, line string) {
	if line == "" {
		return
	}
	a.mu.Lock()
	if !a.opts.TTY {
		_ = a.writeLocked("> " + line + "\n")
	}
	if p := a.prompt; p != nil {
		a.prompt = nil
		a.mu.Unlock()
		a.answerPrompt(ctx, h, *p, line)
		return
	}
	kind, isAnswer := parseAnswer(line)
	switch {
	case isAnswer && len(a.pending) > 0:
		// The oldest card is answered; say which one.
		id := a.pending[0]
		_ = a.writeLocked(fmt.Sprintf("(%s: %s%s)\n", kind, a.cardNameLocked(id), a.moreLocked()))
		a.mu.Unlock()
		a.decide(ctx, h, kind, id)
		return
	case len(a.pending) > 0:
		// A new message now would start a run beside the waiting card (and
		// "maybe" is not an answer): the card comes first.
		_ = a.writeLocked(fmt.Sprintf("(an approval is waiting: %s. Type y to approve or n to deny it first.)\n",
			a.cardNameLocked(a.pending[0])))
		a.mu.Unlock()
		return
	case isAnswer:
		// Typed before its card appeared (or with none coming): not a
		// message for the agent.
		_ = a.writeLocked(fmt.Sprintf("(no approval is waiting, so %q was not sent. y and n answer approval cards; to tell the agent, write a sentence such as \"yes, go ahead\".)\n", line))
		a.mu.Unlock()
		return
	}
	if strings.EqualFold(line, "retry") && a.retry != "" {
		id := a.retry
		a.mu.Unlock()
		a.decide(ctx, h, chat.Retry, id)
		return
	}
	a.inSeq++
	id := "in" + strconv.Itoa(a.inSeq)
	a.mu.Unlock()

	err := h.HandleMessage(ctx, chat.InboundMessage{
		Key:       a.key,
		User:      a.opts.User,
		Text:      line,
		MessageID: a.opts.Session + "-" + id,
		Mentioned: true,
		Received:  a.opts.Now(),
	})
	if err != nil {
		a.log.Warn("message not accepted", "err", err)
		a.printf("! %v\n", err)
	}
}

func (a *Adapter) drainAuto(ctx context.Context, h chat.Handler) {
	for {
		a.mu.Lock()
		if len(a.autoQ) == 0 {
			a.mu.Unlock()
			return
		}
		ans := a.autoQ[0]
		a.autoQ = a.autoQ[1:]
		a.mu.Unlock()
		if ans.kind == chat.Stop {
			a.printf("^C stop\n")
		} else {
			a.printf("> %s (automatic)\n", ans.kind)
		}
		a.decide(ctx, h, ans.kind, ans.id)
	}
}

// decide hands the answer kind to the approval card id to the bridge: the
// console's equivalent of a click on the card's button.
func (a *Adapter) decide(ctx context.Context, h chat.Handler, kind chat.ActionKind, id string) {
	res, err := h.HandleAction(ctx, chat.Action{
		Platform: Name,
		Kind:     kind,
		Target:   id,
		User:     a.opts.User,
		Received: a.opts.Now(),
	})
	if err != nil {
		a.log.Warn("approval answer not accepted", "err", err)
		a.printf("! %v\n", err)
		return
	}
	if res.Notice != "" {
		a.printf("(%s)\n", res.Notice)
	}
	if p := res.Prompt; p != nil {
		a.mu.Lock()
		a.prompt = p
		a.writeLocked(p.Label + " ")
		a.mu.Unlock()
	}
	if res.Accepted {
		a.mu.Lock()
		a.removePendingLocked(id)
		a.mu.Unlock()
	}
}

// answerPrompt hands the line typed after a prompt to the bridge as the
// action the prompt asked for.
func (a *Adapter) answerPrompt(ctx context.Context, h chat.Handler, p chat.Prompt, text string) {
	res, err := h.HandleAction(ctx, chat.Action{
		Platform: Name,
		Kind:     p.Kind,
		Target:   p.Target,
		User:     a.opts.User,
		Received: a.opts.Now(),
		Text:     text,
	})
	if err != nil {
		a.log.Warn("answer not accepted", "err", err)
		a.printf("! %v\n", err)
		return
	}
	if res.Notice != "" {
		a.printf("(%s)\n", res.Notice)
	}
	if res.Accepted {
		a.mu.Lock()
		a.removePendingLocked(p.Target)
		a.mu.Unlock()
	}
}

// parseAnswer reads a typed answer to the oldest pending approval card: the
// kind of the card's button it stands for.
func parseAnswer(s string) (chat.ActionKind, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "y", "yes", "approve", "approved":
		return chat.Approve, true
	case "n", "no", "deny", "denied":
		return chat.Deny, true
	case "r", "reason":
		return chat.DenyWithReason, true
	case "a", "all":
		return chat.ApproveConversation, true
	}
	return "", false
}

// Post implements chat.Platform.
func (a *Adapter) Post(ctx context.Context, key chat.ConversationKey, msg chat.Message) (chat.MessageRef, error) {
	if err := ctx.Err(); err != nil {
		return chat.MessageRef{}, fmt.Errorf("console: post: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	id := "m" + strconv.Itoa(a.seq)
	r := &rendered{}
	a.keepLocked(id, r)
	if err := a.renderLocked(id, r, msg); err != nil {
		return chat.MessageRef{}, err
	}
	return chat.MessageRef{Key: key, ID: id, Posted: a.opts.Now()}, nil
}

// Edit implements chat.Platform.
func (a *Adapter) Edit(ctx context.Context, ref chat.MessageRef, msg chat.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("console: edit: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.msgs[ref.ID]
	if !ok {
		// A message from an earlier process (recovery after a restart):
		// render it as new output.
		r = &rendered{}
		a.keepLocked(ref.ID, r)
	}
	return a.renderLocked(ref.ID, r, msg)
}

// Ephemeral implements chat.Ephemeral: the terminal has one reader.
func (a *Adapter) Ephemeral(ctx context.Context, _ chat.ConversationKey, _ string, text string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("console: ephemeral: %w", err)
	}
	a.printf("(%s)\n", text)
	return nil
}

// keepMessages is how many messages the console remembers for in-place
// updates. An edit of an older one (a tidy, a card decided much later) is
// printed as new output.
const keepMessages = 256

// keepLocked remembers message id, forgetting the oldest beyond keepMessages.
func (a *Adapter) keepLocked(id string, r *rendered) {
	a.msgs[id] = r
	a.order = append(a.order, id)
	for len(a.order) > keepMessages {
		delete(a.msgs, a.order[0])
		a.order = a.order[1:]
	}
}

func (a *Adapter) printf(format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.writeLocked(fmt.Sprintf(format, args...))
}

func (a *Adapter) removePendingLocked(id string) {
	delete(a.tools, id)
	for i, p := range a.pending {
		if p == id {
			a.pending = append(a.pending[:i], a.pending[i+1:]...)
			return
		}
	}
}

// cardNameLocked names a pending card for the person at the terminal.
func (a *Adapter) cardNameLocked(id string) string {
	if tool := a.tools[id]; tool != "" {
		return "the approval for " + tool
	}
	return "the approval"
}

// moreLocked says how many other cards wait, if any.
func (a *Adapter) moreLocked() string {
	if n := len(a.pending) - 1; n > 0 {
		return fmt.Sprintf("; %d more waiting after it", n)
	}
	return ""
}

// Interleave returns a writer for another writer of the same terminal (the
// daemon's log lines on stderr). Its writes are ordered with the console's
// own and end the chance to rewrite the block above them in place, so a
// status rewrite never wipes a log line: the next state is printed below it.
func (a *Adapter) Interleave(w io.Writer) io.Writer { return interleaved{a: a, w: w} }

type interleaved struct {
	a *Adapter
	w io.Writer
}

func (iw interleaved) Write(p []byte) (int, error) {
	iw.a.mu.Lock()
	defer iw.a.mu.Unlock()
	iw.a.hidePromptLocked()
	iw.a.endLiveLocked()
	n, err := iw.w.Write(p)
	iw.a.showPromptLocked()
	return n, err
}
