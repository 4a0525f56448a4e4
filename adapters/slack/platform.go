package slack

import "github.com/promptev/promptev-bridge/chat"

// Name is the platform's name: the config section's key and the Platform of
// every Slack conversation key.
const Name = "slack"

// Registration is Slack's entry in the list of platforms.
var Registration = chat.Registration{
	Name:       Name,
	NewSection: func() chat.Section { c := DefaultConfig(); return &c },
	New: func(s chat.Section, h chat.Host) (chat.Adapter, error) {
		return New(*s.(*Config), h.Logger)
	},
	Summary: func(s chat.Section) []string {
		c := s.(*Config)
		if c.OAuth == nil {
			return nil
		}
		o := c.OAuth.withDefaults()
		return []string{
			"slack oauth: installs start at " + o.InstallPath + " on " + c.withDefaults().Listen +
				" (publish it at the public HTTPS host of " + o.RedirectURL + ")",
			"slack oauth: redirect URL to list in the app's OAuth & Permissions page: " + o.RedirectURL,
		}
	},
}

// IsEnabled implements chat.Section.
func (c Config) IsEnabled() bool { return c.Enabled }

// mentions is Slack's mention syntax: the escapes <!channel>, <!here>,
// <!everyone>, <!subteam^ID> and <@U123>, and the bare words @channel,
// @here and @everyone (pinging with link_names).
var mentions = chat.MentionSyntax{
	Escapes:   []string{"<!", "<@"},
	MassWords: []string{"channel", "here", "everyone"},
}

// neutralizeMentions makes text unable to ping anyone on Slack.
func neutralizeMentions(text string) string { return mentions.NeutralizeMentions(text) }

// NeutralizeMentions implements chat.MentionGuard.
func (a *Adapter) NeutralizeMentions(text string) string { return neutralizeMentions(text) }

// VisitorID implements chat.VisitorNamer: user ids are unique per workspace
// only, so the visitor is "slack:TEAM:USER".
func (a *Adapter) VisitorID(key chat.ConversationKey, u chat.User) string {
	return key.Platform + ":" + key.Workspace + ":" + u.ID
}

var (
	_ chat.MentionGuard = (*Adapter)(nil)
	_ chat.VisitorNamer = (*Adapter)(nil)
	_ chat.Section      = (*Config)(nil)
)
