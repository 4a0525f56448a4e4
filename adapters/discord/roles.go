package discord

import (
	"encoding/json"
	"strings"

	"github.com/bwmarrin/discordgo"
)

// roleJSON is the part of a role object the adapter reads. discordgo's Role
// has no tags: the bot's managed role is the one whose tags.bot_id is the
// bot's user id (https://discord.com/developers/docs/topics/permissions#role-object-role-tags-structure).
type roleJSON struct {
	ID   string `json:"id"`
	Tags *struct {
		BotID string `json:"bot_id"`
	} `json:"tags"`
}

// onRawEvent reads what discordgo's typed events drop: the bot's managed
// role of each guild from GUILD_CREATE and GUILD_ROLE_CREATE/UPDATE (the
// role tags). READY's resume_gateway_url is the shard's (shard.onReadyRaw).
func (a *Adapter) onRawEvent(e *discordgo.Event) {
	switch e.Type {
	case "GUILD_CREATE":
		var g struct {
			ID    string     `json:"id"`
			Roles []roleJSON `json:"roles"`
		}
		if json.Unmarshal(e.RawData, &g) == nil {
			for _, r := range g.Roles {
				a.learnRole(g.ID, r)
			}
		}
	case "GUILD_ROLE_CREATE", "GUILD_ROLE_UPDATE":
		var ev struct {
			GuildID string   `json:"guild_id"`
			Role    roleJSON `json:"role"`
		}
		if json.Unmarshal(e.RawData, &ev) == nil {
			a.learnRole(ev.GuildID, ev.Role)
		}
	}
}

// learnRole records r as the bot's role in guild when its tags say so.
func (a *Adapter) learnRole(guild string, r roleJSON) {
	botID := a.BotUserID()
	if guild == "" || r.ID == "" || botID == "" || r.Tags == nil || r.Tags.BotID != botID {
		return
	}
	a.roles.Put(guild, r.ID)
}

// botRole returns the bot's managed role in guild, or "".
func (a *Adapter) botRole(guild string) string {
	if guild == "" {
		return ""
	}
	id, _ := a.roles.Get(guild)
	return id
}

// mentionsRole reports whether the message mentions roleID.
func mentionsRole(m *discordgo.Message, roleID string) bool {
	if roleID == "" {
		return false
	}
	for _, r := range m.MentionRoles {
		if r == roleID {
			return true
		}
	}
	return strings.Contains(m.Content, "<@&"+roleID+">")
}
