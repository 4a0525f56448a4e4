package discord

import (
	"context"
	"errors"
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

// Run implements chat.Adapter. It connects the gateway, one session per
// shard it runs (shards.go), and hands messages (in gateway order, on one
// goroutine) and interactions (each on its own goroutine, to meet the 3 s
// deadline) to h. Disconnects are resumed with backoff. With a leaser
// (SetLeaser) the shards are claimed from it and shared with other replicas
// (claim.go). Run returns nil when ctx ends, and a *GatewayCloseError when
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
	var work workgroup.Group
	in := &intake{
		ctx:   ctx,
		h:     h,
		queue: make(chan queuedMessage, messageQueueSize),
		spawn: func(f func()) { work.Go(f) },
	}
	in.spawn(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case q := <-in.queue:
				a.dispatch(ctx, h, q)
			}
		}
	})
	defer func() {
		cancel()
		work.Close()
		work.Wait()
	}()

	plan, err := a.planShards(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if cc := a.cluster.Load(); cc != nil {
		return a.claimShards(ctx, in, plan, cc)
	}
	return a.runShards(ctx, in, plan)
}

// onReady records who the bot is.
func (a *Adapter) onReady(r *discordgo.Ready, s *shard) {
	if r.User != nil {
		id := r.User.ID
		a.botID.Store(&id)
	}
	if r.Application != nil && r.Application.ID != "" {
		id := r.Application.ID
		a.appID.Store(&id)
	}
	user := ""
	if r.User != nil {
		user = r.User.Username
	}
	a.log.Info("gateway ready", "bot", user, "guilds", len(r.Guilds), "shard", s.id, "shards", s.count)
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
