package chat

import (
	"errors"
	"time"
)

// ErrClosed is returned by the methods of a Store called after it was closed.
var ErrClosed = errors.New("store: closed")

// DefaultBatchLimit is the batch ListExpiredApprovals and SweepDedupe use
// when they are called with a limit of zero or less.
const DefaultBatchLimit = 1000

// StoreStats describes what a store holds, for operators: the `store stats`
// command, the side port's /debug/store page and the store gauges. It holds
// counts, times and conversation keys only, never a session token or a
// message text, and reads the same for every backend.
type StoreStats struct {
	// Backend names the store backend ("bbolt").
	Backend string
	// LocationKind says what Location names, as the text form labels it:
	// "file" for a store file, "database" for a database server.
	LocationKind string
	// Location is where the records live: the file's path, or the
	// database's name (never a password).
	Location string
	// SizeBytes is the storage the records take: the file's size.
	SizeBytes int64
	// At is when the statistics were taken.
	At time.Time
	// Conversations is the number of conversation records.
	Conversations int
	// Approvals is the number of approval records, decided or not.
	Approvals int
	// PendingApprovals is the number of approvals still awaiting a decision.
	PendingApprovals int
	// NextApprovalExpiry is the earliest expiry among pending approvals
	// (zero when none is pending).
	NextApprovalExpiry time.Time
	// Runs is the number of in-flight runs.
	Runs int
	// OldestRun is the in-flight run that started first (the first in
	// ListRuns order), nil when none.
	OldestRun *InFlightRun
	// RunRecords is the number of run records (a run's Stop and Retry
	// state), running or ended and not yet swept.
	RunRecords int
	// Grants is the number of conversation grants ("Approve all <tool> here").
	Grants int
	// Installations is the number of app installations (OAuth installs);
	// BrokenInstallations how many of them the platform refused. Their
	// tokens are never part of the statistics.
	Installations       int
	BrokenInstallations int
	// DedupeEntries is the number of marks in the dedupe ledger, expired or not.
	DedupeEntries int
	// DedupeExpired is how many of them had expired at At (awaiting a sweep).
	DedupeExpired int
	// Schema maps each record kind to its schema version, when the backend
	// versions its records.
	Schema map[string]int
}
