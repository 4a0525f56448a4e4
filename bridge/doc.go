// Package bridge is the platform-neutral engine of promptev-bridge.
//
// It turns inbound chat messages into Promptev agent runs and renders each
// run's event stream back into the conversation: a placeholder posted at once,
// coalesced live edits of tool status, approval cards with buttons, and the
// final answer split to the platform's limits.
//
// The package declares the small interfaces it consumes: Platform (a chat
// service, implemented in adapters/...), Agent (the Promptev API, implemented
// by ClientAgent over *promptev.Client) and Store (durable state, implemented
// by package store on bbolt). It imports no adapter and no store package.
package bridge
