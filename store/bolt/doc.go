// Package bolt keeps the bridge's durable state in a single bbolt file:
// conversations and their agent sessions, approvals, in-flight runs and the
// dedupe ledger. It implements chat.Store.
//
// Every value is JSON carrying a schema version ("v"); records written by an
// older schema are upgraded through a registry of per-version migrations, both
// when they are read and, for the whole file, at Open. Every write is a short
// bbolt transaction with no network I/O inside, and commits are fsynced
// (Options.NoSync exists for tests only).
//
// Layout (bucket: key → value):
//
//	meta:          "schema" → JSON map of record kind → schema version
//	conversations: ConversationKey.String() → versioned JSON chat.Conversation
//	approvals:     approval id → versioned JSON chat.Approval
//	approvals_exp: 8-byte big-endian expiry (unix ns) + id → empty; pending approvals only
//	runs:          ConversationKey.String() → versioned JSON chat.InFlightRun
//	dedupe:        dedupe key → 8-byte big-endian expiry (unix ns)
//	dedupe_exp:    8-byte big-endian expiry + dedupe key → empty
//
// The two *_exp buckets are expiry indexes, so listing expired approvals and
// sweeping the dedupe ledger touch only what has expired.
package bolt
