package bolt

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// openTemp opens a store in a fresh temporary file (fsync off) and closes it
// when the test ends.
func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "bridge.db"), Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// convKey is a realistic Slack conversation key numbered i.
func convKey(i int) chat.ConversationKey {
	return chat.ConversationKey{
		Platform:  "slack",
		Workspace: fmt.Sprintf("T%08d", i%37),
		Channel:   fmt.Sprintf("C%08d", i%1013),
		Thread:    fmt.Sprintf("%d.%06d", 1764331200+i, i%1000000),
	}
}

// conversation is a realistic conversation record numbered i.
func conversation(i int) chat.Conversation {
	k := convKey(i)
	return chat.Conversation{
		Key:          k,
		AgentID:      "agent-support-0001",
		Mode:         chat.ModeStream,
		SessionToken: fmt.Sprintf("sess_%032x", i),
		Visitor:      fmt.Sprintf("slack:%s:U%08d", k.Workspace, i%5000),
		Created:      t0.Add(time.Duration(i) * time.Second),
		LastActive:   t0.Add(time.Duration(i)*time.Second + time.Minute),
		Turns:        1 + i%17,
	}
}

// approval is a pending approval numbered i expiring at exp.
func approval(i int, exp time.Time) chat.Approval {
	k := convKey(i)
	return chat.Approval{
		ID:              fmt.Sprintf("apr_%08d", i),
		Key:             k,
		Requester:       "U1",
		AgentID:         "agent-1",
		Tool:            "jira.create_issue",
		Description:     "Create a Jira issue",
		ArgumentsDigest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Arguments:       `{"project":"OPS"}`,
		Card:            chat.MessageRef{Key: k, ID: fmt.Sprintf("1764331300.%06d", i), Posted: t0},
		Created:         t0,
		Expires:         exp,
		State:           chat.ApprovalPending,
	}
}

// run is an in-flight run numbered i started at started.
func run(i int, started time.Time) chat.InFlightRun {
	k := convKey(i)
	return chat.InFlightRun{
		Key:         k,
		Placeholder: chat.MessageRef{Key: k, ID: fmt.Sprintf("1764331400.%06d", i), Posted: started},
		InboundID:   fmt.Sprintf("1764331399.%06d", i),
		Started:     started,
	}
}

// fillConversations writes conversations [from, to) in large transactions,
// bypassing Batch, to build big fixtures quickly.
func fillConversations(t testing.TB, s *Store, from, to int) {
	t.Helper()
	const perTx = 10000
	for lo := from; lo < to; lo += perTx {
		hi := min(lo+perTx, to)
		require.NoError(t, s.db.Update(func(tx *bbolt.Tx) error {
			b := bucketConversations.in(tx)
			for i := lo; i < hi; i++ {
				c := conversation(i)
				v, err := encode(s.schema, kindConversations, c)
				if err != nil {
					return err
				}
				if err := b.Put([]byte(c.Key.String()), v); err != nil {
					return err
				}
			}
			return nil
		}))
	}
}

func countBucket(t testing.TB, s *Store, name bucketName) int {
	t.Helper()
	n := 0
	require.NoError(t, s.db.View(func(tx *bbolt.Tx) error {
		return name.in(tx).ForEach(func(_, _ []byte) error { n++; return nil })
	}))
	return n
}
