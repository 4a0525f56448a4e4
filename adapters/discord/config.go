package discord

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// DefaultAPIURL is Discord's REST base URL; discordgo's endpoints are built on it.
const DefaultAPIURL = "https://discord.com/api/v9"

// Config is the `discord:` section of the bridge configuration.
type Config struct {
	// Enabled turns the adapter on.
	Enabled bool `yaml:"enabled"`
	// Token is the bot token (with or without the "Bot " prefix). Never logged.
	Token string `yaml:"token" secret:"true"`
	// APIURL is the REST base URL (default https://discord.com/api/v9). Point it
	// at a shared rate-limit proxy, or at a fake on loopback; the gateway URL is
	// discovered through it.
	APIURL string `yaml:"api_url"`
	// ApplicationID is the bot's application id, used for the printed invite URL
	// before the gateway's READY tells it. Optional.
	ApplicationID string `yaml:"application_id"`
	// AutoThread creates a thread on a mention in a text channel and holds the
	// conversation there (default true). When false, replies go inline in the
	// channel and the whole channel is one conversation.
	AutoThread bool `yaml:"auto_thread"`
	// ThreadArchiveMinutes is the auto-archive duration of created threads:
	// 60, 1440, 4320 or 10080 (default 1440).
	ThreadArchiveMinutes int `yaml:"thread_archive_minutes"`
	// EditBudget is the per-channel write budget shared by posts and edits
	// (default 4 writes per 5 s; Discord allows about 5).
	EditBudget EditBudget `yaml:"edit_budget"`
	// EditInterval is the least time between two edits of one message (default 1.5 s).
	EditInterval time.Duration `yaml:"edit_interval"`
	// MaxEditAge is the age after which a message is replaced by a new one
	// instead of edited (default 55 min; Discord limits edits of messages older than 1 h).
	MaxEditAge time.Duration `yaml:"max_edit_age"`
	// ShardID and ShardCount pass through to the gateway Identify when
	// ShardCount is greater than 1: this process runs that one shard (see
	// Shards for a process, or a set of replicas, that runs them all).
	ShardID    int `yaml:"shard_id"`
	ShardCount int `yaml:"shard_count"`
	// Shards, when set, runs every shard of the bot: "auto" takes Discord's
	// recommended count (GET /gateway/bot), a positive whole number is the
	// count. One process runs them all; replicas sharing a PostgreSQL store
	// split them through leases (docs/ARCHITECTURE.md, "Discord shards").
	// Empty (the default) runs shard_id of shard_count.
	Shards string `yaml:"shards"`
	// SlashCommand configures the /ask command.
	SlashCommand SlashCommandConfig `yaml:"slash_command"`
}

// EditBudget is a token-bucket write budget.
type EditBudget struct {
	Writes int           `yaml:"writes"`
	Per    time.Duration `yaml:"per"`
}

// SlashCommandConfig configures the slash command that starts a conversation.
type SlashCommandConfig struct {
	// Enabled registers the command when the gateway is ready (default true).
	Enabled bool `yaml:"enabled"`
	// Name is the command name (default "ask").
	Name string `yaml:"name"`
	// GuildIDs registers the command in these guilds only (instant); empty
	// registers it globally (may take a while to appear).
	GuildIDs []string `yaml:"guild_ids"`
}

// DefaultConfig returns the defaults, as config.example.yaml lists them (the
// adapter is disabled).
func DefaultConfig() Config {
	return Config{
		APIURL:               DefaultAPIURL,
		AutoThread:           true,
		ThreadArchiveMinutes: 1440,
		EditBudget:           EditBudget{Writes: 4, Per: 5 * time.Second},
		EditInterval:         1500 * time.Millisecond,
		MaxEditAge:           55 * time.Minute,
		ShardCount:           1,
		SlashCommand:         SlashCommandConfig{Enabled: true, Name: "ask"},
	}
}

var (
	snowflakeRe   = regexp.MustCompile(`^[0-9]{1,20}$`)
	commandNameRe = regexp.MustCompile(`^[-_\p{Ll}\p{N}]{1,32}$`)
)

// Validate reports problems by YAML path under path (normally "discord"). A
// disabled section is not checked. The token is never echoed.
func (c Config) Validate(path string) chat.ConfigProblems {
	if !c.Enabled {
		return nil
	}
	return c.validate(path)
}

func (c Config) validate(path string) chat.ConfigProblems {
	var ps chat.ConfigProblems
	p := func(name string) string { return chat.JoinPath(path, name) }

	tok := botToken(c.Token)
	switch {
	case tok == "":
		ps.Add(p("token"), "is required (the bot token from the Developer Portal, Bot page)")
	case strings.ContainsAny(tok, " \t\r\n"):
		ps.Add(p("token"), "must not contain spaces or line breaks")
	case strings.HasPrefix(tok, "${"):
		ps.Add(p("token"), "looks like an unexpanded environment variable")
	}
	if u, err := url.Parse(c.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ps.Add(p("api_url"), "must be an absolute http(s) URL such as %s", DefaultAPIURL)
	} else if u.RawQuery != "" || u.Fragment != "" {
		ps.Add(p("api_url"), "must not have a query or fragment")
	}
	if c.ApplicationID != "" && !snowflakeRe.MatchString(c.ApplicationID) {
		ps.Add(p("application_id"), "must be a numeric Discord id")
	}
	switch c.ThreadArchiveMinutes {
	case 60, 1440, 4320, 10080:
	default:
		ps.Add(p("thread_archive_minutes"), "must be one of 60, 1440, 4320, 10080 (got %d)", c.ThreadArchiveMinutes)
	}
	if c.EditBudget.Writes < 1 || c.EditBudget.Writes > 50 {
		ps.Add(p("edit_budget.writes"), "must be between 1 and 50 (got %d)", c.EditBudget.Writes)
	}
	if c.EditBudget.Per <= 0 {
		ps.Add(p("edit_budget.per"), "must be a positive duration such as 5s")
	}
	if c.EditInterval <= 0 {
		ps.Add(p("edit_interval"), "must be a positive duration such as 1.5s")
	}
	if c.MaxEditAge <= 0 || c.MaxEditAge > time.Hour {
		ps.Add(p("max_edit_age"), "must be a positive duration of at most 1h (got %s)", c.MaxEditAge)
	}
	if c.ShardCount < 0 {
		ps.Add(p("shard_count"), "must not be negative")
	}
	if c.ShardID < 0 || (c.ShardCount > 1 && c.ShardID >= c.ShardCount) || (c.ShardCount <= 1 && c.ShardID != 0) {
		ps.Add(p("shard_id"), "must be at least 0 and less than shard_count (got %d of %d)", c.ShardID, c.ShardCount)
	}
	if _, err := c.shardCount(); err != nil {
		ps.Add(p("shards"), "%v", err)
	} else if c.Shards != "" && (c.ShardCount > 1 || c.ShardID != 0) {
		ps.Add(p("shards"), "cannot be combined with shard_id and shard_count: remove those two keys (shards runs every shard)")
	}
	if c.SlashCommand.Enabled {
		if !commandNameRe.MatchString(c.SlashCommand.Name) {
			ps.Add(p("slash_command.name"), "must be 1-32 lowercase letters, digits, - or _ (got %q)", c.SlashCommand.Name)
		}
		for i, g := range c.SlashCommand.GuildIDs {
			if !snowflakeRe.MatchString(g) {
				ps.Add(p("slash_command.guild_ids")+"["+strconv.Itoa(i)+"]", "must be a numeric guild id (got %q)", g)
			}
		}
	}
	return ps
}

// ShardsAuto is the value of Config.Shards that takes Discord's
// recommended shard count.
const ShardsAuto = "auto"

// maxShards bounds a configured shard count (Discord's largest bots run a
// few thousand shards).
const maxShards = 1 << 16

// shardCount reads Shards: 0 for "" (shard_id of shard_count) and for
// "auto" (asked of Discord at start), else the count.
func (c Config) shardCount() (int, error) {
	switch s := strings.TrimSpace(c.Shards); s {
	case "", ShardsAuto:
		return 0, nil
	default:
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxShards {
			return 0, fmt.Errorf("must be auto or a whole number from 1 to %d (got %q): write shards: auto to use Discord's recommended count", maxShards, c.Shards)
		}
		return n, nil
	}
}

// botToken strips the "Bot " prefix and surrounding space.
func botToken(t string) string {
	t = strings.TrimSpace(t)
	if len(t) >= 3 && strings.EqualFold(t[:3], "bot") && (len(t) == 3 || t[3] == ' ') {
		t = strings.TrimSpace(t[3:])
	}
	return t
}
