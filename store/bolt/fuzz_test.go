package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/fnv"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/chat"
)

// fuzzSchema is a schema with an upgrade path for conversations (v0 -> v1 ->
// v2 -> v3, the middle step renaming "token" to "session_token"), so the
// fuzzer exercises decode's migrations and not only its version checks.
func fuzzSchema() schema {
	sc := defaultSchema()
	sc.current[kindConversations] = 3
	rename := func(raw []byte) ([]byte, error) {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		if m == nil {
			return nil, errors.New("not an object")
		}
		if tok, ok := m["token"]; ok {
			m["session_token"] = tok
			delete(m, "token")
		}
		return json.Marshal(m)
	}
	same := func(raw []byte) ([]byte, error) { return append([]byte(nil), raw...), nil }
	sc.up[kindConversations] = map[int]migration{0: same, 1: rename, 2: func(raw []byte) ([]byte, error) { return rewriteVersion(raw, 3) }}
	return sc
}

// checkDecode decodes raw as a kind record with sc. A failure must be a
// "store: decode" error; a record that decodes must encode at the current
// version, and that encoding must decode and re-encode to the same bytes.
func checkDecode[T any](t *testing.T, sc schema, kind string, raw []byte) {
	t.Helper()
	var dst T
	err := decode(sc, kind, []byte("key"), raw, &dst)
	if err != nil {
		if !strings.HasPrefix(err.Error(), "store: decode "+kind+" record ") {
			t.Fatalf("decode %s: unclear error %q", kind, err)
		}
		if errors.Is(err, ErrNewerSchema) {
			if v, verr := recordVersion(raw); verr != nil || v <= sc.version(kind) {
				t.Fatalf("decode %s: ErrNewerSchema for version %d (%v), current %d", kind, v, verr, sc.version(kind))
			}
		}
		return
	}
	if len(sc.up[kind]) == 0 && !json.Valid(raw) {
		t.Fatalf("decode %s accepted invalid JSON %q", kind, raw)
	}
	enc, err := encode(sc, kind, dst)
	if err != nil {
		t.Fatalf("decoded %s record %+v cannot be encoded again: %v", kind, dst, err)
	}
	if v, ok := peekVersion(enc); !ok || v != sc.version(kind) {
		t.Fatalf("encoded %s record has version %d, %v: %s", kind, v, ok, enc)
	}
	var back T
	if err := decode(sc, kind, []byte("key"), enc, &back); err != nil {
		t.Fatalf("re-decoding %s: %v\n%s", kind, err, enc)
	}
	enc2, err := encode(sc, kind, back)
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("%s record not stable:\n%s\n%s (%v)", kind, enc, enc2, err)
	}
}

// FuzzStoreDecode decodes random bytes as every kind of record, with this
// build's schema and with a schema that has migrations: no panic, a clear
// error for garbage, and stable re-encoding of what decodes.
func FuzzStoreDecode(f *testing.F) {
	sc := defaultSchema()
	for _, rec := range []any{conversation(1), approval(2, t0.Add(time.Hour)), run(3, t0)} {
		var kind string
		switch rec.(type) {
		case chat.Conversation:
			kind = kindConversations
		case chat.Approval:
			kind = kindApprovals
		default:
			kind = kindRuns
		}
		raw, err := encode(sc, kind, rec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
		f.Add(raw[:len(raw)/2])
		f.Add(bytes.Replace(raw, []byte(`{"v":1,`), []byte(`{"v":7,`), 1))
		f.Add(bytes.Replace(raw, []byte(`{"v":1,`), []byte(`{`), 1))
	}
	for _, s := range []string{
		`{"v":1,"key":{"platform":"slack","workspace":"T1","channel":"C1"},"agent_id":"a","mode":"stream","token":"tok","visitor":"v","created":"2026-11-28T12:00:00Z","last_active":"2026-11-28T12:01:00Z","turns":2}`,
		`{"v":2,"session_token":"s"}`, `{"v":0}`, `{}`, `{"v":-1}`, `{"v":99999999999}`, `{"v":1.5}`, `{"v":"1"}`,
		`{"v":1,"v":9}`, `{"v":1,"created":"not a time"}`, `{"v":1,"created":"9999-12-31T23:59:59+23:59"}`,
		`{"v":1,"turns":1e400}`, `null`, `[]`, `"v"`, `{"v":1`, "\x00\x00\x00\x00\x00\x00\x00\x01", "",
	} {
		f.Add([]byte(s))
	}
	schemas := []schema{defaultSchema(), fuzzSchema()}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, sc := range schemas {
			checkDecode[chat.Conversation](t, sc, kindConversations, raw)
			checkDecode[chat.Approval](t, sc, kindApprovals, raw)
			checkDecode[chat.InFlightRun](t, sc, kindRuns, raw)
		}
		// Dedupe and index values are 8-byte stamps.
		if got := stampTime(raw); len(raw) < stampLen && got != 0 {
			t.Fatalf("stampTime of %d bytes = %d", len(raw), got)
		}
	})
}

// FuzzStoreVersionHeader checks the "v" header helpers on random objects:
// rewriteVersion yields valid JSON whose version reads back, keeping every
// other field; peekVersion and recordVersion never panic and agree.
func FuzzStoreVersionHeader(f *testing.F) {
	f.Add([]byte(`{"key":{"platform":"slack"},"turns":2}`), 1)
	f.Add([]byte(`{"v":1,"token":"t"}`), 2)
	f.Add([]byte(`{}`), 0)
	f.Add([]byte(` { "a" : "<&>" } `), 12)
	f.Add([]byte(`{"v":1,"v":2}`), -3)
	f.Add([]byte(`null`), 1)
	f.Add([]byte(`[1]`), 1)
	f.Add([]byte(`{"v":12345678901234567890}`), math.MaxInt)
	f.Add([]byte(`{"V":0}`), math.MaxInt-205) // a header is the exact key "v"
	f.Add([]byte(`{"V":3,"v":4}`), 5)
	f.Add([]byte(`{"":1e700}`), 1) // a number no float64 holds is kept as written
	f.Fuzz(func(t *testing.T, obj []byte, v int) {
		if pv, ok := peekVersion(obj); ok && pv < 0 {
			t.Fatalf("peekVersion(%q) = %d", obj, pv)
		}
		_, _ = recordVersion(obj)

		out, err := rewriteVersion(obj, v)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("rewriteVersion(%q, %d) = invalid JSON %q", obj, v, out)
		}
		if rv, err := recordVersion(out); rv != v || err != nil {
			t.Fatalf("rewriteVersion(%q, %d) = %q reads back as %d, %v", obj, v, out, rv, err)
		}
		// Numbers compare as their text: a field such as 1e700 is kept as
		// written, though no float64 holds it.
		var before, after map[string]any
		if err := unmarshalNumbers(obj, &before); err != nil {
			t.Fatalf("rewriteVersion accepted %q: %v", obj, err)
		}
		if err := unmarshalNumbers(out, &after); err != nil {
			t.Fatal(err)
		}
		delete(before, "v")
		delete(after, "v")
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("rewriteVersion(%q) changed fields: %v -> %v", obj, before, after)
		}
	})
}

// unmarshalNumbers decodes JSON into v keeping numbers as json.Number.
func unmarshalNumbers(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// metaPage is a bbolt meta page (page header + meta body) with a valid checksum.
func metaPage(pageSize uint32, pgid, txid uint64) []byte {
	b := make([]byte, pageHeaderSize+metaSize)
	body := b[pageHeaderSize:]
	ne := binary.NativeEndian
	ne.PutUint32(body[0:], boltMagic)
	ne.PutUint32(body[4:], boltVersion)
	ne.PutUint32(body[metaOffPageSize:], pageSize)
	ne.PutUint64(body[metaOffPgid:], pgid)
	ne.PutUint64(body[metaOffTxid:], txid)
	h := fnv.New64a()
	_, _ = h.Write(body[:metaOffChecksum])
	ne.PutUint64(body[metaOffChecksum:], h.Sum64())
	return b
}

// FuzzStoreCheckLength builds store files whose meta pages carry valid
// checksums but arbitrary page sizes and high-water marks: checkLength never
// panics, fails only with ErrCorrupt, and refuses a file shorter than the
// meta page it trusts says.
func FuzzStoreCheckLength(f *testing.F) {
	f.Add(uint32(4096), uint64(4), uint32(4*4096), false)
	f.Add(uint32(4096), uint64(5), uint32(4*4096), false)
	f.Add(uint32(4096), uint64(6), uint32(4*4096), true)
	f.Add(uint32(0), uint64(1<<40), uint32(200), false)
	f.Add(uint32(65536), uint64(2), uint32(100), false)
	// 2^63 pages of 4 KiB: pgid*pageSize overflows int64 (a past bug).
	f.Add(uint32(4096), uint64(1<<63), uint32(4*4096), false)
	path := filepath.Join(f.TempDir(), "bridge.db")
	f.Fuzz(func(t *testing.T, pageSize uint32, pgid uint64, size uint32, firstDamaged bool) {
		size %= 1 << 14 // small files keep the target fast
		const second = 4096
		var meta []byte
		at := 0
		if firstDamaged {
			// The second meta page, found at the usual 4 KiB page size.
			pageSize, at = second, second
			meta = metaPage(pageSize, pgid, 2)
		} else {
			meta = metaPage(pageSize, pgid, 1)
		}
		file := make([]byte, max(int(size), at))
		n := copy(file[min(at, len(file)):], meta) // a short file holds part of the page
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		err := checkLength(path)
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("checkLength: %v, want ErrCorrupt", err)
		}
		if n < len(meta) || (firstDamaged && len(file) < pageHeaderSize+metaSize) {
			return // no complete meta page: left to bbolt
		}
		need := new(big.Int).Mul(new(big.Int).SetUint64(pgid), big.NewInt(int64(pageSize)))
		truncated := need.Cmp(big.NewInt(int64(len(file)))) > 0
		if truncated && err == nil {
			t.Fatalf("file of %d bytes accepted; its meta page needs %s (page size %d, pgid %d)", len(file), need, pageSize, pgid)
		}
		if !truncated && err != nil {
			t.Fatalf("file of %d bytes refused; its meta page needs %s: %v", len(file), need, err)
		}
	})
}
