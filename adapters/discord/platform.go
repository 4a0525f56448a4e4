package discord

import "github.com/promptev/promptev-bridge/chat"

// Name is the platform's name: the config section's key and the Platform of
// every Discord conversation key.
const Name = "discord"

// Registration is Discord's entry in the list of platforms.
var Registration = chat.Registration{
	Name:       Name,
	NewSection: func() chat.Section { c := DefaultConfig(); return &c },
	New: func(s chat.Section, h chat.Host) (chat.Adapter, error) {
		return New(*s.(*Config), h.Logger)
	},
	Summary: func(s chat.Section) []string {
		if c := s.(*Config); c.ApplicationID != "" {
			return []string{"discord invite URL: " + InviteURL(c.ApplicationID)}
		}
		return nil
	},
}

// IsEnabled implements chat.Section.
func (c Config) IsEnabled() bool { return c.Enabled }

// mentions is Discord's mention syntax: <@id>, <@!id>, <@&id> and the bare
// words @everyone and @here.
var mentions = chat.MentionSyntax{
	Escapes:   []string{"<@"},
	MassWords: []string{"everyone", "here"},
}

// neutralizeMentions makes text unable to ping anyone on Discord.
func neutralizeMentions(text string) string { return mentions.NeutralizeMentions(text) }

// NeutralizeMentions implements chat.MentionGuard.
func (a *Adapter) NeutralizeMentions(text string) string { return neutralizeMentions(text) }

var (
	_ chat.MentionGuard = (*Adapter)(nil)
	_ chat.Section      = (*Config)(nil)
)
