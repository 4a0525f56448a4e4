package discord

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/bwmarrin/discordgo"
)

// CheckOnline calls GET /users/@me with the bot token and describes the bot,
// with the invite URL of its application; `check --online` shows it. An
// error says what the answer means and how to fix it. The token never
// appears.
func (a *Adapter) CheckOnline(ctx context.Context) (string, error) {
	u, err := a.sess.User("@me", discordgo.WithContext(ctx))
	if err != nil {
		var re *discordgo.RESTError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode == http.StatusUnauthorized {
			return "", fmt.Errorf("GET /users/@me: 401 Unauthorized: discord.token (DISCORD_BOT_TOKEN) is not a valid bot token: " +
				"copy it from the Developer Portal, your application's Bot page (Reset Token)")
		}
		return "", fmt.Errorf("GET /users/@me: %w: check discord.api_url and that this machine reaches Discord", err)
	}
	if !u.Bot {
		return "", fmt.Errorf("GET /users/@me: %s is not a bot user: discord.token must be the token of the application's Bot page", u.Username)
	}
	appID := a.cfg.ApplicationID
	if appID == "" {
		appID = u.ID // a bot user's id is its application's id
	}
	return fmt.Sprintf("GET /users/@me: bot %s (%s); invite it with %s", u.Username, u.ID, InviteURL(appID)), nil
}
