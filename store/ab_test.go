package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

func TestAB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ab.db")
	s, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	fillConversations(t, s, 0, 100000)
	require.NoError(t, s.Close())
	s, err = Open(path, Options{SkipCheck: true})
	require.NoError(t, err)
	defer s.Close()
	res := map[string][]int{}
	for round := 0; round < 4; round++ {
		for _, mode := range []string{"store", "raw", "forcebatch"} {
			var next atomic.Int64
			var wg sync.WaitGroup
			st := time.Now()
			const N = 1500
			for range 32 {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= N {
							return
						}
						c := conversation((i * 7919) % 100000)
						c.Turns = i
						switch mode {
						case "store":
							require.NoError(t, s.PutConversation(context.Background(), c))
						case "forcebatch":
							v, _ := encode(defaultSchema(), kindConversations, c)
							k := []byte(c.Key.String())
							require.NoError(t, s.db.Batch(func(tx *bbolt.Tx) error { return tx.Bucket(bucketConversations).Put(k, v) }))
						case "raw":
							v, _ := encode(defaultSchema(), kindConversations, c)
							k := []byte(c.Key.String())
							n := s.writers.Add(1)
							if n == 1 {
								require.NoError(t, s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketConversations).Put(k, v) }))
							} else {
								require.NoError(t, s.db.Batch(func(tx *bbolt.Tx) error { return tx.Bucket(bucketConversations).Put(k, v) }))
							}
							s.writers.Add(-1)
						}
					}
				})
			}
			wg.Wait()
			el := time.Since(st)
			k := fmt.Sprint(mode)
			res[k] = append(res[k], int(N/el.Seconds()))
		}
	}
	t.Log(res)
}
