package bridgetest_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/promptev/promptev-bridge/bridge/bridgetest"
	"github.com/promptev/promptev-bridge/chat"
)

// brokenMark is a store whose MarkInstallationBroken is no compare-and-set:
// it marks whatever the record holds, as a store that read the record
// outside its write transaction might, so an answer to an old token marks
// a reinstall broken.
type brokenMark struct{ *bridgetest.MemStore }

func (b brokenMark) MarkInstallationBroken(ctx context.Context, id, _, reason string, at time.Time) (chat.Installation, bool, error) {
	in, err := b.GetInstallation(ctx, id)
	if err != nil {
		return chat.Installation{}, false, err
	}
	in.Broken, in.BrokenAt = reason, at
	return in, true, b.PutInstallation(ctx, in)
}

const brokenMarkEnv = "BRIDGETEST_BROKEN_MARK_HELPER"

// The installation contract must reject a store whose MarkInstallationBroken
// ignores the sealed token and the broken state (run in a child process, as
// TestStoreConformanceRejectsBrokenCAS does).
func TestInstallationContractRejectsBrokenMark(t *testing.T) {
	if os.Getenv(brokenMarkEnv) == "1" {
		bridgetest.RunInstallationContract(t, func(*testing.T) chat.InstallationStore {
			return brokenMark{bridgetest.NewMemStore()}
		})
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInstallationContractRejectsBrokenMark$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), brokenMarkEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the contract passed a broken store:\n%s", out)
	failed := map[string]bool{}
	for _, m := range regexp.MustCompile(`--- FAIL: TestInstallationContractRejectsBrokenMark/(\S+)`).FindAllSubmatch(out, -1) {
		failed[string(m[1])] = true
	}
	assert.True(t, failed["MarkBroken"], "the compare-and-set check fails:\n%s", out)
	assert.True(t, failed["MarkBroken/ConcurrentCallers"], "the concurrent callers check fails:\n%s", out)
	assert.Contains(t, string(out), "--- PASS: TestInstallationContractRejectsBrokenMark/PutGetListDelete")
}
