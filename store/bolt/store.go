package bolt

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var _ chat.Store = (*Store)(nil)

// DefaultLockTimeout is how long Open waits for the file lock when
// Options.Timeout is zero.
const DefaultLockTimeout = 2 * time.Second

// DefaultBatchLimit bounds ListExpiredApprovals and SweepDedupe when they are
// called with a limit of zero or less (chat.DefaultBatchLimit).
const DefaultBatchLimit = chat.DefaultBatchLimit

// batchDelay is how long db.Batch waits to gather concurrent writes into one
// fsynced transaction. bbolt's default (10 ms) adds 10 ms to every batched
// write; 2 ms measured best between 0.5 and 10 ms (see docs/bench/store.md).
const batchDelay = 2 * time.Millisecond

// quietPeriod is how long after the last batched write a lone write still
// joins a batch: writers leaving a batch together must not each commit alone.
const quietPeriod = 10 * time.Millisecond

// Errors returned by Open and by the methods of a Store. They are wrapped with
// detail (the file name, the record), so test them with errors.Is.
var (
	// ErrLocked means another process (or another Store in this process)
	// holds the file.
	ErrLocked = errors.New("store: database file is locked")
	// ErrCorrupt means the file is not a bbolt database, is truncated, or
	// failed its consistency check.
	ErrCorrupt = errors.New("store: database file is corrupt or not a promptev-bridge database")
	// ErrClosed is returned by methods called after Close; it is
	// chat.ErrClosed, as for every backend.
	ErrClosed = chat.ErrClosed
	// ErrReadOnly is returned by writes on a Store opened with OpenReadOnly.
	ErrReadOnly = errors.New("store: opened read-only")
	// ErrNewerSchema means the file was written by a newer promptev-bridge
	// whose records this build cannot read.
	ErrNewerSchema = errors.New("store: database written by a newer schema")
)

// Options tune Open.
type Options struct {
	// Timeout is how long Open waits for the file lock held by another
	// process; zero means DefaultLockTimeout. It never waits forever.
	Timeout time.Duration
	// NoSync skips fsync on commit. Tests only: a crash can lose or corrupt data.
	NoSync bool
	// Logger receives the store's few log lines (open, migrations, close),
	// as given: the caller adds attributes such as component=store. Nil
	// discards them.
	Logger *slog.Logger
	// SkipCheck skips the consistency check (bbolt tx.Check) that Open runs
	// over the whole file. The check turns a corrupt file into a clear error
	// at start-up rather than a panic later; skip it only for very large files
	// whose start-up time matters more.
	SkipCheck bool
}

// Store is the bbolt-backed chat.Store. It is safe for concurrent use.
type Store struct {
	db       *bbolt.DB
	path     string
	log      *slog.Logger
	schema   schema
	readOnly bool

	// writers counts goroutines inside write (SeenOrMark, PutConversation,
	// DeleteConversation) and lastBatch is when a batched write last
	// finished (unix ns): a lone writer commits at once, concurrent writers
	// share batched commits.
	writers   atomic.Int64
	lastBatch atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the store file at path for reading and
// writing. If another process holds the file, Open fails within
// opts.Timeout with an error wrapping ErrLocked that names the file. A file
// that is not a bbolt database, is truncated or fails its consistency check
// gives an error wrapping ErrCorrupt.
func Open(path string, opts Options) (*Store, error) {
	return open(path, opts, false, defaultSchema())
}

// OpenReadOnly opens an existing store file for inspection (the
// `store stats` command). It takes a shared lock, so it fails with ErrLocked
// while a running bridge holds the file. Writes return ErrReadOnly.
func OpenReadOnly(path string, opts Options) (*Store, error) {
	return open(path, opts, true, defaultSchema())
}

func open(path string, opts Options, readOnly bool, sch schema) (s *Store, err error) {
	if path == "" {
		return nil, errors.New("store: open: empty path")
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if readOnly {
		if _, statErr := os.Stat(path); statErr != nil {
			return nil, fmt.Errorf("store: open %s: %w", path, statErr)
		}
	}
	if err := checkLength(path); err != nil {
		return nil, err
	}

	// bbolt panics on some malformed files; report them as corrupt instead.
	defer func() {
		if p := recover(); p != nil {
			s = nil
			err = fmt.Errorf("%w: open %s: %v", ErrCorrupt, path, p)
		}
	}()

	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:  timeout,
		NoSync:   opts.NoSync,
		ReadOnly: readOnly,
	})
	if err != nil {
		return nil, openError(path, timeout, err)
	}
	db.MaxBatchDelay = batchDelay

	s = &Store{db: db, path: path, log: log, schema: sch, readOnly: readOnly}
	if err := s.verify(!opts.SkipCheck); err != nil {
		_ = db.Close()
		return nil, err
	}
	if !readOnly {
		if err := s.init(); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	log.Debug("store opened", "path", path, "read_only", readOnly)
	return s, nil
}

// openError turns bbolt's open errors into ones an operator can act on.
func openError(path string, timeout time.Duration, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("%w: %s: another promptev-bridge process holds this file (waited %s for the lock)",
			ErrLocked, path, timeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum):
		return fmt.Errorf("%w: %s: not a bbolt database or its header is damaged: %w", ErrCorrupt, path, err)
	case errors.Is(err, berrors.ErrVersionMismatch):
		return fmt.Errorf("%w: %s: bbolt file format version mismatch: %w", ErrCorrupt, path, err)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("store: cannot create %s: the directory %s does not exist (%w): create the directory or point store.path into an existing one",
			filepath.Base(path), filepath.Dir(path), fs.ErrNotExist)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("store: cannot open %s (%w): give the user running the bridge write access to it and its directory, or change store.path",
			path, fs.ErrPermission)
	default:
		// bbolt reports short files as "file size too small" without a sentinel.
		return fmt.Errorf("%w: open %s: %w", ErrCorrupt, path, err)
	}
}

// verify checks that the file is complete and, when full is set, runs bbolt's
// consistency check over every page.
func (s *Store) verify(full bool) error {
	info, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("store: open %s: %w", s.path, err)
	}
	return s.view(func(tx *bbolt.Tx) error {
		if tx.Size() > info.Size() {
			return fmt.Errorf("%w: %s is truncated: %d bytes, its header needs %d",
				ErrCorrupt, s.path, info.Size(), tx.Size())
		}
		if err := s.checkBuckets(tx); err != nil {
			return err
		}
		if !full {
			return nil
		}
		var problems []error
		for e := range tx.Check() {
			if len(problems) < 5 {
				problems = append(problems, e)
			}
		}
		if len(problems) > 0 {
			return fmt.Errorf("%w: %s failed its consistency check: %w", ErrCorrupt, s.path, errors.Join(problems...))
		}
		return nil
	})
}

// checkBuckets refuses bbolt files that belong to another program, and, for a
// read-only store, files the bridge has not initialised.
func (s *Store) checkBuckets(tx *bbolt.Tx) error {
	var names []string
	if err := tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
		names = append(names, string(name))
		return nil
	}); err != nil {
		return err
	}
	if bucketMeta.in(tx) == nil && len(names) > 0 {
		return fmt.Errorf("%w: %s is a bbolt database of another program (buckets %s)",
			ErrCorrupt, s.path, strings.Join(names, ", "))
	}
	if s.readOnly {
		for _, name := range allBuckets() {
			if name.in(tx) == nil && name != bucketFeedback { // files from before feedback lack it
				return fmt.Errorf("%w: %s has no %s bucket: not an initialised promptev-bridge database",
					ErrCorrupt, s.path, name)
			}
		}
	}
	return nil
}

// Path returns the file the store was opened on.
func (s *Store) Path() string { return s.path }

// Close closes the file. It is idempotent: later calls return nil.
func (s *Store) Close() error {
	first := false
	s.closeOnce.Do(func() {
		first = true
		s.closeErr = s.db.Close()
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("store: close %s: %w", s.path, s.closeErr)
		}
		s.log.Debug("store closed", "path", s.path)
	})
	if !first {
		return nil
	}
	return s.closeErr
}

// view runs fn in a read transaction, turning bbolt panics and errors into
// store errors.
func (s *Store) view(fn func(*bbolt.Tx) error) (err error) {
	defer s.recoverPanic(&err)
	return s.txError(s.db.View(fn))
}

// update runs fn in its own write transaction.
func (s *Store) update(fn func(*bbolt.Tx) error) (err error) {
	if s.readOnly {
		return ErrReadOnly
	}
	defer s.recoverPanic(&err)
	return s.txError(s.db.Update(fn))
}

// write runs fn in a write transaction. A lone write, with no other write in
// progress or batched recently, commits at once; otherwise it joins a shared,
// batched commit (bbolt's Batch), so concurrent writers share fsyncs. fn may
// run more than once and must be idempotent.
func (s *Store) write(fn func(*bbolt.Tx) error) (err error) {
	if s.readOnly {
		return ErrReadOnly
	}
	defer s.recoverPanic(&err)
	n := s.writers.Add(1)
	defer s.writers.Add(-1)
	if n == 1 && time.Since(time.Unix(0, s.lastBatch.Load())) > quietPeriod {
		return s.txError(s.db.Update(fn))
	}
	defer s.lastBatch.Store(time.Now().UnixNano())
	return s.txError(s.db.Batch(fn))
}

func (s *Store) recoverPanic(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("%w: %s: %v", ErrCorrupt, s.path, p)
	}
}

func (s *Store) txError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrDatabaseNotOpen), errors.Is(err, berrors.ErrTxClosed):
		return ErrClosed
	case errors.Is(err, berrors.ErrDatabaseReadOnly):
		return ErrReadOnly
	default:
		return err
	}
}
