package config

import (
	"github.com/promptev/promptev-bridge/adapters/console"
	"github.com/promptev/promptev-bridge/adapters/discord"
	"github.com/promptev/promptev-bridge/adapters/slack"
	"github.com/promptev/promptev-bridge/chat"
)

// Platforms is the one list of chat platforms. Everything that knows of
// platforms reads it: the configuration's sections (defaults, validation,
// ${ENV} leniency of disabled sections, secret redaction), the route
// validation, and the run, check and chat commands. Adding a platform is a
// package that exports a chat.Registration, and one line here.
func Platforms() []chat.Registration {
	return []chat.Registration{
		slack.Registration,
		discord.Registration,
		console.Registration,
	}
}
