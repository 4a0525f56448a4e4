package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"time"

	"github.com/promptev/promptev-bridge/store/postgres/postgrestest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets the signal tests run the real main() in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("PB_TEST_RUN_MAIN") == "1" {
		os.Args = append([]string{"promptev-bridge"}, os.Args[1:]...)
		main()
		return
	}
	code := m.Run()
	postgrestest.Stop()
	os.Exit(code)
}

// slowScript takes about 2 s to answer, in small steps.
const slowScript = `
name: Slow
script:
  - {type: processing, output: "Step one...", delay: 300ms}
  - {type: processing, output: "Step two...", delay: 300ms}
  - {type: processing, output: "Step three...", delay: 300ms}
  - {type: processing, output: "Step four...", delay: 300ms}
  - {type: done, output: "Slow answer.", delay: 600ms}
`

// child starts main() in a child process running the demo on slowScript,
// sends one message and waits until its run has visibly started. The child's
// temporary directories go to tmp, which the test checks and removes.
func child(t *testing.T) (cmd *exec.Cmd, stdout, stderr *output, tmp string) {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	script := writeFile(t, "slow.yaml", slowScript)
	tmp = t.TempDir()
	cmd = exec.Command(exe, "demo", "--script", script, "--plain", "--log-level", "info")
	cmd.Env = append(os.Environ(), "PB_TEST_RUN_MAIN=1", "TMPDIR="+tmp)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdoutPipe, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr = newOutput()
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = stdin.Close() })
	stdout = newOutput()
	go func() { _, _ = io.Copy(stdout, bufio.NewReader(stdoutPipe)) }()
	_, err = io.WriteString(stdin, "go slowly\n")
	require.NoError(t, err)
	stdout.waitFor(t, "Step one...")
	return cmd, stdout, stderr, tmp
}

// leftovers lists the demo's temporary directories left in tmp.
func leftovers(t *testing.T, tmp string) []string {
	t.Helper()
	left, err := filepath.Glob(filepath.Join(tmp, "promptev-bridge-demo-*"))
	require.NoError(t, err)
	return left
}

func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		require.NoError(t, err)
		return 0
	case <-time.After(30 * time.Second): // failure guard only
		t.Fatal("child did not exit")
		return -1
	}
}

func TestSignalGracefulShutdownLetsTheRunFinish(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process for about 2 s")
	}
	cmd, stdout, stderr, tmp := child(t)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, exitInterrupted, exitCode(t, cmd), "an interrupted demo does not report success")
	assert.Contains(t, stdout.String(), "Slow answer.", "the running answer finished within the grace")
	assert.Contains(t, stderr.String(), "interrupted: letting the running answer finish", "the first signal says what happens")
	assert.Empty(t, leftovers(t, tmp))
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	cmd, stdout, stderr, tmp := child(t)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	stderr.waitFor(t, "shutting down") // the first signal was taken: graceful shutdown began
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	assert.Equal(t, 130, exitCode(t, cmd))
	assert.Contains(t, stderr.String(), "second signal (interrupt): exiting now")
	assert.NotContains(t, stdout.String(), "Slow answer.")
	assert.Empty(t, leftovers(t, tmp), "the second signal still removes the demo's temporary store")
}
