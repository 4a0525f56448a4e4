package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt's on-disk meta page (go.etcd.io/bbolt/internal/common), read here to
// catch a truncated file before bbolt maps it: bbolt trusts the meta page's
// high-water mark, and reading pages past the end of the file faults the
// process instead of returning an error.
const (
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	pageHeaderSize  = 16 // id u64, flags u16, count u16, overflow u32
	metaSize        = 64 // magic..checksum
	metaOffPageSize = 8
	metaOffPgid     = 40
	metaOffTxid     = 48
	metaOffChecksum = 56
)

// boltMeta is the part of a meta page the pre-check needs.
type boltMeta struct {
	pageSize uint32
	pgid     uint64 // high-water mark: pages [0, pgid) are in use
	txid     uint64
}

// readMeta decodes and validates a meta page body; ok is false when the page
// is not a valid meta page.
func readMeta(b []byte) (m boltMeta, ok bool) {
	if len(b) < pageHeaderSize+metaSize {
		return m, false
	}
	body := b[pageHeaderSize : pageHeaderSize+metaSize]
	ne := binary.NativeEndian
	if ne.Uint32(body[0:]) != boltMagic || ne.Uint32(body[4:]) != boltVersion {
		return m, false
	}
	h := fnv.New64a()
	_, _ = h.Write(body[:metaOffChecksum])
	if h.Sum64() != ne.Uint64(body[metaOffChecksum:]) {
		return m, false
	}
	return boltMeta{
		pageSize: ne.Uint32(body[metaOffPageSize:]),
		pgid:     ne.Uint64(body[metaOffPgid:]),
		txid:     ne.Uint64(body[metaOffTxid:]),
	}, true
}

// checkLength fails with ErrCorrupt when the file at path is shorter than
// its valid meta page says. Files without a valid meta page are left to
// bbolt, which reports them with an error.
func checkLength(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // Open creates it
	}
	if err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("store: open %s: not a regular file", path)
	}
	buf := make([]byte, pageHeaderSize+metaSize)
	if _, err := f.ReadAt(buf, 0); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	best, ok0 := readMeta(buf)
	var other boltMeta
	ok1 := false
	if ok0 {
		b1 := make([]byte, pageHeaderSize+metaSize)
		if _, err := f.ReadAt(b1, int64(best.pageSize)); err == nil {
			other, ok1 = readMeta(b1)
		}
	} else {
		// The first meta page is damaged: look for the second one at the
		// usual page sizes.
		for _, ps := range []int64{4096, 8192, 16384, 65536} {
			b1 := make([]byte, pageHeaderSize+metaSize)
			if _, err := f.ReadAt(b1, ps); err == nil {
				if other, ok1 = readMeta(b1); ok1 && int64(other.pageSize) == ps {
					break
				}
				ok1 = false
			}
		}
	}
	switch {
	case ok0 && ok1 && other.txid > best.txid, !ok0 && ok1:
		best = other
	case !ok0 && !ok1:
		return nil
	}
	// Compare by division: pgid*pageSize can overflow for a forged header.
	if best.pageSize != 0 && best.pgid > uint64(info.Size())/uint64(best.pageSize) {
		return fmt.Errorf("%w: %s is truncated: %d bytes, its header needs %d pages of %d bytes", ErrCorrupt, path, info.Size(), best.pgid, best.pageSize)
	}
	return nil
}
