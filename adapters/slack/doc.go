// Package slack connects promptev-bridge to Slack.
//
// The Adapter receives events over Socket Mode (the default, with an
// app-level token) or the HTTP Events API (signed requests on a local
// listener), translates app mentions, direct messages and thread replies into
// chat.InboundMessage values and approval button clicks into chat.Action
// values, and renders chat.Message values as Block Kit messages through the
// Web API (chat.postMessage, chat.update, chat.postEphemeral).
//
// The adapter only translates. Dedupe, throttling, splitting and the approval
// state machine live in package bridge; Limits tells the bridge Slack's
// message sizes and rate budgets, and a 429 from Slack is returned as a
// *chat.RateLimitError without retrying.
//
// Package slackfake is a loopback fake of the Slack Web API and Socket Mode
// for tests.
package slack
