// Package slackfake is a fake Slack for tests: a loopback HTTP server that
// speaks enough of the Web API and Socket Mode for slack-go's real client.
//
// It serves auth.test, apps.connections.open (returning a ws:// URL to its
// own Socket Mode endpoint), chat.postMessage, chat.update, chat.delete,
// chat.postEphemeral and assistant.threads.setStatus. Every call is recorded
// with its parsed fields (channel, ts, thread_ts, text, blocks JSON); posted
// messages get increasing unique ts values and keep their latest content, so
// tests can read a thread as a user would see it. Messages are checked
// against Slack's limits (text over 4,000 characters is msg_too_long, too
// many or too large blocks are invalid_blocks), chat.update can be made to
// answer 429 with Retry-After, and WithRateLimits enforces Slack's
// documented post and update limits. Block ids an update sends again are
// counted (Message.ReusedBlockIDs).
//
// The Socket Mode endpoint sends hello, then envelopes built with the Event
// and Click helpers (a bare mention, an edit in Slack's message_changed
// shape), sends WebSocket pings, and records acks and pongs. Envelopes are
// spread across the open connections in turn; Silence makes one half-open
// (open, but nothing gets through either way), and Deliver redelivers an
// unacknowledged envelope with retry_attempt and retry_reason on another
// connection, as Slack does. Clients' WebSocket pings are answered with
// pongs (and counted), and WithTLSSocket serves Socket Mode over wss://. For
// HTTP mode, PostEvent and PostClick sign bodies with the signing secret
// (or deliberately not) and POST them to an adapter's listener.
//
// For apps distributed with OAuth it serves the authorize page
// (/oauth/v2/authorize, answered as the installer chose with SetConsent:
// a redirect with code and state, or error=access_denied) and
// oauth.v2.access in Slack's documented shape (team null and
// is_enterprise_install for an org-wide install). Each install gets its own
// bot token and bot user; calls record the team of their token
// (Call.Team). Workspaces are declared with AddWorkspace, alone or in an
// Enterprise Grid org; MentionIn addresses the installation serving a
// workspace (with enterprise_id and authorizations as Slack sends them);
// AppUninstalled and TokensRevoked build the lifecycle events and make the
// token answer account_inactive or token_revoked, and Revoke makes it
// answer any code (invalid_auth).
//
// Use it as:
//
//	fake := slackfake.New(t)
//	cfg.APIURL, cfg.BotToken, cfg.AppToken = fake.APIURL(), slackfake.BotToken, slackfake.AppToken
//	... start the adapter ...
//	ev := fake.Mention("C1", "U1", "hello")
//	env, _ := fake.SendEvent(ev, 0)
//	fake.Await(t, "ack", func() bool { return fake.Acked(env) })
package slackfake
