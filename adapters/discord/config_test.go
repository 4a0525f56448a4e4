package discord

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/promptev/promptev-bridge/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		mutate    func(*Config)
		wantPaths []string
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "disabled is not checked", mutate: func(c *Config) { c.Enabled = false; c.Token = "" }},
		{name: "missing token", mutate: func(c *Config) { c.Token = "  " }, wantPaths: []string{"discord.token"}},
		{name: "Bot prefix only", mutate: func(c *Config) { c.Token = "Bot " }, wantPaths: []string{"discord.token"}},
		{name: "unexpanded env", mutate: func(c *Config) { c.Token = "${DISCORD_BOT_TOKEN}" }, wantPaths: []string{"discord.token"}},
		{name: "token with space", mutate: func(c *Config) { c.Token = "abc def" }, wantPaths: []string{"discord.token"}},
		{name: "bad api_url", mutate: func(c *Config) { c.APIURL = "discord.com/api" }, wantPaths: []string{"discord.api_url"}},
		{name: "api_url with query", mutate: func(c *Config) { c.APIURL = "https://proxy/api/v9?x=1" }, wantPaths: []string{"discord.api_url"}},
		{name: "archive minutes", mutate: func(c *Config) { c.ThreadArchiveMinutes = 30 }, wantPaths: []string{"discord.thread_archive_minutes"}},
		{name: "budget", mutate: func(c *Config) { c.EditBudget = EditBudget{} },
			wantPaths: []string{"discord.edit_budget.writes", "discord.edit_budget.per"}},
		{name: "intervals", mutate: func(c *Config) { c.EditInterval = 0; c.MaxEditAge = 2 * time.Hour },
			wantPaths: []string{"discord.edit_interval", "discord.max_edit_age"}},
		{name: "shard out of range", mutate: func(c *Config) { c.ShardID, c.ShardCount = 2, 2 }, wantPaths: []string{"discord.shard_id"}},
		{name: "shard id without count", mutate: func(c *Config) { c.ShardID = 1 }, wantPaths: []string{"discord.shard_id"}},
		{name: "shards auto", mutate: func(c *Config) { c.Shards = ShardsAuto }},
		{name: "shards count", mutate: func(c *Config) { c.Shards = "16" }},
		{name: "shards zero", mutate: func(c *Config) { c.Shards = "0" }, wantPaths: []string{"discord.shards"}},
		{name: "shards word", mutate: func(c *Config) { c.Shards = "many" }, wantPaths: []string{"discord.shards"}},
		{name: "shards too many", mutate: func(c *Config) { c.Shards = "70000" }, wantPaths: []string{"discord.shards"}},
		{name: "shards with shard_count", mutate: func(c *Config) { c.Shards = "2"; c.ShardID, c.ShardCount = 1, 2 },
			wantPaths: []string{"discord.shards"}},
		{name: "application id", mutate: func(c *Config) { c.ApplicationID = "abc" }, wantPaths: []string{"discord.application_id"}},
		{name: "slash command", mutate: func(c *Config) {
			c.SlashCommand.Name = "Ask Me"
			c.SlashCommand.GuildIDs = []string{"1", "x"}
		}, wantPaths: []string{"discord.slash_command.name", "discord.slash_command.guild_ids[1]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			tt.mutate(&cfg)
			ps := cfg.Validate("discord")
			var paths []string
			for _, p := range ps {
				paths = append(paths, p.Path)
				if len(cfg.Token) > 5 {
					assert.NotContains(t, p.Message, cfg.Token, "the token is never echoed")
				}
			}
			assert.Equal(t, tt.wantPaths, paths)
		})
	}
}

func TestConfigYAML(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	src := `
enabled: true
token: abc
api_url: https://proxy.internal/api/v9
auto_thread: false
thread_archive_minutes: 60
edit_budget: {writes: 3, per: 10s}
edit_interval: 2s
max_edit_age: 50m
shard_id: 1
shard_count: 4
slash_command: {enabled: false, name: ask, guild_ids: ["123"]}
`
	require.NoError(t, yaml.Unmarshal([]byte(src), &cfg))
	assert.Equal(t, Config{
		Enabled: true, Token: "abc", APIURL: "https://proxy.internal/api/v9", AutoThread: false,
		ThreadArchiveMinutes: 60, EditBudget: EditBudget{Writes: 3, Per: 10 * time.Second},
		EditInterval: 2 * time.Second, MaxEditAge: 50 * time.Minute, ShardID: 1, ShardCount: 4,
		SlashCommand: SlashCommandConfig{Enabled: false, Name: "ask", GuildIDs: []string{"123"}},
	}, cfg)
	assert.Empty(t, cfg.Validate("discord"))
}

func TestConfigShardsYAML(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]string{"shards: 4": "4", "shards: auto": ShardsAuto, "shards: '2'": "2", "{}": ""} {
		cfg := testConfig()
		require.NoError(t, yaml.Unmarshal([]byte(src), &cfg), src)
		assert.Equal(t, want, cfg.Shards, src)
		assert.Empty(t, cfg.Validate("discord"), src)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.ThreadArchiveMinutes = 5
	_, err := New(cfg, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "discord.thread_archive_minutes")
	assert.NotContains(t, err.Error(), testToken)
	_, err = New(testConfig(), nil)
	assert.Error(t, err)
}

func TestLimits(t *testing.T) {
	t.Parallel()
	a, err := New(testConfig(), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.Equal(t, chat.Limits{
		MaxMessageChars: 1900,
		MinEditInterval: 1500 * time.Millisecond,
		EditRate:        chat.Rate{Count: 4, Per: 5 * time.Second, Burst: 4},
		EditScope:       chat.ScopeChannel,
		PostRate:        chat.Rate{Count: 4, Per: 5 * time.Second, Burst: 4},
		PostScope:       chat.ScopeChannel,
		SharedBudget:    true,
		MaxEditAge:      55 * time.Minute,
		ThreadScope:     true,
		GlobalRate:      chat.Rate{Count: 44, Per: time.Second, Burst: 4},
	}, a.Limits())
	assert.Equal(t, restRate, a.Limits().GlobalRate.Count, "the outbox's bot-wide budget runs at the transport's rate, no slower")
	assert.Equal(t, "discord", a.Name())
	assert.True(t, a.ButtonsSupported())
	assert.False(t, a.Ready())
	assert.False(t, a.sess.ShouldRetryOnRateLimit)
	assert.False(t, a.sess.ShouldReconnectOnError)
	assert.Zero(t, a.sess.MaxRestRetries)
	assert.Equal(t, "Bot "+testToken, a.sess.Token)
}

func TestInviteURL(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(InviteURL("42"))
	require.NoError(t, err)
	assert.Equal(t, "discord.com", u.Host)
	q := u.Query()
	assert.Equal(t, "42", q.Get("client_id"))
	assert.Equal(t, "bot applications.commands", q.Get("scope"))
	assert.Equal(t, "309237713920", q.Get("permissions"))
	perms := int64(discordgo.PermissionViewChannel | discordgo.PermissionSendMessages | discordgo.PermissionSendMessagesInThreads |
		discordgo.PermissionCreatePublicThreads | discordgo.PermissionReadMessageHistory)
	assert.Equal(t, perms, int64(InvitePermissions))
}

func TestTransportRewritesAndNormalises429(t *testing.T) {
	t.Parallel()
	var gotPath string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.Path
		if strings.HasSuffix(r.URL.Path, "/limited") {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, "slow down")
			return
		}
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(srv.Close)
	tr, err := newTransport(srv.Client().Transport, srv.URL+"/proxy/api/v10/")
	require.NoError(t, err)
	client := &http.Client{Transport: tr}

	resp, err := client.Get(discordgo.EndpointChannel("123"))
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, "/proxy/api/v10/channels/123", gotPath)

	resp, err = client.Get(discordgo.EndpointAPI + "limited")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.JSONEq(t, `{"message":"rate limited","retry_after":2,"global":false}`, string(body))

	// Through discordgo, the normalised 429 becomes a bridge rate-limit error.
	sess, _ := discordgo.New("Bot x")
	sess.Client = client
	_, err = sess.Request("GET", discordgo.EndpointAPI+"limited", nil, discordgo.WithRetryOnRatelimit(false))
	var rl *chat.RateLimitError
	require.ErrorAs(t, mapErr(err), &rl)
	assert.Equal(t, 2*time.Second, rl.RetryAfter)

	same, err := newTransport(nil, DefaultAPIURL)
	require.NoError(t, err)
	assert.False(t, same.rewrite)
}

func TestMapErrRedactsURLs(t *testing.T) {
	t.Parallel()
	a, err := New(testConfig(), slog.New(slog.DiscardHandler), WithHTTPClient(&http.Client{Transport: failing{}}))
	require.NoError(t, err)
	i := &discordgo.Interaction{ID: "1", Token: "SECRET-interaction-token", AppID: "2"}
	ok := a.respond(t.Context(), i, ephemeralResponse("x"))
	assert.False(t, ok)
	_, err = a.sess.RequestWithBucketID("POST", discordgo.EndpointInteractionResponse(i.ID, i.Token), nil, "b")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "SECRET", "discordgo's own error carries the URL")
	assert.NotContains(t, mapErr(err).Error(), "SECRET")
	assert.ErrorIs(t, mapErr(err), io.ErrUnexpectedEOF)
}

// failing is a transport that always fails.
type failing struct{}

func (failing) RoundTrip(*http.Request) (*http.Response, error) { return nil, io.ErrUnexpectedEOF }

func TestLRU(t *testing.T) {
	t.Parallel()
	c := newLRU[string, int](2)
	c.Put("a", 1)
	c.Put("b", 2)
	_, _ = c.Get("a") // a is now the most recent
	c.Put("c", 3)
	_, ok := c.Get("b")
	assert.False(t, ok, "least recently used entry evicted")
	v, ok := c.Get("a")
	assert.True(t, ok)
	assert.Equal(t, 1, v)
	c.Put("a", 10)
	v, _ = c.Get("a")
	assert.Equal(t, 10, v)
	c.Delete("a")
	assert.Equal(t, 1, c.Len())
}
