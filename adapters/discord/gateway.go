package discord

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/internal/workgroup"
)

// messageQueueSize bounds the gateway messages waiting for the handler.
const messageQueueSize = 256

// errDialAborted fails gateway dials once Run is stopping.
var errDialAborted = errors.New("discord: gateway dial aborted: adapter stopping")

// queuedMessage is a gateway message waiting for the handler.
type queuedMessage struct {
	msg      *discordgo.Message
	received time.Time
}

// Run implements chat.Adapter. It connects to the gateway and hands
// messages (in gateway order, on one goroutine) and interactions (each on its
// own goroutine, to meet the 3 s deadline) to h. Disconnects are resumed with
// backoff. Run returns nil when ctx ends, and a *GatewayCloseError when
// Discord refuses the connection for good (bad token, disallowed intents,
// invalid shard).
func (a *Adapter) Run(ctx context.Context, h chat.Handler) error {
	if h == nil {
		return errors.New("discord: run: nil handler")
	}
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("discord: run: already running")
	}
	defer a.running.Store(false)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.life.Store(&ctx)
	defer a.life.Store(nil)

	// work runs the handler goroutines; it is closed once Run is stopping.
	var (
		work workgroup.Group
		once sync.Once
	)
	spawn := func(f func()) { work.Go(f) }
	queue := make(chan queuedMessage, messageQueueSize)
	disconnected := make(chan struct{}, 1)

	remove := []func(){
		a.sess.AddHandler(func(_ *discordgo.Session, r *discordgo.Ready) {
			a.onReady(r)
			a.sessionUp.Store(true)
			once.Do(func() { a.announce(ctx, spawn) })
		}),
		a.sess.AddHandler(func(_ *discordgo.Session, _ *discordgo.Resumed) {
			a.ready.Store(true)
			a.sessionUp.Store(true)
			a.log.InfoContext(ctx, "gateway session resumed")
		}),
		a.sess.AddHandler(func(_ *discordgo.Session, _ *discordgo.Disconnect) {
			if a.connOpen() {
				// discordgo can report one drop twice (its close and its
				// reader both close); the second comes when the next
				// connection is already up.
				return
			}
			a.ready.Store(false)
			select {
			case disconnected <- struct{}{}:
			default:
			}
		}),
		a.sess.AddHandler(func(_ *discordgo.Session, t *discordgo.ThreadCreate) {
			if t.Channel != nil && t.IsThread() {
				a.threads.Put(t.ID, t.ParentID)
			}
		}),
		a.sess.AddHandler(func(_ *discordgo.Session, t *discordgo.ThreadDelete) {
			if t.Channel != nil {
				a.threads.Delete(t.ID) // a later reply creates a new thread on the message
			}
		}),
		a.sess.AddHandler(func(_ *discordgo.Session, e *discordgo.Event) {
			a.onRawEvent(e)
		}),
		a.sess.AddHandler(func(_ *discordgo.Session, m *discordgo.MessageCreate) {
			select {
			case queue <- queuedMessage{msg: m.Message, received: a.now()}:
			case <-ctx.Done():
			}
		}),
		a.sess.AddHandler(func(_ *discordgo.Session, ic *discordgo.InteractionCreate) {
			received := a.now()
			spawn(func() { a.onInteraction(ctx, h, ic.Interaction, received) })
		}),
	}
	spawn(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case q := <-queue:
				a.dispatch(ctx, h, q)
			}
		}
	})

	shutdown := func() {
		cancel()
		if err := a.sess.Close(); err != nil {
			a.log.Warn("gateway close failed", "err", err)
		}
		work.Close()
		for _, r := range remove {
			r()
		}
		work.Wait()
		a.ready.Store(false)
	}

	backoff := chat.Backoff{Min: a.reconnectMin, Max: a.reconnectMax}
	for {
		select { // a signal left over from a closed connection is stale
		case <-disconnected:
		default:
		}
		err := a.open(ctx)
		if ctx.Err() != nil {
			shutdown()
			return nil
		}
		if fatal := fatalClose(err); fatal != nil {
			a.log.Error("gateway refused the bot; stopping", "code", fatal.Code, "hint", fatal.Hint)
			shutdown()
			return fatal
		}
		if err != nil && !errors.Is(err, discordgo.ErrWSAlreadyOpen) {
			wait := backoff.Next()
			a.log.Warn("gateway connect failed; retrying", "err", mapErr(err), "retry_in", wait)
			if !chat.SleepContext(ctx, wait) {
				shutdown()
				return nil
			}
			continue
		}
		for down := false; !down; {
			select {
			case <-ctx.Done():
				shutdown()
				return nil
			case <-disconnected:
			}
			// A drop reported while this connection was being opened
			// belongs to the one before: wait for this one's.
			down = !a.connOpen()
		}
		// A session that was up (READY or RESUMED) resumes at once, as
		// Discord asks after op 7 Reconnect or a missed heartbeat ACK, and
		// the wait starts over; a connection that never got that far backs
		// off. discordgo's close already waits 1 s, which bounds a storm.
		var wait time.Duration
		if a.sessionUp.Swap(false) {
			backoff.Reset()
			a.resumeNext.Store(true) // the first attempt goes to resume_gateway_url
		} else {
			wait = backoff.Next()
		}
		a.log.Warn("gateway disconnected; resuming", "retry_in", wait)
		if !chat.SleepContext(ctx, wait) {
			shutdown()
			return nil
		}
	}
}

// open runs discordgo's Open (which cannot be cancelled) and, when ctx ends
// first, closes the connection being set up so Open returns promptly.
func (a *Adapter) open(ctx context.Context) error {
	a.connMu.Lock()
	a.dialAborted = false
	a.connMu.Unlock()
	done := make(chan error, 1)
	go func() { done <- a.sess.Open() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		a.connMu.Lock()
		a.dialAborted = true
		if a.conn != nil {
			_ = a.conn.Close()
		}
		a.connMu.Unlock()
		return <-done
	}
}

// connOpen reports whether the latest gateway connection is still open.
func (a *Adapter) connOpen() bool {
	a.connMu.Lock()
	c := a.conn
	a.connMu.Unlock()
	return c != nil && !c.isClosed()
}

// dialed records a new gateway connection, or refuses it when Run is stopping.
func (a *Adapter) dialed(c net.Conn) (net.Conn, error) {
	a.connMu.Lock()
	defer a.connMu.Unlock()
	if a.dialAborted {
		_ = c.Close()
		return nil, errDialAborted
	}
	w := &watchedConn{Conn: c, log: a.log}
	a.conn = w
	return w, nil
}

// onReady records who the bot is.
func (a *Adapter) onReady(r *discordgo.Ready) {
	if r.User != nil {
		id := r.User.ID
		a.botID.Store(&id)
	}
	if r.Application != nil && r.Application.ID != "" {
		id := r.Application.ID
		a.appID.Store(&id)
	}
	a.ready.Store(true)
	user := ""
	if r.User != nil {
		user = r.User.Username
	}
	a.log.Info("gateway ready", "bot", user, "guilds", len(r.Guilds), "shard", a.cfg.ShardID, "shards", max(a.cfg.ShardCount, 1))
}

// announce logs the invite URL and registers the slash command, once per Run.
func (a *Adapter) announce(ctx context.Context, spawn func(func())) {
	appID := a.ApplicationID()
	if appID == "" {
		return
	}
	a.log.Info("invite the bot to a server with this URL", "invite_url", InviteURL(appID))
	if !a.cfg.SlashCommand.Enabled {
		return
	}
	spawn(func() {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := a.registerCommands(rctx, appID); err != nil {
			a.log.Warn("slash command registration failed; mentions still work", "err", err)
			return
		}
		a.log.Info("slash command registered", "command", "/"+a.cfg.SlashCommand.Name, "guilds", len(a.cfg.SlashCommand.GuildIDs))
	})
}

// dispatch hands one gateway message to the bridge.
func (a *Adapter) dispatch(ctx context.Context, h chat.Handler, q queuedMessage) {
	in, ok := a.inbound(ctx, q.msg, q.received)
	if !ok {
		return
	}
	if err := h.HandleMessage(ctx, in); err != nil && ctx.Err() == nil {
		a.log.ErrorContext(ctx, "handle message failed", "conversation", in.Key.String(), "message", in.MessageID, "err", err)
	}
}
