package discord

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/bwmarrin/discordgo"
)

// commandOption is the name of the slash command's question option.
const commandOption = "question"

// InvitePermissions are the permissions the bot needs: view channels, read
// history, send messages, create public threads and send messages in threads.
const InvitePermissions = discordgo.PermissionViewChannel | discordgo.PermissionReadMessageHistory |
	discordgo.PermissionSendMessages | discordgo.PermissionCreatePublicThreads |
	discordgo.PermissionSendMessagesInThreads

// InviteURL returns the OAuth2 URL that adds the bot (with the
// applications.commands scope for /ask) to a server with InvitePermissions.
func InviteURL(appID string) string {
	q := url.Values{}
	q.Set("client_id", appID)
	q.Set("scope", "bot applications.commands")
	q.Set("permissions", strconv.FormatInt(InvitePermissions, 10))
	return "https://discord.com/oauth2/authorize?" + q.Encode()
}

// askCommand is the slash command definition for guild (or, with guild "",
// global) registration. Only a global command carries contexts (usable in
// servers and in DMs with the bot): Discord documents the field for global
// commands only.
func (a *Adapter) askCommand(guild string) *discordgo.ApplicationCommand {
	var contexts *[]discordgo.InteractionContextType
	if guild == "" {
		contexts = &[]discordgo.InteractionContextType{discordgo.InteractionContextGuild, discordgo.InteractionContextBotDM}
	}
	return &discordgo.ApplicationCommand{
		Name:        a.cfg.SlashCommand.Name,
		Description: "Ask the Promptev agent a question",
		Contexts:    contexts,
		Options: []*discordgo.ApplicationCommandOption{{
			Type:        discordgo.ApplicationCommandOptionString,
			Name:        commandOption,
			Description: "What do you want to ask?",
			Required:    true,
			MaxLength:   4000,
		}},
	}
}

// registerCommands creates (or updates, by name) the slash command in each
// configured guild, or globally when none is configured. Other commands of
// the application are left alone.
func (a *Adapter) registerCommands(ctx context.Context, appID string) error {
	guilds := a.cfg.SlashCommand.GuildIDs
	if len(guilds) == 0 {
		guilds = []string{""}
	}
	for _, g := range guilds {
		if _, err := a.sess.ApplicationCommandCreate(appID, g, a.askCommand(g), reqOpts(ctx)...); err != nil {
			where := "globally"
			if g != "" {
				where = "in guild " + g
			}
			return fmt.Errorf("discord: register /%s %s: %w", a.cfg.SlashCommand.Name, where, mapErr(err))
		}
	}
	return nil
}
