// Package console is a terminal adapter for the bridge: lines read from an
// io.Reader become messages of one conversation, and the bridge's rendered
// messages (placeholder, live status, approval cards, final answer) are
// written to an io.Writer.
//
// On a terminal (Options.TTY) the blocks printed since anything else was
// written (the live region) are redrawn in place with ANSI escapes, so a
// placeholder edited after its approval card leaves no stale line; other
// writers of the same terminal (the logs) go through Interleave and are never
// drawn over; with Prompt, "> " stays below the output. Otherwise only
// changes are printed, one plain line each, which is what logs and tests
// want.
//
// While an approval is pending, typing y, yes, approve, n, no or deny
// answers the oldest card (the console says which): that is the console's
// equivalent of the Approve / Deny buttons, and the only platform where typed
// text decides an approval. Any other line waits until the card is answered,
// and a lone y or n with no card waiting is not sent to the agent.
//
// It backs `promptev-bridge demo` and `promptev-bridge chat`, and the console
// section of `run`.
package console
