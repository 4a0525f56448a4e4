// Package bridge is the platform-neutral engine of promptev-bridge.
//
// It turns inbound chat messages into Promptev agent runs and renders each
// run's event stream back into the conversation: a placeholder posted at once,
// coalesced live edits of tool status, approval cards with buttons, and the
// final answer split to the platform's limits.
//
// A button press (chat.Action) goes to the handler registered for its kind
// in New; approvals register approve and deny, and a kind without a handler
// gets a notice. Every run has a random id and a cancel handle that the
// engine reaches by run id or by conversation while its agent turn is under
// way: cancelling closes the agent stream and the run ends with a notice.
//
// The ports it works through (chat.Platform, chat.Store, chat.Handler) and the
// words they speak live in package chat; the rate-aware sender is package
// bridge/outbox. The engine declares only what is its own: Agent (the
// Promptev API, implemented by ClientAgent over *promptev.Client) and Metrics.
// It imports no adapter and no store package, and names no platform.
package bridge
