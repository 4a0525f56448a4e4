package discord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
	"github.com/promptev/promptev-bridge/chat"
)

// shard is one gateway session: the connection of one shard of the bot,
// with its own resume state. Its events go to the adapter's intake; REST
// calls go through the adapter's session, whose HTTP client it shares.
type shard struct {
	a         *Adapter
	id, count int
	// concurrency is the bot's max_concurrency: shards identify in
	// buckets of id % concurrency (identify.go).
	concurrency int
	sess        *discordgo.Session
	log         *slog.Logger

	ready atomic.Bool
	// everUp is set by the first READY: later connections resume, or
	// identify on discordgo's own after an invalid session.
	everUp atomic.Bool
	// sessionUp is set by READY and RESUMED and taken by run when the
	// connection drops: a session that was up reconnects at once.
	sessionUp atomic.Bool
	// resumeAddr is READY's resume_gateway_url as host:port; resumeNext,
	// when set, sends the next gateway dial there (see resume.go).
	resumeAddr atomic.Pointer[string]
	resumeNext atomic.Bool

	// conn is the latest raw network connection of the gateway, so an Open
	// in progress can be aborted when the shard is stopped.
	connMu      sync.Mutex
	conn        *watchedConn
	dialAborted bool
}

// intake is what every shard of one Run hands its events to.
type intake struct {
	// ctx is Run's context: interactions and queued messages are handled
	// under it, so a shard that stops does not cut them short.
	ctx   context.Context
	h     chat.Handler
	queue chan queuedMessage
	spawn func(func())
	// announce runs once per Run, on the first READY of any shard.
	announce sync.Once
}

// newShard builds the gateway session of shard id of plan.
func (a *Adapter) newShard(id int, plan shardPlan) (*shard, error) {
	count := plan.count
	sess, err := discordgo.New("Bot " + botToken(a.cfg.Token))
	if err != nil {
		return nil, fmt.Errorf("discord: new gateway session: %w", err)
	}
	sess.Client = a.sess.Client // the transport: api_url, the REST budget
	configureSession(sess)
	sess.ShardID, sess.ShardCount = id, max(count, 1)
	s := &shard{a: a, id: id, count: max(count, 1), concurrency: max(plan.concurrency, 1), sess: sess, log: a.log.With("shard", id)}

	var dialer websocket.Dialer
	if a.dialer != nil {
		dialer = *a.dialer
	} else {
		dialer = websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: 30 * time.Second}
	}
	dial := dialer.NetDialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second}).DialContext
	}
	dialer.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, s.gatewayAddr(addr))
		if err != nil {
			return nil, err
		}
		return s.dialed(c)
	}
	sess.Dialer = &dialer
	return s, nil
}

// run connects the shard and keeps it connected until ctx ends (nil) or
// Discord refuses it for good (a *GatewayCloseError). Disconnects are
// resumed with backoff.
func (s *shard) run(ctx context.Context, in *intake) error {
	a := s.a
	disconnected := make(chan struct{}, 1)
	remove := []func(){
		s.sess.AddHandler(func(_ *discordgo.Session, r *discordgo.Ready) {
			a.onReady(r, s)
			s.everUp.Store(true)
			s.ready.Store(true)
			s.sessionUp.Store(true)
			in.announce.Do(func() { a.announce(in.ctx, in.spawn) })
		}),
		s.sess.AddHandler(func(_ *discordgo.Session, _ *discordgo.Resumed) {
			s.ready.Store(true)
			s.sessionUp.Store(true)
			s.log.InfoContext(ctx, "gateway session resumed")
		}),
		s.sess.AddHandler(func(_ *discordgo.Session, _ *discordgo.Disconnect) {
			if s.connOpen() {
				// discordgo can report one drop twice (its close and its
				// reader both close); the second comes when the next
				// connection is already up.
				return
			}
			s.ready.Store(false)
			select {
			case disconnected <- struct{}{}:
			default:
			}
		}),
		s.sess.AddHandler(func(_ *discordgo.Session, t *discordgo.ThreadCreate) {
			if t.Channel != nil && t.IsThread() {
				a.threads.Put(t.ID, t.ParentID)
			}
		}),
		s.sess.AddHandler(func(_ *discordgo.Session, t *discordgo.ThreadDelete) {
			if t.Channel != nil {
				a.threads.Delete(t.ID) // a later reply creates a new thread on the message
			}
		}),
		s.sess.AddHandler(func(_ *discordgo.Session, e *discordgo.Event) {
			if e.Type == "READY" {
				s.onReadyRaw(e.RawData)
			}
			a.onRawEvent(e)
		}),
		s.sess.AddHandler(func(_ *discordgo.Session, m *discordgo.MessageCreate) {
			select {
			case in.queue <- queuedMessage{msg: m.Message, received: a.now()}:
			case <-ctx.Done():
			}
		}),
		s.sess.AddHandler(func(_ *discordgo.Session, ic *discordgo.InteractionCreate) {
			received := a.now()
			in.spawn(func() { a.onInteraction(in.ctx, in.h, ic.Interaction, received) })
		}),
	}
	defer func() {
		if err := s.sess.Close(); err != nil {
			s.log.Warn("gateway close failed", "err", err)
		}
		for _, r := range remove {
			r()
		}
		s.ready.Store(false)
	}()

	backoff := chat.Backoff{Min: a.reconnectMin, Max: a.reconnectMax}
	for {
		select { // a signal left over from a closed connection is stale
		case <-disconnected:
		default:
		}
		if !s.everUp.Load() && !a.awaitIdentify(ctx, s) {
			return nil
		}
		err := s.open(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if fatal := fatalClose(err); fatal != nil {
			s.log.Error("gateway refused the bot; stopping", "code", fatal.Code, "hint", fatal.Hint)
			return fatal
		}
		if err != nil && !errors.Is(err, discordgo.ErrWSAlreadyOpen) {
			wait := backoff.Next()
			s.log.Warn("gateway connect failed; retrying", "err", mapErr(err), "retry_in", wait)
			if !chat.SleepContext(ctx, wait) {
				return nil
			}
			continue
		}
		for down := false; !down; {
			select {
			case <-ctx.Done():
				return nil
			case <-disconnected:
			}
			// A drop reported while this connection was being opened
			// belongs to the one before: wait for this one's.
			down = !s.connOpen()
		}
		// A session that was up (READY or RESUMED) resumes at once, as
		// Discord asks after op 7 Reconnect or a missed heartbeat ACK, and
		// the wait starts over; a connection that never got that far backs
		// off. discordgo's close already waits 1 s, which bounds a storm.
		var wait time.Duration
		if s.sessionUp.Swap(false) {
			backoff.Reset()
			s.resumeNext.Store(true) // the first attempt goes to resume_gateway_url
		} else {
			wait = backoff.Next()
		}
		s.log.Warn("gateway disconnected; resuming", "retry_in", wait)
		if !chat.SleepContext(ctx, wait) {
			return nil
		}
	}
}

// open runs discordgo's Open (which cannot be cancelled) and, when ctx ends
// first, closes the connection being set up so Open returns promptly.
func (s *shard) open(ctx context.Context) error {
	s.connMu.Lock()
	s.dialAborted = false
	s.connMu.Unlock()
	done := make(chan error, 1)
	go func() { done <- s.sess.Open() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		s.connMu.Lock()
		s.dialAborted = true
		if s.conn != nil {
			_ = s.conn.Close()
		}
		s.connMu.Unlock()
		return <-done
	}
}

// connOpen reports whether the latest gateway connection is still open.
func (s *shard) connOpen() bool {
	s.connMu.Lock()
	c := s.conn
	s.connMu.Unlock()
	return c != nil && !c.isClosed()
}

// dialed records a new gateway connection, or refuses it when the shard is
// stopping.
func (s *shard) dialed(c net.Conn) (net.Conn, error) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.dialAborted {
		_ = c.Close()
		return nil, errDialAborted
	}
	w := &watchedConn{Conn: c, log: s.log}
	s.conn = w
	return w, nil
}
