// Package postgres keeps the bridge's durable state in PostgreSQL, so that
// several bridge processes can share it. It implements chat.Store with the
// same semantics as the bbolt store (store/bolt); the store conformance suite
// (bridgetest.RunStoreConformance) holds both to them.
//
// Each record is stored whole as JSON, in the encoding the bbolt store uses,
// beside the columns that queries filter and sort on (an approval's state and
// expiry, a dedupe mark's expiry). Times in those columns are Unix
// nanoseconds, so they compare exactly as the bbolt store's do.
//
// Concurrency is PostgreSQL's: a decision is a conditional UPDATE … RETURNING
// on a pending row (exactly one caller wins); a dedupe mark is an INSERT … ON
// CONFLICT that only re-marks an expired key (exactly one of concurrent callers
// sees a key unmarked); sweeps delete with FOR UPDATE SKIP LOCKED, so several
// processes can sweep at once without doing the same work.
//
// The schema is created and upgraded by embedded, numbered SQL migrations,
// applied at Open under an advisory lock (processes starting together do not
// race) and by Migrate.
package postgres
