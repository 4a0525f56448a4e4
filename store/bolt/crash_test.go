package bolt

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptev/promptev-bridge/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

var (
	crashIterations = flag.Int("crash.iterations", 20, "SIGKILL iterations of TestCrash_AcknowledgedWritesSurvive")
	crashSeed       = flag.Uint64("crash.seed", 0, "seed of TestCrash_AcknowledgedWritesSurvive (0: random)")
)

// Environment of the crash child.
const (
	envCrashDB   = "PVB_STORE_CRASH_DB"
	envCrashIter = "PVB_STORE_CRASH_ITER"
)

// crashTTL marks dedupe keys long enough to outlive the test (time is t0).
const crashTTL = 24 * time.Hour

func crashKey(it, g, n int) chat.ConversationKey {
	return chat.ConversationKey{
		Platform: "crash", Workspace: "it" + strconv.Itoa(it), Channel: "g" + strconv.Itoa(g), Thread: strconv.Itoa(n),
	}
}

func crashConversation(it, g, n int) chat.Conversation {
	return chat.Conversation{
		Key: crashKey(it, g, n), AgentID: fmt.Sprintf("agent-%d", n), Mode: chat.ModeStream,
		SessionToken: fmt.Sprintf("tok-%d-%d-%d", it, g, n), Visitor: "crash:U1",
		Created: t0, LastActive: t0, Turns: n,
	}
}

// TestCrashChild is the child process of TestCrash_AcknowledgedWritesSurvive:
// it writes records as fast as it can, fsync on, and prints one "ack" line per
// acknowledged write until it is killed. It is skipped in a normal run.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(envCrashDB)
	if path == "" {
		t.Skip("crash child: run by TestCrash_AcknowledgedWritesSurvive")
	}
	it, err := strconv.Atoi(os.Getenv(envCrashIter))
	require.NoError(t, err)
	ctx := context.Background()
	s, err := Open(path, Options{Timeout: 10 * time.Second}) // fsync on
	require.NoError(t, err)

	var outMu sync.Mutex
	ack := func(format string, args ...any) {
		line := fmt.Sprintf("ack "+format+"\n", args...)
		outMu.Lock()
		defer outMu.Unlock()
		_, _ = os.Stdout.WriteString(line) // one write(2) per line, unbuffered
	}
	writers := []func(g, n int) error{
		func(g, n int) error { // conversations (two writers: batched commits)
			if err := s.PutConversation(ctx, crashConversation(it, g, n)); err != nil {
				return err
			}
			ack("conv %d %d %d", it, g, n)
			return nil
		},
		func(g, n int) error {
			return writers0(ctx, s, it, g, n, ack)
		},
		func(g, n int) error { // approvals: put pending, then decide
			a := approval(n, t0.Add(time.Hour))
			a.ID = fmt.Sprintf("a-%d-%d", it, n)
			if err := s.PutApproval(ctx, a); err != nil {
				return err
			}
			ack("apr-put %s", a.ID)
			if n%2 == 0 {
				if _, ok, err := s.DecideApproval(ctx, a.ID, chat.ApprovalApproved, "crash", "", t0); err != nil || !ok {
					return fmt.Errorf("decide %s: ok=%v: %w", a.ID, ok, err)
				}
				ack("apr-dec %s", a.ID)
			}
			return nil
		},
		func(g, n int) error { // runs: put, and remove every other one
			if err := s.PutRun(ctx, chat.InFlightRun{Key: crashKey(it, g, n), InboundID: strconv.Itoa(n), Started: t0}); err != nil {
				return err
			}
			ack("run-put %d %d %d", it, g, n)
			if n%2 == 1 {
				if err := s.DeleteRun(ctx, crashKey(it, g, n)); err != nil {
					return err
				}
				ack("run-del %d %d %d", it, g, n)
			}
			return nil
		},
		func(g, n int) error { return dedupeWriter(ctx, s, it, g, n, ack) },
		func(g, n int) error { return dedupeWriter(ctx, s, it, g, n, ack) }, // two: batched commits
	}
	var wg sync.WaitGroup
	for g, w := range writers {
		wg.Go(func() {
			for n := 0; ; n++ {
				if err := w(g, n); err != nil {
					fmt.Fprintf(os.Stderr, "crash child: writer %d: %v\n", g, err)
					os.Exit(3)
				}
			}
		})
	}
	wg.Wait()
}

// writers0 is the second conversation writer, which also rewrites each of its
// conversations once with a higher turn count.
func writers0(ctx context.Context, s *Store, it, g, n int, ack func(string, ...any)) error {
	c := crashConversation(it, g, n)
	if err := s.PutConversation(ctx, c); err != nil {
		return err
	}
	ack("conv %d %d %d", it, g, n)
	c.Turns += 1000
	if err := s.PutConversation(ctx, c); err != nil {
		return err
	}
	ack("conv2 %d %d %d", it, g, n)
	return nil
}

// dedupeWriter marks the two keys of one Slack message (event id and
// channel+ts) in one call, then its twin (the other event id, same ts), which
// must be seen and whose event id is marked too. Each call is acknowledged
// with every key it marked.
func dedupeWriter(ctx context.Context, s *Store, it, g, n int, ack func(string, ...any)) error {
	ev, ts, twin := fmt.Sprintf("d-%d-%d-%d-ev", it, g, n), fmt.Sprintf("d-%d-%d-%d-ts", it, g, n), fmt.Sprintf("d-%d-%d-%d-twin", it, g, n)
	seen, err := s.SeenOrMark(ctx, []string{ev, ts}, crashTTL, t0)
	if err != nil || seen {
		return fmt.Errorf("mark %s %s: seen=%v: %w", ev, ts, seen, err)
	}
	ack("mark %s %s", ev, ts)
	seen, err = s.SeenOrMark(ctx, []string{twin, ts}, crashTTL, t0)
	if err != nil || !seen {
		return fmt.Errorf("mark twin %s %s: seen=%v: %w", twin, ts, seen, err)
	}
	ack("mark %s", twin)
	return nil
}

// acked is everything the children acknowledged, across iterations.
type acked struct {
	conv    map[chat.ConversationKey]int // key → lowest turn count acknowledged
	aprPut  map[string]bool
	aprDec  map[string]bool
	runPut  map[chat.ConversationKey]bool
	runDel  map[chat.ConversationKey]bool
	marks   map[string]bool
	perIter []int
}

func (a *acked) parse(t *testing.T, line string) {
	f := strings.Fields(line)
	require.GreaterOrEqual(t, len(f), 2, line)
	ints := func() (int, int, int) {
		require.Len(t, f, 5, line)
		it, e1 := strconv.Atoi(f[2])
		g, e2 := strconv.Atoi(f[3])
		n, e3 := strconv.Atoi(f[4])
		require.NoError(t, e1)
		require.NoError(t, e2)
		require.NoError(t, e3)
		return it, g, n
	}
	switch f[1] {
	case "conv":
		it, g, n := ints()
		if _, ok := a.conv[crashKey(it, g, n)]; !ok {
			a.conv[crashKey(it, g, n)] = n
		}
	case "conv2":
		it, g, n := ints()
		a.conv[crashKey(it, g, n)] = n + 1000
	case "apr-put":
		a.aprPut[f[2]] = true
	case "apr-dec":
		a.aprDec[f[2]] = true
	case "run-put":
		a.runPut[crashKey(ints())] = true
	case "run-del":
		a.runDel[crashKey(ints())] = true
	case "mark":
		require.Greater(t, len(f), 2, line)
		for _, key := range f[2:] {
			a.marks[key] = true
		}
	default:
		t.Fatalf("unknown ack %q", line)
	}
}

// verify checks that every acknowledged write is in the file at path and
// that bbolt's consistency check passes.
func (a *acked) verify(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(path, Options{NoSync: true, Timeout: 5 * time.Second}) // Open runs tx.Check too
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()

	require.NoError(t, s.db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("tx.Check: %v", err)
		}
		return nil
	}))
	for k, minTurns := range a.conv {
		c, err := s.GetConversation(ctx, k)
		if !assert.NoError(t, err, "acknowledged conversation %s", k) {
			continue
		}
		assert.GreaterOrEqual(t, c.Turns, minTurns, k.String())
		n, _ := strconv.Atoi(k.Thread)
		assert.Equal(t, fmt.Sprintf("agent-%d", n), c.AgentID)
	}
	for id := range a.aprPut {
		ap, err := s.GetApproval(ctx, id)
		if !assert.NoError(t, err, "acknowledged approval %s", id) {
			continue
		}
		if a.aprDec[id] {
			assert.Equal(t, chat.ApprovalApproved, ap.State, id)
			assert.Equal(t, "crash", ap.DecidedBy, id)
		} else {
			assert.Contains(t, []chat.ApprovalState{chat.ApprovalPending, chat.ApprovalApproved}, ap.State, id)
		}
	}
	runs, err := s.ListRuns(ctx)
	require.NoError(t, err)
	have := map[chat.ConversationKey]bool{}
	for _, r := range runs {
		have[r.Key] = true
	}
	for k := range a.runPut {
		n, _ := strconv.Atoi(k.Thread)
		switch {
		case a.runDel[k]:
			assert.False(t, have[k], "acknowledged removal of run %s", k)
		case n%2 == 1:
			// Removed after the put: the removal may have committed
			// without being acknowledged before the kill.
		default:
			assert.True(t, have[k], "acknowledged run %s", k)
		}
	}
	// The keys of one message are marked in one transaction: never one
	// without the other, acknowledged or not.
	marked := map[string]bool{}
	require.NoError(t, s.db.View(func(tx *bbolt.Tx) error {
		return bucketDedupe.in(tx).ForEach(func(k, _ []byte) error {
			marked[string(k)] = true
			return nil
		})
	}))
	for key := range marked {
		if base, ok := strings.CutSuffix(key, "-ev"); ok {
			assert.True(t, marked[base+"-ts"], "%s marked without its channel+ts key", key)
		}
		if base, ok := strings.CutSuffix(key, "-ts"); ok {
			assert.True(t, marked[base+"-ev"], "%s marked without its event key", key)
		}
	}
	for key := range a.marks {
		seen, err := s.SeenOrMark(ctx, []string{key}, crashTTL, t0)
		require.NoError(t, err)
		assert.True(t, seen, "acknowledged dedupe mark %s", key)
	}
}

// TestCrash_AcknowledgedWritesSurvive SIGKILLs a child process that writes as
// fast as it can, at a random moment, and checks after each kill that every
// write the child acknowledged is in the file and the file is consistent.
// More iterations: go test -race -run TestCrash_ ./store/ -args -crash.iterations=200
func TestCrash_AcknowledgedWritesSurvive(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	seed := *crashSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (-crash.seed=%d reproduces the kill points)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	path := filepath.Join(t.TempDir(), "crash.db")
	a := &acked{
		conv: map[chat.ConversationKey]int{}, aprPut: map[string]bool{}, aprDec: map[string]bool{},
		runPut: map[chat.ConversationKey]bool{}, runDel: map[chat.ConversationKey]bool{}, marks: map[string]bool{},
	}
	for it := range *crashIterations {
		// Kill after a random number of acknowledged writes; one time in
		// eight, before the first (during Open and start-up).
		killAfter := 1 + rng.IntN(100)
		if rng.IntN(8) == 0 {
			killAfter = 0
		}
		lines := runCrashChild(t, path, it, killAfter)
		for _, l := range lines {
			a.parse(t, l)
		}
		a.perIter = append(a.perIter, len(lines))
		a.verify(t, path)
		if t.Failed() {
			t.Fatalf("iteration %d (killed after %d acks) lost acknowledged writes; seed %d", it, killAfter, seed)
		}
	}
	t.Logf("acknowledged writes per iteration: %v", a.perIter)
}

// runCrashChild runs the child on path and SIGKILLs it once it has
// acknowledged killAfter writes; it returns every ack line the child printed.
func runCrashChild(t *testing.T, path string, it, killAfter int) []string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrashChild$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), envCrashDB+"="+path, envCrashIter+"="+strconv.Itoa(it))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	var lines []string
	killed := false
	kill := func() {
		if !killed {
			killed = true
			require.NoError(t, cmd.Process.Kill()) // SIGKILL
		}
	}
	if killAfter == 0 {
		kill()
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "ack ") {
			lines = append(lines, l)
			if len(lines) >= killAfter {
				kill()
			}
		}
	}
	require.NoError(t, sc.Err())
	err = cmd.Wait()
	require.True(t, killed, "child exited by itself: %v\n%s", err, stderr.String())
	require.Error(t, err, "the child is killed")
	require.NotContains(t, stderr.String(), "crash child:", "the child failed a write")
	return lines
}

// TestOpen_LockHeldByAnotherProcess opens a file that a child process is
// writing: Open fails within its timeout, naming the file, and succeeds once
// the child is gone.
func TestOpen_LockHeldByAnotherProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	path := filepath.Join(t.TempDir(), "locked.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrashChild$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), envCrashDB+"="+path, envCrashIter+"=0")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "ack ") {
	} // the child holds the file once it has acknowledged a write

	for _, open := range []func(string, Options) (*Store, error){Open, OpenReadOnly} {
		s, err := open(path, Options{Timeout: 100 * time.Millisecond})
		require.ErrorIs(t, err, ErrLocked)
		assert.Nil(t, s)
		assert.Contains(t, err.Error(), path)
		assert.Contains(t, err.Error(), "another promptev-bridge process holds this file (waited 100ms for the lock)")
	}

	require.NoError(t, cmd.Process.Kill())
	_, _ = io.Copy(io.Discard, out) // the child is dead: EOF comes at once
	_ = cmd.Wait()
	s, err := Open(path, Options{Timeout: 5 * time.Second, NoSync: true})
	require.NoError(t, err)
	require.NoError(t, s.Close())
}
