package bolt

import (
	"encoding/binary"
	"math"
	"time"
)

// stampLen is the length of an encoded expiry stamp.
const stampLen = 8

// timeStamp encodes t as 8 big-endian bytes of Unix nanoseconds, so byte order
// is time order. Times before 1970 encode as 0 and times past 2262 as the
// maximum.
func timeStamp(t time.Time) []byte {
	b := make([]byte, stampLen)
	binary.BigEndian.PutUint64(b, uint64(unixNano(t)))
	return b
}

func unixNano(t time.Time) int64 {
	switch {
	case t.IsZero() || t.Unix() < 0:
		return 0
	case t.Unix() >= math.MaxInt64/int64(time.Second):
		return math.MaxInt64
	default:
		return t.UnixNano()
	}
}

// stampTime decodes a stamp made by timeStamp.
func stampTime(b []byte) int64 {
	if len(b) < stampLen {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b[:stampLen]))
}

// indexKey is the key of an expiry index entry: the stamp followed by id.
func indexKey(exp time.Time, id []byte) []byte {
	k := make([]byte, 0, stampLen+len(id))
	k = append(k, timeStamp(exp)...)
	return append(k, id...)
}
