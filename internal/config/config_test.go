package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/promptev/promptev-bridge/adapters/discord"
	"github.com/promptev/promptev-bridge/adapters/slack"
	"github.com/promptev/promptev-bridge/bridge"
	"github.com/promptev/promptev-bridge/chat"
)

// mapEnv is a LookupEnv over a map.
func mapEnv(m map[string]string) LookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const minimalConfig = `
promptev:
  project_key: pk-secret-123
routes:
  default: {agent: helpdesk}
`

func TestExpandString(t *testing.T) {
	env := mapEnv(map[string]string{"A": "alpha", "EMPTY": ""})
	tests := []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "x-${A}-y", want: "x-alpha-y"},
		{in: "${MISSING:-fallback}", want: "fallback"},
		{in: "${EMPTY:-fallback}", want: "fallback"},
		{in: "${EMPTY}", want: ""},
		{in: "${MISSING:-}", want: ""},
		{in: "cost $5 and $$HOME", want: "cost $5 and $HOME"},
		{in: "${MISSING}", err: "environment variable MISSING is not set"},
		{in: "${A", err: "unterminated ${"},
		{in: "${1BAD}", err: "invalid environment variable name"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := expandString(tt.in, env)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseConfigDefaultsAndOverrides(t *testing.T) {
	cfg, ps := Parse([]byte(`
promptev:
  project_key: pk-secret-123
  base_url: http://127.0.0.1:8080/
  timeout: ${TIMEOUT}
  max_retries: ${RETRIES:-5}
routes:
  default: {agent: helpdesk}
  channels:
    - {platform: slack, channel: C1, agent: other, mode: trigger, variables: {company: Acme}}
approvals: {timeout: 5m}
log: {format: json}
`), mapEnv(map[string]string{"TIMEOUT": "7s"}))
	require.Empty(t, ps)
	assert.Equal(t, "http://127.0.0.1:8080", cfg.Promptev.BaseURL, "trailing slash stripped")
	assert.Equal(t, 7*time.Second, cfg.Promptev.Timeout, "expanded value re-resolved as a duration")
	assert.Equal(t, 5, cfg.Promptev.MaxRetries, "default of an unset variable, re-resolved as an int")
	assert.Equal(t, 90*time.Second, cfg.Promptev.IdleTimeout, "untouched default")
	assert.Equal(t, "bearer", cfg.Promptev.Auth)
	assert.Equal(t, "helpdesk", cfg.Bridge.Routes.Default.Agent)
	assert.Equal(t, chat.ModeStream, cfg.Bridge.Routes.Default.Mode, "default kept beside a set sibling")
	require.Len(t, cfg.Bridge.Routes.Channels, 1)
	assert.Equal(t, chat.ModeTrigger, cfg.Bridge.Routes.Channels[0].Mode)
	assert.Equal(t, "Acme", cfg.Bridge.Routes.Channels[0].Variables["company"])
	assert.Equal(t, 5*time.Minute, cfg.Bridge.Approvals.Timeout)
	assert.Equal(t, "approve", cfg.Bridge.Approvals.ApproveQuery, "default kept beside a set sibling")
	assert.Equal(t, "json", cfg.Log.Format)
	assert.Equal(t, "info", cfg.Log.Level)
	assert.Equal(t, "127.0.0.1:9464", cfg.HTTP.Listen)
	assert.Equal(t, "./promptev-bridge.db", cfg.Store.Path)
}

func TestParseConfigEmptySectionKeepsDefaults(t *testing.T) {
	cfg, ps := Parse([]byte(minimalConfig+"slack:\nlog:\n"), mapEnv(nil))
	require.Empty(t, ps)
	assert.Equal(t, "socket", cfg.Section(slack.Name).(*slack.Config).Mode)
	assert.Equal(t, "text", cfg.Log.Format)
}

// TestCheckProblems is the table of broken configs: each must produce
// exactly the expected "path: message" lines.
func TestCheckProblems(t *testing.T) {
	env := mapEnv(map[string]string{"PK": "pk-from-env-secret"})
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "unknown keys at every level, all reported",
			yaml: minimalConfig + "promptevv: {}\nstore: {paht: x.db}\nslack:\n  enabled: false\n  bot_tokn: x\n",
			want: []string{
				"promptevv: unknown key (did you mean promptev?) (line 6)",
				"store.paht: unknown key (did you mean path?) (line 7)",
				"slack.bot_tokn: unknown key (did you mean bot_token?) (line 10)",
			},
		},
		{
			name: "unknown key inside a list item",
			yaml: minimalConfig + "  channels:\n    - {platform: slack, chanel: C1}\n",
			want: []string{"routes.channels[0].chanel: unknown key (did you mean channel?) (line 7)"},
		},
		{
			name: "bad enums",
			yaml: minimalConfig + "log: {level: loud, format: xml}\nrender: {show_thoughts: sometimes}\nslack: {enabled: true, mode: carrier-pigeon, bot_token: xoxb-1}\n",
			want: []string{
				`render.show_thoughts: must be off, latest or all, not "sometimes" (line 7)`,
				`slack.mode: must be socket or http, got "carrier-pigeon" (line 8)`,
				`log.level: must be debug, info, warn or error, got "loud" (line 6)`,
				`log.format: must be text or json, got "xml" (line 6)`,
			},
		},
		{
			name: "missing env variable names its path",
			yaml: "promptev: {project_key: '${NOPE}'}\nroutes: {default: {agent: '${AGENT}'}}\n",
			want: []string{
				"promptev.project_key: environment variable NOPE is not set: export it (see .env.example), or write ${NOPE:-} if the value may be empty (line 1)",
				"routes.default.agent: environment variable AGENT is not set: export it (see .env.example), or write ${AGENT:-} if the value may be empty (line 2)",
			},
		},
		{
			name: "missing env in a disabled section is fine, in an enabled one it is not",
			yaml: minimalConfig + "slack: {bot_token: '${SLACK_BOT_TOKEN}'}\ndiscord: {enabled: true, token: '${DISCORD_BOT_TOKEN}'}\n",
			want: []string{
				"discord.token: is required (the bot token from the Developer Portal, Bot page): environment variable DISCORD_BOT_TOKEN is not set (export it; see .env.example) (line 7)",
			},
		},
		{
			// Socket Mode does not use the signing secret: its unset variable
			// must not fail the file (the shipped example references it).
			name: "an unset variable the enabled section does not need is fine",
			yaml: minimalConfig + "slack:\n  enabled: true\n  mode: socket\n  bot_token: xoxb-1\n  app_token: xapp-1\n  signing_secret: ${PB_UNSET_SIGNING}\n",
			want: nil,
		},
		{
			name: "an unset variable the enabled section needs names the variable",
			yaml: minimalConfig + "slack:\n  enabled: true\n  mode: http\n  bot_token: xoxb-1\n  signing_secret: ${PB_UNSET_SIGNING}\n",
			want: []string{
				"slack.signing_secret: is required in http mode: environment variable PB_UNSET_SIGNING is not set (export it; see .env.example) (line 10)",
			},
		},
		{
			name: "a missing key names where to add it",
			yaml: "promptev:\n  timeout: 30s\n",
			want: []string{
				"promptev.project_key: is required: write project_key: ${PROMPTEV_PROJECT_KEY} in the promptev section and export PROMPTEV_PROJECT_KEY (not in the file: add it under promptev, line 1)",
				"routes.default.agent: is required (the agent used when no channel route matches) (not in the file: add a routes: section)",
			},
		},
		{
			name: "a side port that cannot be bound",
			yaml: minimalConfig + "http: {listen: 'localhost:abc'}\n",
			want: []string{`http.listen: must be host:port with a port from 0 to 65535 (0 picks a free one), or empty to turn the side port off, got "localhost:abc" (line 6)`},
		},
		{
			name: "a port out of range",
			yaml: minimalConfig + "http: {listen: ':99999'}\n",
			want: []string{`http.listen: must be host:port with a port from 0 to 65535 (0 picks a free one), or empty to turn the side port off, got ":99999" (line 6)`},
		},
		{
			name: "a tab in the indentation is named, on its line",
			yaml: "promptev:\n  project_key: pk\n\tbase_url: https://x\nroutes: {default: {agent: a}}\n",
			want: []string{"invalid YAML at line 3: a tab indents this line; YAML indents with spaces only (replace the tab with spaces)"},
		},
		{
			name: "a syntax error is reported on the line that breaks the file",
			yaml: "promptev:\n  project_key: pk\nroutes:\n  - a\n  default: {agent: a}\n",
			want: []string{`invalid YAML at line 5: did not find expected '-' indicator (is a quote or bracket opened here left unclosed, or an item indented wrongly?)`},
		},
		{
			name: "discord shards: auto or a whole number, not both ways of sharding",
			yaml: minimalConfig + "discord:\n  enabled: true\n  token: t\n  shards: 0\n",
			want: []string{`discord.shards: must be auto or a whole number from 1 to 65536 (got "0"): write shards: auto to use Discord's recommended count (line 9)`},
		},
		{
			name: "discord shards with shard_count",
			yaml: minimalConfig + "discord:\n  enabled: true\n  token: t\n  shards: 4\n  shard_count: 4\n  shard_id: 1\n",
			want: []string{"discord.shards: cannot be combined with shard_id and shard_count: remove those two keys (shards runs every shard) (line 9)"},
		},
		{
			name: "a removed key names the one to use",
			yaml: minimalConfig + "runs:\n  queue_size: 3\n  idle_timeout: 2m\n",
			want: []string{"runs.idle_timeout: is no longer an option: use promptev.idle_timeout instead (line 8)"},
		},
		{
			name: "duplicate section",
			yaml: minimalConfig + "promptev: {timeout: 30s}\n",
			want: []string{"promptev: duplicate key (line 6)"},
		},
		{
			name: "wrong types",
			yaml: "promptev: {project_key: pk, timeout: 30 seconds, max_retries: two}\nroutes: {default: {agent: a}}\napprovals: {timeout: 5}\nstore: [x]\n",
			want: []string{
				`promptev.timeout: expected a duration such as 30s, 5m or 1h30m, got "30 seconds" (line 1)`,
				`promptev.max_retries: expected a whole number, got "two" (line 1)`,
				`approvals.timeout: expected a duration such as 30s, 5m or 1h30m, got "5" (line 3)`,
				"store: expected a mapping, got a list (line 4)",
			},
		},
		{
			name: "secret values are never echoed",
			yaml: "promptev: {project_key: [pk-literal-secret], timeout: '${PK}'}\nroutes: {default: {agent: a}}\n",
			want: []string{
				"promptev.project_key: expected a string, got a list (line 1)",
				"promptev.timeout: expected a duration such as 30s, 5m or 1h30m, got a scalar (line 1)",
			},
		},
		{
			name: "validation of values",
			yaml: "promptev: {project_key: '', base_url: 'ftp://x', auth: 'cookie', max_retries: -1}\nroutes: {default: {agent: ''}}\nhttp: {listen: nonsense}\nstore: {path: ''}\n",
			want: []string{
				"promptev.project_key: is required: write project_key: ${PROMPTEV_PROJECT_KEY} in the promptev section and export PROMPTEV_PROJECT_KEY (line 1)",
				"promptev.base_url: must be an http or https URL such as https://api.promptev.ai (line 1)",
				"promptev.max_retries: must be between 0 and 10, got -1 (line 1)",
				`promptev.auth: must be bearer, header:<Name> or path, got "cookie" (line 1)`,
				"routes.default.agent: is required (the agent used when no channel route matches) (line 2)",
				"store.path: must name the store file (line 4)",
				`http.listen: must be host:port with a port from 0 to 65535 (0 picks a free one), or empty to turn the side port off, got "nonsense" (line 3)`,
			},
		},
		{
			name: "valid minimal config",
			yaml: minimalConfig + "store: {}\nhttp: {listen: ''}\n",
			want: nil,
		},
		{
			name: "malformed key and a base URL with credentials, neither echoed",
			yaml: "promptev: {project_key: 'pk-literal-secret with space', base_url: 'https://user:pk-literal-secret@api.example'}\nroutes: {default: {agent: a}}\n",
			want: []string{
				"promptev.project_key: is malformed: it must be printable ASCII without spaces (check for quotes, newlines or an unexpanded variable) (line 1)",
				"promptev.base_url: must not carry user info (put credentials in project_key or headers) (line 1)",
			},
		},
		{
			name: "values from the environment are redacted from validation messages",
			yaml: minimalConfig + "log: {level: '${PK}'}\n",
			want: []string{`log.level: must be debug, info, warn or error, got "[redacted]" (line 6)`},
		},
		{
			name: "invalid YAML",
			yaml: "promptev: [unclosed\n",
			want: []string{"invalid YAML at line 1: did not find expected ',' or ']' (is a quote or bracket opened here left unclosed, or an item indented wrongly?)"},
		},
		{
			name: "not a mapping",
			yaml: "- a\n- b\n",
			want: []string{"the config must be a mapping of sections (line 1)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := Parse([]byte(tt.yaml), env)
			var got []string
			for _, p := range ps {
				got = append(got, strings.TrimPrefix(p.Error(), ": "))
			}
			assert.ElementsMatch(t, tt.want, got)
			for _, line := range got {
				assert.NotContains(t, line, "pk-from-env-secret")
				assert.NotContains(t, line, "pk-literal-secret")
			}
		})
	}
}

func TestPathAuthNeedsProjectKeyPlaceholder(t *testing.T) {
	_, ps := Parse([]byte(`
promptev:
  project_key: pk
  auth: path
  endpoints: {stream: "/v1/{project_key}/agent/{agent_id}/stream"}
routes: {default: {agent: a}}
`), mapEnv(nil))
	var paths []string
	for _, p := range ps {
		paths = append(paths, p.Path)
	}
	assert.ElementsMatch(t, []string{"promptev.endpoints.trigger", "promptev.endpoints.start"}, paths)
}

// exampleEnv are the variables config.example.yaml references.
var exampleEnv = map[string]string{
	"PROMPTEV_PROJECT_KEY": "pk-example",
	"PROMPTEV_AGENT_ID":    "agent-example",
	"SLACK_BOT_TOKEN":      "xoxb-example",
	"SLACK_APP_TOKEN":      "xapp-example",
	"SLACK_SIGNING_SECRET": "signing-example",
	"DISCORD_BOT_TOKEN":    "discord-example",
}

// TestExampleConfigDocumentsDefaults checks that config.example.yaml passes
// check and that every value it shows is the default.
func TestExampleConfigDocumentsDefaults(t *testing.T) {
	got, ps := Load("../../config.example.yaml", mapEnv(exampleEnv))
	require.Empty(t, ps)

	want := DefaultConfig()
	want.Promptev.ProjectKey = "pk-example"
	want.Promptev.Headers = map[string]string{}
	want.Bridge.Routes.Default.Agent = "agent-example"
	want.Bridge.Routes.Default.Variables = map[string]any{}
	want.Bridge.Routes.Default.AllowUsers = []string{}
	want.Bridge.Routes.Default.AllowChannels = []string{}
	want.Bridge.Routes.Channels = []bridge.Route{}
	want.Bridge.Approvals.Approvers = []string{}
	sl := want.Section(slack.Name).(*slack.Config)
	sl.BotToken, sl.AppToken, sl.SigningSecret = "xoxb-example", "xapp-example", "signing-example"
	dc := want.Section(discord.Name).(*discord.Config)
	dc.Token = "discord-example"
	dc.SlashCommand.GuildIDs = []string{}
	assert.Equal(t, want, got)
}

// TestExampleConfigListsEveryOption checks that every key of every section
// appears in config.example.yaml.
func TestExampleConfigListsEveryOption(t *testing.T) {
	data, err := os.ReadFile("../../config.example.yaml")
	require.NoError(t, err)
	var root yaml.Node
	require.NoError(t, yaml.Unmarshal(data, &root))
	present := map[string]bool{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := childPath(path, n.Content[i].Value)
			present[p] = true
			walk(n.Content[i+1], p)
		}
	}
	walk(root.Content[0], "")

	var missing []string
	var want func(t reflect.Type, path string)
	want = func(t reflect.Type, path string) {
		for name, f := range yamlFields(t) {
			ft := f.typ
			p := childPath(path, name)
			if ft.Kind() == reflect.Pointer {
				continue // optional overrides, shown commented out
			}
			if !present[p] {
				missing = append(missing, p)
			}
			if ft.Kind() == reflect.Struct && ft != durationType {
				want(ft, p)
			}
		}
	}
	want(newDocument().typ, "")
	assert.Empty(t, missing, "options missing from config.example.yaml")
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	cfg, ps := Parse([]byte(`
promptev: {project_key: pk}
routes:
  default: &base {agent: helpdesk, mode: trigger, variables: {team: ops}}
  channels:
    - <<: *base
      platform: slack
      channel: C1
    - <<: *base
      chanel: C2
`), mapEnv(nil))
	require.Len(t, ps, 1)
	assert.Equal(t, "routes.channels[1].chanel", ps[0].Path, "keys beside a merge are still checked")

	cfg, ps = Parse([]byte(`
promptev: {project_key: pk}
routes:
  default: &base {agent: helpdesk, mode: trigger}
  channels:
    - <<: *base
      channel: C1
`), mapEnv(nil))
	require.Empty(t, ps)
	require.Len(t, cfg.Bridge.Routes.Channels, 1)
	assert.Equal(t, "helpdesk", cfg.Bridge.Routes.Channels[0].Agent)
	assert.Equal(t, chat.ModeTrigger, cfg.Bridge.Routes.Channels[0].Mode)
	assert.Equal(t, "C1", cfg.Bridge.Routes.Channels[0].Channel)
}

func TestKnownKey(t *testing.T) {
	for _, k := range []string{
		"promptev", "promptev.project_key", "promptev.endpoints.start", "promptev.headers.X-Team",
		"routes.default.agent", "routes.channels[0].agent", "routes.default.variables.company",
		"approvals.policy", "runs.shutdown_grace", "store.postgres.dsn", "store.path",
		"slack.bot_token", "slack.signing_secret", "discord.token", "discord.slash_command.name",
		"console.enabled", "http.listen", "log.level",
	} {
		assert.True(t, KnownKey(k), k)
	}
	for _, k := range []string{
		"", "promptev.projectkey", "slack.token", "runs.idle_timeout", "http.listen.port",
		"routes.default[0]", "teams.enabled", "log.level.x",
	} {
		assert.False(t, KnownKey(k), k)
	}
}
