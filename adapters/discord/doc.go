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
// The gateway runs one session per shard (shard.go): the shard of
// shard_id/shard_count, or every shard of `shards` (shards.go). Replicas
// that share a store with leases split the shards between them, one
// replica per shard at a time (claim.go), and identify in turn
// (identify.go).
//
// Tests drive the real discordgo client against the loopback fake in
// package discordfake.
package discord
