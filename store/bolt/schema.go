package bolt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"go.etcd.io/bbolt"
)

// Record kinds; each names the bucket holding its records.
const (
	kindConversations = "conversations"
	kindApprovals     = "approvals"
	kindRuns          = "runs"
	kindDedupe        = "dedupe"
	kindRunRecords    = "run_records"
	kindGrants        = "grants"
	kindFeedback      = "feedback"
	kindInstallations = "installations"
)

// bucketName names a bbolt bucket.
type bucketName string

// Buckets.
const (
	bucketMeta          bucketName = "meta"
	bucketConversations bucketName = kindConversations
	bucketApprovals     bucketName = kindApprovals
	bucketApprovalsExp  bucketName = "approvals_exp"
	bucketRuns          bucketName = kindRuns
	bucketDedupe        bucketName = kindDedupe
	bucketDedupeExp     bucketName = "dedupe_exp"
	bucketRunRecords    bucketName = kindRunRecords
	bucketGrants        bucketName = kindGrants
	bucketFeedback      bucketName = kindFeedback
	bucketInstallations bucketName = kindInstallations
)

// allBuckets lists every bucket of a store file.
func allBuckets() []bucketName {
	return []bucketName{
		bucketMeta, bucketConversations, bucketApprovals, bucketApprovalsExp,
		bucketRuns, bucketDedupe, bucketDedupeExp, bucketRunRecords,
		bucketGrants, bucketFeedback, bucketInstallations,
	}
}

// laterBucket reports whether name was added after the first release: a
// file a newer bridge has not opened yet lacks it, and read-only readers
// treat it as empty.
func laterBucket(name bucketName) bool {
	return name == bucketRunRecords || name == bucketGrants || name == bucketFeedback ||
		name == bucketInstallations
}

// in returns the bucket in tx (nil when the file lacks it).
func (n bucketName) in(tx *bbolt.Tx) *bbolt.Bucket { return tx.Bucket([]byte(n)) }

// metaSchemaKey is the meta bucket's key of the schema versions.
const metaSchemaKey = "schema"

// migrationBatch is how many records one migration transaction rewrites.
const migrationBatch = 1000

// migration upgrades one raw JSON record from schema version N to N+1. It
// must not keep raw (it is only valid inside the transaction) and returns a
// new slice; the "v" field of its output is rewritten by the store.
type migration func(raw []byte) ([]byte, error)

// schema is the record format this build writes: the current version of each
// kind and the migrations that reach it.
type schema struct {
	// current maps a kind to the version this build writes.
	current map[string]int
	// up maps a kind to the migration from version N (the key) to N+1.
	up map[string]map[int]migration
}

// defaultSchema is the format of this build. To change a record's format,
// bump its version here and register the migration from the old version.
func defaultSchema() schema {
	return schema{
		current: map[string]int{
			kindConversations: 1,
			kindApprovals:     1,
			kindRuns:          1,
			kindDedupe:        1,
			kindRunRecords:    1,
			kindGrants:        1,
			kindFeedback:      1,
			kindInstallations: 1,
		},
		up: map[string]map[int]migration{},
	}
}

// version returns the version this build writes for kind.
func (sc schema) version(kind string) int { return sc.current[kind] }

// upgrade brings raw from version v to the current version of kind.
func (sc schema) upgrade(kind string, v int, raw []byte) ([]byte, error) {
	cur := sc.current[kind]
	if v > cur {
		return nil, fmt.Errorf("%w: %s record has version %d, this build reads up to %d",
			ErrNewerSchema, kind, v, cur)
	}
	for ; v < cur; v++ {
		m := sc.up[kind][v]
		if m == nil {
			return nil, fmt.Errorf("store: no migration for %s records from version %d", kind, v)
		}
		next, err := m(raw)
		if err != nil {
			return nil, fmt.Errorf("store: migrate %s record from version %d: %w", kind, v, err)
		}
		raw = next
	}
	return raw, nil
}

// withVersion returns the JSON object obj with "v":v spliced in as its first field.
// obj must not already have a top-level "v" (the bridge records do not).
func withVersion(obj []byte, v int) ([]byte, error) {
	obj = bytes.TrimSpace(obj)
	if len(obj) < 2 || obj[0] != '{' {
		return nil, errors.New("record is not a JSON object")
	}
	out := make([]byte, 0, len(obj)+12)
	out = append(out, `{"v":`...)
	out = strconv.AppendInt(out, int64(v), 10)
	if len(bytes.TrimSpace(obj[1:len(obj)-1])) > 0 { // not "{}"
		out = append(out, ',')
	}
	return append(out, obj[1:]...), nil
}

// rewriteVersion is withVersion for objects that may carry an old "v" (migration output).
func rewriteVersion(obj []byte, v int) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(obj, &fields); err != nil {
		return nil, err
	}
	if fields == nil {
		return nil, errors.New("record is not a JSON object")
	}
	delete(fields, "v")
	flat, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	return withVersion(flat, v)
}

// peekVersion reads the "v" field written first by withVersion without
// decoding the whole record. ok is false when the record does not start so.
func peekVersion(raw []byte) (int, bool) {
	const prefix = `{"v":`
	if !bytes.HasPrefix(raw, []byte(prefix)) {
		return 0, false
	}
	v, n := 0, 0
	for _, c := range raw[len(prefix):] {
		if c < '0' || c > '9' {
			break
		}
		if n == 9 {
			// Too long for the fast path: let encoding/json read (or refuse) it.
			return 0, false
		}
		v = v*10 + int(c-'0')
		n++
	}
	return v, n > 0
}

// recordVersion returns the schema version of a raw record; records without
// one are version 0.
func recordVersion(raw []byte) (int, error) {
	if v, ok := peekVersion(raw); ok {
		return v, nil
	}
	// Decode the top-level keys rather than into a struct: encoding/json
	// matches struct tags case-insensitively, so a stray "V" would be taken
	// for the header. Only the exact key "v" is the version.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return 0, err
	}
	var v int
	if hdr, ok := fields["v"]; ok {
		if err := json.Unmarshal(hdr, &v); err != nil {
			return 0, err
		}
	}
	return v, nil
}

// encode renders a record of kind at the current version.
func encode[T any](sc schema, kind string, rec T) ([]byte, error) {
	body, err := json.Marshal(rec)
	if err == nil {
		body, err = withVersion(body, sc.version(kind))
	}
	if err != nil {
		return nil, fmt.Errorf("store: encode %s record: %w", kind, err)
	}
	return body, nil
}

// decode parses a raw record of kind into dst, migrating it first when it
// was written by an older schema. raw may be transaction memory: decode
// copies what it keeps.
func decode[T any](sc schema, kind string, key, raw []byte, dst *T) error {
	v, err := recordVersion(raw)
	if err == nil && v != sc.version(kind) {
		raw, err = sc.upgrade(kind, v, raw)
	}
	if err == nil {
		err = json.Unmarshal(raw, dst)
	}
	if err != nil {
		return fmt.Errorf("store: decode %s record %q: %w", kind, key, err)
	}
	return nil
}

// init creates the buckets and brings every record up to this build's schema.
func (s *Store) init() error {
	var stored map[string]int
	err := s.update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets() {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("store: create bucket %s: %w", name, err)
			}
		}
		var err error
		stored, err = readSchema(tx)
		if err != nil {
			return err
		}
		if stored == nil { // a new file: nothing to migrate
			stored = s.schema.current
			return writeSchema(tx, stored)
		}
		return nil
	})
	if err != nil {
		return err
	}
	kinds := make([]string, 0, len(s.schema.current))
	for k := range s.schema.current {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, kind := range kinds {
		cur := s.schema.current[kind]
		have := stored[kind]
		if have > cur {
			return fmt.Errorf("%w: %s: %s records are at version %d, this build reads up to %d",
				ErrNewerSchema, s.path, kind, have, cur)
		}
		if have < cur {
			if err := s.migrateKind(kind); err != nil {
				return err
			}
		}
	}
	return nil
}

func readSchema(tx *bbolt.Tx) (map[string]int, error) {
	raw := bucketMeta.in(tx).Get([]byte(metaSchemaKey))
	if raw == nil {
		return nil, nil
	}
	var m map[string]int
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: meta schema record: %w", ErrCorrupt, err)
	}
	return m, nil
}

func writeSchema(tx *bbolt.Tx, m map[string]int) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("store: encode schema: %w", err)
	}
	return bucketMeta.in(tx).Put([]byte(metaSchemaKey), raw)
}

// migrateKind rewrites every record of kind that is below the current
// version, in transactions of migrationBatch records, then records the new
// version in the meta bucket. An interrupted migration resumes at the next
// Open: records already upgraded are skipped.
func (s *Store) migrateKind(kind string) error {
	cur := s.schema.version(kind)
	if kind == kindDedupe {
		// Dedupe values are fixed-layout expiry stamps, not JSON records, and
		// live minutes: a change of their layout clears the ledger.
		return s.update(func(tx *bbolt.Tx) error {
			for _, name := range []bucketName{bucketDedupe, bucketDedupeExp} {
				if err := tx.DeleteBucket([]byte(name)); err != nil {
					return fmt.Errorf("store: clear %s: %w", name, err)
				}
				if _, err := tx.CreateBucket([]byte(name)); err != nil {
					return fmt.Errorf("store: clear %s: %w", name, err)
				}
			}
			return s.setStoredVersion(tx, kind, cur)
		})
	}
	bucket := bucketName(kind)
	var after []byte // last key handled
	total := 0
	for {
		done := false
		n := 0
		err := s.update(func(tx *bbolt.Tx) error {
			b := bucket.in(tx)
			c := b.Cursor()
			var k, v []byte
			if after == nil {
				k, v = c.First()
			} else if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
			type rewrite struct{ k, v []byte }
			var rewrites []rewrite
			for ; k != nil && n < migrationBatch; k, v = c.Next() {
				n++
				after = append(after[:0], k...)
				ver, err := recordVersion(v)
				if err != nil {
					return fmt.Errorf("store: migrate %s record %q: %w", kind, k, err)
				}
				if ver == cur {
					continue
				}
				up, err := s.schema.upgrade(kind, ver, v)
				if err != nil {
					return fmt.Errorf("store: migrate %s record %q: %w", kind, k, err)
				}
				if up, err = rewriteVersion(up, cur); err != nil {
					return fmt.Errorf("store: migrate %s record %q: %w", kind, k, err)
				}
				rewrites = append(rewrites, rewrite{bytes.Clone(k), up})
			}
			for _, r := range rewrites {
				if err := b.Put(r.k, r.v); err != nil {
					return err
				}
			}
			total += len(rewrites)
			if k == nil {
				done = true
				return s.setStoredVersion(tx, kind, cur)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if done {
			break
		}
	}
	s.log.Info("store records migrated", "kind", kind, "version", cur, "records", total)
	return nil
}

func (s *Store) setStoredVersion(tx *bbolt.Tx, kind string, v int) error {
	m, err := readSchema(tx)
	if err != nil {
		return err
	}
	if m == nil {
		m = map[string]int{}
	}
	m[kind] = v
	return writeSchema(tx, m)
}
