// Package discord is the Discord adapter of promptev-bridge.
//
// It connects to the Discord gateway with discordgo (intents Guilds,
// GuildMessages, DirectMessages and the privileged MessageContent), turns
// mentions, thread follow-ups, DMs and the /ask slash command into
// chat.InboundMessage values, and renders chat.Message values as message
// content with Approve / Deny buttons. A mention in a text channel gets a
// thread of its own, created lazily on the first reply.
//
// The adapter only translates: throttling, splitting, approvals and dedupe
// live in package bridge. REST calls never retry or sleep on a 429; they
// return *chat.RateLimitError so the bridge's editor can pause the right
// budget. Fatal gateway close codes (bad token, disallowed intents, invalid
// shard) stop Run with a *GatewayCloseError; other disconnects resume.
//
// Tests drive the real discordgo client against the loopback fake in
// package discordfake.
package discord
