package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

func TestWithVersion(t *testing.T) {
	tests := []struct {
		name, in string
		v        int
		want     string
		wantErr  bool
	}{
		{"object", `{"a":1}`, 3, `{"v":3,"a":1}`, false},
		{"empty object", `{}`, 1, `{"v":1}`, false},
		{"spaces", ` {} `, 1, `{"v":1}`, false},
		{"not an object", `[1]`, 1, "", true},
		{"empty", ``, 1, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := withVersion([]byte(tt.in), tt.v)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.JSONEq(t, tt.want, string(got))
			assert.Equal(t, tt.want, string(got))
		})
	}
}

func TestRewriteVersion(t *testing.T) {
	got, err := rewriteVersion([]byte(`{"b":2,"v":1,"a":"x"}`), 2)
	require.NoError(t, err)
	assert.Equal(t, `{"v":2,"a":"x","b":2}`, string(got))
	_, err = rewriteVersion([]byte(`null`), 2)
	require.Error(t, err)
}

func TestRecordVersion(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    int
		wantErr bool
	}{
		{"fast path", `{"v":12,"key":{}}`, 12, false},
		{"v not first", `{"key":{},"v":4}`, 4, false},
		{"no version is version 0", `{"key":{}}`, 0, false},
		{"garbage", `not json`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := recordVersion([]byte(tt.raw))
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestEncode_StampsCurrentVersion(t *testing.T) {
	raw, err := encode(defaultSchema(), kindConversations, conversation(1))
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(raw, []byte(`{"v":1,"key":{`)), string(raw))
	var back chat.Conversation
	require.NoError(t, decode(defaultSchema(), kindConversations, []byte("k"), raw, &back))
	assert.Equal(t, conversation(1), back)
}

// schemaV2 is a test schema in which conversation records moved from v1 (the
// session token under "token") to v2 ("session_token"), and dedupe values
// changed layout.
func schemaV2() schema {
	sc := defaultSchema()
	sc.current[kindConversations] = 2
	sc.current[kindDedupe] = 2
	sc.up[kindConversations] = map[int]migration{
		1: func(raw []byte) ([]byte, error) {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(raw, &m); err != nil {
				return nil, err
			}
			if tok, ok := m["token"]; ok {
				m["session_token"] = tok
				delete(m, "token")
			}
			return json.Marshal(m)
		},
	}
	return sc
}

// putRaw writes raw values into bucket, bypassing the store's encoding.
func putRaw(t *testing.T, s *Store, bucket bucketName, kv map[string]string) {
	t.Helper()
	require.NoError(t, s.db.Update(func(tx *bbolt.Tx) error {
		for k, v := range kv {
			if err := bucket.in(tx).Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	}))
}

func getRaw(t *testing.T, s *Store, bucket bucketName, key string) string {
	t.Helper()
	var out string
	require.NoError(t, s.db.View(func(tx *bbolt.Tx) error {
		out = string(bucket.in(tx).Get([]byte(key)))
		return nil
	}))
	return out
}

// v1Conversation is conversation(i) as a v1 record of schemaV2.
func v1Conversation(i int) string {
	c := conversation(i)
	return fmt.Sprintf(`{"v":1,"key":{"platform":%q,"workspace":%q,"channel":%q,"thread":%q},`+
		`"agent_id":%q,"mode":%q,"token":%q,"visitor":%q,"created":%q,"last_active":%q,"turns":%d}`,
		c.Key.Platform, c.Key.Workspace, c.Key.Channel, c.Key.Thread, c.AgentID, c.Mode, c.SessionToken,
		c.Visitor, c.Created.Format(time.RFC3339Nano), c.LastActive.Format(time.RFC3339Nano), c.Turns)
}

func TestMigration_OnRead(t *testing.T) {
	// A v1 record that escaped the migration at Open (written after it by an
	// old binary, say) is upgraded when read.
	s, err := open(filepath.Join(t.TempDir(), "bridge.db"), Options{NoSync: true}, false, schemaV2())
	require.NoError(t, err)
	defer s.Close()
	putRaw(t, s, bucketConversations, map[string]string{convKey(7).String(): v1Conversation(7)})

	got, err := s.GetConversation(context.Background(), convKey(7))
	require.NoError(t, err)
	assert.Equal(t, conversation(7), got)
}

func TestMigration_AtOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bridge.db")

	// A file written by the v1 build: more records than one migration batch.
	n := migrationBatch*2 + 17
	old, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	require.NoError(t, old.db.Update(func(tx *bbolt.Tx) error {
		for i := range n {
			if err := bucketConversations.in(tx).Put([]byte(convKey(i).String()), []byte(v1Conversation(i))); err != nil {
				return err
			}
		}
		return nil
	}))
	marked, err := old.SeenOrMark(ctx, []string{"slack:Ev1"}, time.Hour, t0)
	require.NoError(t, err)
	require.False(t, marked)
	require.NoError(t, old.Close())

	// The v2 build migrates every record at Open and records the new version.
	s, err := open(path, Options{NoSync: true}, false, schemaV2())
	require.NoError(t, err)
	for _, i := range []int{0, migrationBatch - 1, migrationBatch, n - 1} {
		raw := getRaw(t, s, bucketConversations, convKey(i).String())
		assert.True(t, bytes.HasPrefix([]byte(raw), []byte(`{"v":2,`)), raw)
		assert.Contains(t, raw, `"session_token":`)
		assert.NotContains(t, raw, `"token":`)
		got, err := s.GetConversation(ctx, convKey(i))
		require.NoError(t, err)
		assert.Equal(t, conversation(i), got)
	}
	st, err := s.Stats(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 2, st.Schema[kindConversations])
	assert.Equal(t, 2, st.Schema[kindDedupe])
	assert.Equal(t, n, st.Conversations)
	assert.Zero(t, st.DedupeEntries, "a dedupe layout change clears the ledger")
	require.NoError(t, s.Close())

	// Reopening does not migrate again.
	s, err = open(path, Options{NoSync: true}, false, schemaV2())
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

func TestMigration_Errors(t *testing.T) {
	tests := []struct {
		name    string
		schema  func() schema
		raw     string
		want    error
		wantMsg string
	}{
		{
			name:    "record from a newer build",
			schema:  defaultSchema,
			raw:     `{"v":9,"key":{}}`,
			want:    ErrNewerSchema,
			wantMsg: "version 9, this build reads up to 1",
		},
		{
			name: "missing migration",
			schema: func() schema {
				sc := schemaV2()
				delete(sc.up[kindConversations], 1)
				return sc
			},
			raw:     `{"v":1,"key":{}}`,
			wantMsg: "no migration for conversations records from version 1",
		},
		{
			name: "failing migration",
			schema: func() schema {
				sc := schemaV2()
				sc.up[kindConversations][1] = func([]byte) ([]byte, error) { return nil, errors.New("boom") }
				return sc
			},
			raw:     `{"v":1,"key":{}}`,
			wantMsg: "migrate conversations record from version 1: boom",
		},
		{
			name:    "not JSON",
			schema:  defaultSchema,
			raw:     `garbage`,
			wantMsg: "decode conversations record",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := open(filepath.Join(t.TempDir(), "bridge.db"), Options{NoSync: true}, false, tt.schema())
			require.NoError(t, err)
			defer s.Close()
			putRaw(t, s, bucketConversations, map[string]string{convKey(1).String(): tt.raw})

			_, err = s.GetConversation(context.Background(), convKey(1))
			require.Error(t, err)
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
			}
			assert.Contains(t, err.Error(), tt.wantMsg)
			assert.Contains(t, err.Error(), convKey(1).String(), "the error names the record")
		})
	}
}

func TestMigration_OpenRefusesNewerFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bridge.db")
	s, err := open(path, Options{NoSync: true}, false, schemaV2())
	require.NoError(t, err)
	require.NoError(t, s.Close())

	_, err = Open(path, Options{NoSync: true})
	require.ErrorIs(t, err, ErrNewerSchema)
	assert.Contains(t, err.Error(), path)
}

func TestMigration_FailureLeavesFileReopenable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bridge.db")
	old, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	putRaw(t, old, bucketConversations, map[string]string{
		convKey(1).String(): v1Conversation(1),
		convKey(2).String(): `{"v":1,"broken`,
	})
	require.NoError(t, old.Close())

	_, err = open(path, Options{NoSync: true}, false, schemaV2())
	require.Error(t, err)
	assert.Contains(t, err.Error(), convKey(2).String())

	// The file is not left locked, and the old build still opens it.
	old, err = Open(path, Options{NoSync: true, Timeout: 50 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, old.Close())
}
