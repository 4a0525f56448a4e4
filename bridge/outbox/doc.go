// Package outbox is the rate-aware sender of one chat platform: it posts new
// messages and edits live ones within the platform's budgets (chat.Limits).
//
// Every write waits for a token of the budget of its scope (a workspace, a
// channel, or a thread when Limits.ThreadScope makes threads their own
// scope) and, when Limits.GlobalRate is set, of the bot-wide budget; posts, final edits and approval cards (PrioHigh) go before live
// status edits (PrioNormal), which go before tidy edits (PrioLow); the
// bot-wide budget serves the writes of all scopes by class, then in arrival
// order. A live
// message (LiveMessage) holds at most one pending state: the latest wins and
// older states are dropped, never queued. Live messages of different
// conversations share an edit budget fairly (round robin). A 429 pauses the
// budget it hit for its Retry-After; a bot-wide 429 (RateLimitError.Global)
// pauses them all. The minimum interval between edits of one message holds
// back live status edits only: a final goes as soon as the budget allows. A final state never waits longer than
// Options.FinalDeadline for edit budget: it is then posted as new replies and
// the live message is tidied later.
//
// With Options.Shared (a store shared by several replicas), every budget is
// also one bucket in the store: a write is granted only once the store has
// drawn its tokens, and a 429 pauses the bucket for every replica.
//
// The scheduling rules are described once, in docs/ARCHITECTURE.md.
package outbox
