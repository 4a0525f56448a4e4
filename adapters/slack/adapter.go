package slack

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/promptev/promptev-bridge/internal/workgroup"
	"github.com/slack-go/slack"
)

// Compile-time conformance.
var (
	_ chat.Adapter      = (*Adapter)(nil)
	_ chat.Ephemeral    = (*Adapter)(nil)
	_ chat.Buttons      = (*Adapter)(nil)
	_ chat.StatusSetter = (*Adapter)(nil)
	_ chat.Deleter      = (*Adapter)(nil)

	_ chat.StoreUser            = (*Adapter)(nil)
	_ chat.InstallationCounted  = (*Adapter)(nil)
	_ chat.InstallationReporter = (*Adapter)(nil)
)

// webAPITimeout bounds one Web API call.
const webAPITimeout = 30 * time.Second

// webAPI lists the Slack Web API calls the adapter makes; *slack.Client
// implements it.
type webAPI interface {
	AuthTestContext(ctx context.Context) (*slack.AuthTestResponse, error)
	PostMessageContext(ctx context.Context, channelID string, options ...slack.MsgOption) (string, string, error)
	UpdateMessageContext(ctx context.Context, channelID, timestamp string, options ...slack.MsgOption) (string, string, string, error)
	PostEphemeralContext(ctx context.Context, channelID, userID string, options ...slack.MsgOption) (string, error)
	DeleteMessageContext(ctx context.Context, channel, messageTimestamp string) (string, string, error)
	SetAssistantThreadsStatusContext(ctx context.Context, params slack.AssistantThreadsSetStatusParameters) error
	OpenViewContext(ctx context.Context, triggerID string, view slack.ModalViewRequest) (*slack.ViewResponse, error)
	StartStreamContext(ctx context.Context, channelID string, options ...slack.MsgOption) (string, string, error)
	AppendStreamContext(ctx context.Context, channelID, timestamp string, options ...slack.MsgOption) (string, string, error)
	StopStreamContext(ctx context.Context, channelID, timestamp string, options ...slack.MsgOption) (string, string, error)
	SetAgentSessionStatusContext(ctx context.Context, params slack.AgentSessionSetStatusParameters) (*slack.AgentSessionSetStatusResponse, error)
}

var _ webAPI = (*slack.Client)(nil)

// identity is who the bot is, learned from auth.test when Run starts.
type identity struct {
	TeamID    string
	UserID    string
	BotID     string
	mentionRE mentionMatcher
}

// Adapter is the Slack platform: it receives events over Socket Mode or HTTP
// and posts Block Kit messages through the Web API. Create it with New; it is
// safe for concurrent use.
type Adapter struct {
	cfg    Config
	log    *slog.Logger
	client *slack.Client // for Socket Mode; nil in unit tests
	api    webAPI
	now    func() time.Time

	// ready is the HTTP listener's state; readyConns counts the Socket Mode
	// connections that are up and healthy.
	ready      atomic.Bool
	readyConns atomic.Int32
	self       atomic.Pointer[identity]

	// Socket Mode liveness (see socketconn.go); tests shorten them.
	pingInterval, clientPing, silenceLimit, watchEvery time.Duration
	// socketTLS is the TLS config of wss:// connections; nil uses the
	// system's roots (tests trust slackfake's certificate with it).
	socketTLS *tls.Config

	mu       sync.Mutex
	httpAddr net.Addr
	// listening is closed once the HTTP-mode listener is bound.
	listening     chan struct{}
	listeningOnce sync.Once

	// bg runs work started after an acknowledgement (ephemeral notices);
	// start it with goBackground. Each Run gives it a new group and closes
	// it before waiting for it, after which no work is added.
	bg atomic.Pointer[workgroup.Group]

	// lanes are the budgets of the progress lanes and what each workspace
	// lacks; streams the native streams this adapter started.
	lanes   *lanes
	streams streams
	// http is the client of direct Web API requests (Scopes); nil uses a
	// default one.
	http *http.Client

	// With slack.oauth: the installations (installs, indexed from store),
	// the sealer of their tokens, the install states and the counter of
	// installation events (store and counter are guarded by mu).
	installs *installs
	sealer   *sealer
	states   states
	store    chat.InstallationBackend
	counter  chat.InstallationCounter
}

// New validates cfg and returns an Adapter using slack-go's Web API client
// pointed at cfg.APIURL. slack-go's automatic retry stays off: 429s go back to
// the bridge as *chat.RateLimitError. The logger gets a platform=slack
// attribute (the caller names the component); nil discards the logs.
func New(cfg Config, logger *slog.Logger) (*Adapter, error) {
	enabled := cfg
	enabled.Enabled = true
	if err := enabled.Validate("slack").Err(); err != nil {
		return nil, fmt.Errorf("slack: invalid config: %w", err)
	}
	cfg = cfg.withDefaults()
	var err error
	hc := &http.Client{Timeout: webAPITimeout}
	client := slack.New(cfg.BotToken,
		slack.OptionAppLevelToken(cfg.AppToken),
		slack.OptionAPIURL(cfg.APIURL),
		// slack-go's default client has no timeout; a stalled Web API call
		// must not hold a sender forever when the caller's ctx has no deadline.
		slack.OptionHTTPClient(hc),
	)
	a := newAdapter(cfg, client, logger)
	a.client = client
	a.http = hc
	if cfg.OAuth != nil {
		o := cfg.OAuth.withDefaults()
		a.cfg.OAuth = &o
		if a.sealer, err = newSealer(o.TokenKey); err != nil {
			return nil, err
		}
		a.states = newStates(o.ClientSecret)
	}
	return a, nil
}

// newAdapter builds an adapter over any webAPI (unit tests pass a fake).
func newAdapter(cfg Config, api webAPI, logger *slog.Logger) *Adapter {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Adapter{
		cfg:       cfg.withDefaults(),
		log:       logger.With("platform", Name), // the caller names the component
		api:       api,
		now:       time.Now,
		listening: make(chan struct{}),
		lanes:     newLanes(),
		installs:  newInstalls(),
		streams:   streams{open: map[string]*openStream{}},

		pingInterval: socketPingInterval,
		clientPing:   socketClientPing,
		silenceLimit: socketSilenceLimit,
		watchEvery:   socketWatchEvery,
	}
}

// Name returns "slack".
func (a *Adapter) Name() string { return Name }

// The post budget is 4/5 of post_per_sec: postMarginCount × post_per_sec
// posts per postMarginPer. Slack allows about one chat.postMessage a second
// per channel; a budget of exactly that drew a 429 whenever a request
// reached Slack a few milliseconds sooner after the one before it than it
// had left the bridge. At 4/5, each post after the burst leaves 250 ms of
// slack at the default (one post every 1.25 s).
const (
	postMarginCount = 4
	postMarginPer   = 5 * time.Second
)

// Limits returns Slack's limits: 3,900 characters a message, one edit a
// second per message, the configured chat.update budget per workspace (its
// default, 40 a minute with a burst of 5, stays under Slack's 50 in any
// minute) and a post budget per channel of 4/5 of post_per_sec.
func (a *Adapter) Limits() chat.Limits {
	return chat.Limits{
		MaxMessageChars: maxTextChars,
		MinEditInterval: time.Second,
		EditRate:        chat.Rate{Count: a.cfg.EditBudgetPerMin, Per: time.Minute, Burst: a.cfg.EditBurst},
		EditScope:       chat.ScopeWorkspace,
		PostRate:        chat.Rate{Count: postMarginCount * a.cfg.PostPerSec, Per: postMarginPer, Burst: a.cfg.PostBurst},
		PostScope:       chat.ScopeChannel,
	}
}

// Ready reports whether the adapter can receive events: in socket mode, at
// least one of its Socket Mode connections has Slack's hello and has not
// gone silent; in HTTP mode, the listener is serving.
func (a *Adapter) Ready() bool { return a.readyConns.Load() > 0 || a.ready.Load() }

// HealthyConnections returns how many Socket Mode connections are up and
// healthy (0 in HTTP mode).
func (a *Adapter) HealthyConnections() int { return int(a.readyConns.Load()) }

// ButtonsSupported reports true: approval cards carry working buttons.
func (a *Adapter) ButtonsSupported() bool { return true }

// HTTPAddr returns the address the HTTP-mode listener is bound to, or nil
// before it listens (or in socket mode). Useful with listen "127.0.0.1:0".
func (a *Adapter) HTTPAddr() net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.httpAddr
}

// Listening returns a channel closed once the HTTP-mode listener is bound
// (HTTPAddr is then set). In socket mode it is never closed.
func (a *Adapter) Listening() <-chan struct{} { return a.listening }

// BotUserID returns the bot's user id learned from auth.test, or "" before Run.
func (a *Adapter) BotUserID() string {
	if id := a.self.Load(); id != nil {
		return id.UserID
	}
	return ""
}
