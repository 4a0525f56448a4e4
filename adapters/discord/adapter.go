package discord

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"
	"github.com/promptev/promptev-bridge/chat"
	"golang.org/x/sync/singleflight"
)

// Compile-time conformance with the bridge's platform interfaces.
var (
	_ chat.Adapter        = (*Adapter)(nil)
	_ chat.Ephemeral      = (*Adapter)(nil)
	_ chat.Buttons        = (*Adapter)(nil)
	_ chat.StatusSetter   = (*Adapter)(nil)
	_ chat.Deleter        = (*Adapter)(nil)
	_ chat.RequestCounted = (*Adapter)(nil)
	_ chat.ThreadStarter  = (*Adapter)(nil)
)

// Intents are the gateway intents the adapter identifies with. MessageContent
// is privileged: it must be enabled in the Developer Portal.
const Intents = discordgo.IntentsGuilds | discordgo.IntentsGuildMessages |
	discordgo.IntentsDirectMessages | discordgo.IntentsMessageContent

// Sizes of the adapter's bounded caches.
const (
	threadCacheSize = 4096
	nameCacheSize   = 1024
	tokenCacheSize  = 1024
	typingCacheSize = 1024
)

// Adapter is the Discord platform: a gateway connection plus REST calls.
// Create it with New and start it with Run; Post, Edit and the optional
// abilities may be called from any goroutine.
type Adapter struct {
	cfg  Config
	log  *slog.Logger
	sess *discordgo.Session
	now  func() time.Time

	reconnectMin, reconnectMax time.Duration
	respondTimeout             time.Duration
	typingEvery                time.Duration

	dialer *websocket.Dialer // the configured gateway dialer, nil for the default

	running atomic.Bool
	botID   atomic.Pointer[string]
	appID   atomic.Pointer[string]

	// shards are the gateway sessions of the current Run, by shard id
	// (shards.go); claimed is set once a Run with a leaser has finished a
	// round of claiming, so a replica holding no shard is ready too.
	shardsMu sync.Mutex
	shards   map[int]*shard
	claimed  bool
	// cluster, when set, shares the shards with other replicas through
	// leases (claim.go); owner names this replica in them.
	cluster  atomic.Pointer[clusterConfig]
	owner    string
	claimTTL time.Duration
	// claimTick, when set, replaces the claim loop's ticker (tests).
	claimTick <-chan time.Time
	// identify spaces the identifies of the shards (identify.go).
	identify *identifyGate

	threads *lru[string, string]           // channel id -> parent id ("" = not a thread)
	names   *lru[string, string]           // message id -> name for the thread to create on it
	tokens  *lru[string, interactionToken] // channel id + "/" + user id -> latest interaction
	typing  *lru[string, time.Time]        // channel id -> last typing indicator
	inline  *lru[string, bool]             // key string -> thread creation refused; reply inline
	roles   *lru[string, string]           // guild id -> the bot's managed role id
	create  singleflight.Group

	warnedContent atomic.Bool

	// limit meters every REST call but interaction callbacks; counter
	// receives the invalid requests it sees.
	limit   *restLimiter
	counter atomic.Pointer[chat.RequestCounter]

	// life is the context of the current Run (nil outside Run).
	life atomic.Pointer[context.Context]
}

// lifeContext is the current Run's context, or Background outside Run.
func (a *Adapter) lifeContext() context.Context {
	if p := a.life.Load(); p != nil {
		return *p
	}
	return context.Background()
}

// interactionToken is what is needed to send an ephemeral follow-up to a user.
type interactionToken struct {
	appID, token string
	expires      time.Time
}

// Option configures an Adapter.
type Option func(*options)

type options struct {
	client          *http.Client
	dialer          *websocket.Dialer
	now             func() time.Time
	reconnectMin    time.Duration
	reconnectMax    time.Duration
	respondTimeout  time.Duration
	leaser          chat.Leaser
	claimTTL        time.Duration
	claimTick       <-chan time.Time
	identifySpacing time.Duration
}

// WithHTTPClient sets the HTTP client for REST calls (tests pass one whose
// transport rewrites discord.com to a loopback fake). Its transport is
// wrapped, not modified.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithDialer sets the websocket dialer for the gateway.
func WithDialer(d *websocket.Dialer) Option { return func(o *options) { o.dialer = d } }

// WithClock sets the clock used for message timestamps and throttles.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithReconnectBackoff sets the first and the largest wait between gateway
// reconnect attempts (defaults 1 s and 2 min).
func WithReconnectBackoff(first, largest time.Duration) Option {
	return func(o *options) { o.reconnectMin, o.reconnectMax = first, largest }
}

// New builds an adapter from cfg (which is validated as if enabled). It makes
// no network calls; Run connects.
func New(cfg Config, logger *slog.Logger, opts ...Option) (*Adapter, error) {
	if err := cfg.validate("discord").Err(); err != nil {
		return nil, fmt.Errorf("discord: invalid config: %w", err)
	}
	if logger == nil {
		return nil, errors.New("discord: logger is required")
	}
	o := options{
		now:            time.Now,
		reconnectMin:   time.Second,
		reconnectMax:   2 * time.Minute,
		respondTimeout: 2500 * time.Millisecond,
	}
	for _, opt := range opts {
		opt(&o)
	}

	sess, err := discordgo.New("Bot " + botToken(cfg.Token))
	if err != nil {
		return nil, fmt.Errorf("discord: new session: %w", err)
	}
	base := o.client
	if base == nil {
		base = &http.Client{Timeout: 20 * time.Second}
	}
	tr, err := newTransport(base.Transport, cfg.APIURL)
	if err != nil {
		return nil, err
	}
	client := *base
	client.Transport = tr
	sess.Client = &client

	a := &Adapter{
		cfg:            cfg,
		log:            logger.With("platform", Name), // the caller names the component
		sess:           sess,
		now:            o.now,
		reconnectMin:   max(o.reconnectMin, time.Millisecond),
		reconnectMax:   max(o.reconnectMax, o.reconnectMin),
		respondTimeout: o.respondTimeout,
		typingEvery:    8 * time.Second,
		threads:        newLRU[string, string](threadCacheSize),
		names:          newLRU[string, string](nameCacheSize),
		tokens:         newLRU[string, interactionToken](tokenCacheSize),
		typing:         newLRU[string, time.Time](typingCacheSize),
		inline:         newLRU[string, bool](nameCacheSize),
		roles:          newLRU[string, string](nameCacheSize),
		dialer:         o.dialer,
		shards:         make(map[int]*shard),
		owner:          newOwnerID(),
		claimTTL:       cmp.Or(o.claimTTL, DefaultShardLeaseTTL),
		claimTick:      o.claimTick,
		identify:       newIdentifyGate(cmp.Or(o.identifySpacing, IdentifySpacing)),
	}
	if o.leaser != nil {
		a.SetLeaser(o.leaser, "", 0)
	}
	tr.lifeCtx = a.lifeContext
	a.limit = newRESTLimiter(a.log, time.Now)
	a.limit.counter = a.requestCounter
	tr.limit = a.limit
	configureSession(sess)
	if cfg.ApplicationID != "" {
		id := cfg.ApplicationID
		a.appID.Store(&id)
	}
	return a, nil
}

// configureSession sets a discordgo session up for the bridge: no retries
// or sleeps on 429, no blind re-posts on 502, synchronous event handlers
// (the adapter queues work itself, in order), a minimal state cache, and no
// logging to the standard logger.
func configureSession(s *discordgo.Session) {
	s.ShouldRetryOnRateLimit = false
	s.ShouldReconnectOnError = false // Run reconnects, so fatal close codes can stop it
	s.ShouldReconnectVoiceOnSessionError = false
	s.MaxRestRetries = 0
	s.SyncEvents = true
	s.LogLevel = discordgo.LogError - 1
	s.Identify.Intents = Intents
	s.State.TrackEmojis = false
	s.State.TrackMembers = false
	s.State.TrackRoles = false
	s.State.TrackVoice = false
	s.State.TrackPresences = false
	s.State.TrackThreadMembers = false
	s.State.TrackStickers = false
}

// SetRequestCounter implements chat.RequestCounted: c counts the REST
// requests Discord refuses as invalid (401, 403, 429).
func (a *Adapter) SetRequestCounter(c chat.RequestCounter) { a.counter.Store(&c) }

func (a *Adapter) requestCounter() chat.RequestCounter {
	if p := a.counter.Load(); p != nil {
		return *p
	}
	return nil
}

// Name implements chat.Platform.
func (a *Adapter) Name() string { return Name }

// Limits implements chat.Platform: 1,900 characters per message, one
// per-channel budget shared by posts and edits in which every thread is its
// own channel, a bot-wide budget under Discord's 50 requests per second,
// 1.5 s between live edits of a message, and no edits of messages older than
// 55 minutes.
func (a *Adapter) Limits() chat.Limits {
	// A bucket of Writes (default 4, under Discord's 5 per 5 s per channel)
	// refilled at Writes per Per: a burst of mentions in one channel gets
	// its threads at once, the sustained rate keeps a fifth of the limit
	// spare, and the transport holds a channel whose X-RateLimit-Remaining
	// reached 0 until its reset, so the burst and the refill together never
	// draw a 429.
	rate := chat.Rate{Count: a.cfg.EditBudget.Writes, Per: a.cfg.EditBudget.Per, Burst: a.cfg.EditBudget.Writes}
	return chat.Limits{
		MaxMessageChars: MaxMessageChars,
		MinEditInterval: a.cfg.EditInterval,
		EditRate:        rate,
		EditScope:       chat.ScopeChannel,
		PostRate:        rate,
		PostScope:       chat.ScopeChannel,
		SharedBudget:    true,
		MaxEditAge:      a.cfg.MaxEditAge,
		ThreadScope:     true,
		GlobalRate:      chat.Rate{Count: outboxRate, Per: time.Second, Burst: outboxBurst},
	}
}

// ButtonsSupported implements chat.Buttons: approval cards get Approve and
// Deny buttons.
func (a *Adapter) ButtonsSupported() bool { return true }

// BotUserID returns the bot's user id once the gateway said READY.
func (a *Adapter) BotUserID() string {
	if p := a.botID.Load(); p != nil {
		return *p
	}
	return ""
}

// ApplicationID returns the application id from the config or from READY.
func (a *Adapter) ApplicationID() string {
	if p := a.appID.Load(); p != nil {
		return *p
	}
	return ""
}

// reqOpts are the options of every bridge REST call.
func reqOpts(ctx context.Context) []discordgo.RequestOption {
	return []discordgo.RequestOption{discordgo.WithContext(ctx), discordgo.WithRetryOnRatelimit(false), discordgo.WithRestRetries(0)}
}
