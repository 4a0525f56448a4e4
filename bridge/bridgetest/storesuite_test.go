package bridgetest_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

func TestMemStoreConformance(t *testing.T) {
	bridgetest.RunStoreConformance(t, func(*testing.T) chat.Store { return bridgetest.NewMemStore() })
}

// replicaMem is a MemStore with replicas: handles on the same records, as a
// database server's other connection pools would be, that count the
// compare-and-sets and dedupe checks they serve.
type replicaMem struct {
	*bridgetest.MemStore
	served *atomic.Int64
}

func (r replicaMem) OpenReplica(*testing.T) chat.Store {
	return replicaHandle{Store: r.MemStore, served: r.served}
}

type replicaHandle struct {
	chat.Store
	served *atomic.Int64
}

func (h replicaHandle) DecideApproval(ctx context.Context, id string, state chat.ApprovalState, by, byName string, at time.Time) (chat.Approval, bool, error) {
	h.served.Add(1)
	return h.Store.DecideApproval(ctx, id, state, by, byName, at)
}

func (h replicaHandle) SeenOrMark(ctx context.Context, keys []string, ttl time.Duration, now time.Time) (bool, error) {
	h.served.Add(1)
	return h.Store.SeenOrMark(ctx, keys, ttl, now)
}

// A store with replicas has its concurrent callers spread over them.
func TestReplicatedStoreConformance(t *testing.T) {
	var served atomic.Int64
	bridgetest.RunStoreConformance(t, func(*testing.T) chat.Store {
		return replicaMem{MemStore: bridgetest.NewMemStore(), served: &served}
	})
	assert.Greater(t, served.Load(), int64(100), "concurrent callers used the replicas")
}

// brokenCAS is a store whose DecideApproval is not a compare-and-set: a
// decision on an approval already decided is applied too, and reported ok,
// as a store that checked the state outside its write transaction might.
type brokenCAS struct{ *bridgetest.MemStore }

func (b brokenCAS) DecideApproval(ctx context.Context, id string, state chat.ApprovalState, by, byName string, at time.Time) (chat.Approval, bool, error) {
	a, ok, err := b.MemStore.DecideApproval(ctx, id, state, by, byName, at)
	if err != nil || ok {
		return a, ok, err
	}
	a.State, a.DecidedBy, a.DecidedByName, a.DecidedAt = state, by, byName, at
	if err := b.PutApproval(ctx, a); err != nil {
		return chat.Approval{}, false, err
	}
	return a, true, nil
}

// brokenStoreEnv makes TestStoreConformanceRejectsBrokenCAS run the suite on
// brokenCAS in this process: the test's helper-process mode.
const brokenStoreEnv = "BRIDGETEST_BROKEN_STORE_HELPER"

// The suite must reject a store that breaks the approvals compare-and-set.
// It runs in a child process (this test binary, re-executed), so that its
// failure is observed without failing this test: the child must exit
// non-zero, and fail the compare-and-set checks (a stopped decision's
// included) and only those.
func TestStoreConformanceRejectsBrokenCAS(t *testing.T) {
	if os.Getenv(brokenStoreEnv) == "1" {
		bridgetest.RunStoreConformance(t, func(*testing.T) chat.Store { return brokenCAS{bridgetest.NewMemStore()} })
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStoreConformanceRejectsBrokenCAS$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), brokenStoreEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the suite passed a broken store:\n%s", out)
	assert.NotZero(t, exit.ExitCode())

	failed := map[string]bool{}
	for _, m := range regexp.MustCompile(`--- FAIL: TestStoreConformanceRejectsBrokenCAS/(\S+)`).FindAllSubmatch(out, -1) {
		failed[string(m[1])] = true
	}
	t.Logf("failed checks: %v", failed)
	assert.True(t, failed["DecideApproval/CompareAndSet"], "the compare-and-set check fails:\n%s", out)
	assert.True(t, failed["DecideApproval/ConcurrentCallers"], "the concurrent callers check fails:\n%s", out)
	assert.True(t, failed["RunRecords/ApprovalStopped"], "the stopped decision's exactly-once check fails:\n%s", out)
	for name := range failed {
		assert.Regexp(t, `^(DecideApproval/(CompareAndSet|ConcurrentCallers)(/|$)|RunRecords(/ApprovalStopped)?$)`, name,
			"only the compare-and-set checks fail")
	}
	assert.Contains(t, string(out), "--- PASS: TestStoreConformanceRejectsBrokenCAS/Conversations", "the rest of the suite runs and passes")
}
