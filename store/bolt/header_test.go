package bolt

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckLength(t *testing.T) {
	truncate := func(t *testing.T, p string) {
		info, err := os.Stat(p)
		require.NoError(t, err)
		require.NoError(t, os.Truncate(p, info.Size()/2))
	}
	damageMeta0 := func(t *testing.T, p string) {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		require.NoError(t, err)
		defer f.Close()
		_, err = f.WriteAt([]byte{0xde, 0xad}, pageHeaderSize+20)
		require.NoError(t, err)
	}
	tests := []struct {
		name    string
		file    func(t *testing.T) string
		wantErr string
	}{
		{name: "missing file (Open creates it)", file: func(t *testing.T) string { return filepath.Join(t.TempDir(), "new.db") }},
		{name: "empty file", file: func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "empty.db")
			require.NoError(t, os.WriteFile(p, nil, 0o600))
			return p
		}},
		{name: "not bbolt (left to bbolt)", file: func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "x.db")
			require.NoError(t, os.WriteFile(p, make([]byte, 9000), 0o600))
			return p
		}},
		{name: "valid", file: func(t *testing.T) string { return validFile(t, 500) }},
		{name: "truncated", file: func(t *testing.T) string {
			p := validFile(t, 1500)
			truncate(t, p)
			return p
		}, wantErr: "is truncated"},
		{name: "truncated, first meta damaged", file: func(t *testing.T) string {
			p := validFile(t, 1500)
			damageMeta0(t, p)
			truncate(t, p)
			return p
		}, wantErr: "is truncated"},
		{name: "directory", file: func(t *testing.T) string { return t.TempDir() }, wantErr: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkLength(tt.file(t))
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestReadMeta(t *testing.T) {
	p := validFile(t, 10)
	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	m, ok := readMeta(raw)
	require.True(t, ok)
	assert.Equal(t, uint32(os.Getpagesize()), m.pageSize)
	assert.Positive(t, m.pgid)

	raw[pageHeaderSize+30] ^= 0xff // inside the checksummed fields
	_, ok = readMeta(raw)
	assert.False(t, ok, "a damaged meta page fails its checksum")
	_, ok = readMeta(raw[:20])
	assert.False(t, ok)
}
