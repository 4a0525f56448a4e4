// Package console is a terminal adapter for the bridge: lines read from an
// io.Reader become messages of one conversation, and the bridge's rendered
// messages (placeholder, live status, approval cards, final answer) are
// written to an io.Writer.
//
// On a terminal (Options.TTY) the live status is rewritten in place with ANSI
// escapes; otherwise only changes are printed, one plain line each, which is
// what logs and tests want. While an approval is pending, typing y, yes,
// approve, n, no or deny answers it: that is the console's equivalent of the
// Approve / Deny buttons, and the only platform where typed text decides an
// approval.
//
// It backs `promptev-bridge demo` and `promptev-bridge chat`.
package console
