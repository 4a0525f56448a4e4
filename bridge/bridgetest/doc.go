// Package bridgetest provides test doubles for package bridge: Platform, an
// in-memory chat platform that behaves like a real one (message length limits,
// server-side rate limits answered with 429, injected latency, 429s and
// failures, every write recorded with its time); MemStore, an in-memory
// chat.Store with the exact Store semantics; RunPlatformConformance, the
// suite every adapter runs against its own fake server; and
// RunStoreConformance, the suite every store backend runs.
//
// Tests of package bridge itself that need these doubles live in the external
// test package bridge_test (package bridge cannot import bridgetest in its own
// tests: that would be an import cycle).
package bridgetest
