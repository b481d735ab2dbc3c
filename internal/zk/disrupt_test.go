package zk

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/itest"
)

// TestFencedWriterPausedPastExpiry is the case fencing exists for: a lock
// holder is paused (SIGSTOP) until ZooKeeper expires its session, another
// client takes the lock, and the first wakes up and writes. Its write must
// fail and land nowhere.
func TestFencedWriterPausedPastExpiry(t *testing.T) {
	noLeaks(t)
	z := itest.ZooKeeper(t)
	ctx := ctxFor(t, 3*time.Minute)

	bin := filepath.Join(t.TempDir(), "fencedwriter")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/fencedwriter").CombinedOutput(); err != nil {
		t.Fatalf("build the helper: %v\n%s", err, out)
	}
	dir, target := z.Path("locks", "apply"), z.Path("data", "late")
	h := startHelper(t, bin, "-servers", strings.Join(z.Servers, ","), "-dir", dir, "-target", target, "-session-timeout", "4s")

	line := h.line(t, 60*time.Second)
	id, ok := strings.CutPrefix(line, "locked ")
	if !ok {
		t.Fatalf("helper said %q, want \"locked <id>\"", line)
	}
	lockPath := dir + "/" + id

	if err := h.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	h.stopped = true
	// ZooKeeper expires the paused helper's session and deletes its lock
	// node (the session timeout is 4s).
	awaitGone(t, z.Conn, lockPath, 60*time.Second)

	// Another client takes the lock: the helper has lost it.
	other := connect(t, z.Servers)
	l2, err := other.Lock(ctx, dir, HolderInfo{User: "second", Host: "test", PID: 2, Command: "take over"})
	if err != nil {
		t.Fatalf("second client could not take the lock after the helper's session expired: %v", err)
	}

	if err := h.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	h.stopped = false
	if _, err := io.WriteString(h.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	outcome := h.line(t, 60*time.Second)
	t.Logf("helper: %s", outcome)
	if !strings.HasPrefix(outcome, "write failed: ") {
		t.Fatalf("helper's late write: %q, want a failure", outcome)
	}
	if ok, _, err := z.Synced(t).Exists(target); err != nil || ok {
		t.Fatalf("the late write landed (exists=%v, %v)", ok, err)
	}
	if ok, _, _ := z.Conn.Exists(z.Path("data")); ok {
		t.Errorf("the late write's parent %s was created", z.Path("data"))
	}
	select {
	case <-l2.Lost():
		t.Errorf("the new holder's lock was lost: %v", l2.Err())
	default:
	}
	if err := h.wait(30 * time.Second); err != nil {
		t.Errorf("helper: %v\n%s", err, h.stderr.String())
	}
	if err := l2.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// helper is a running fencedwriter.
type helper struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan string
	stderr  *lockedBuffer
	stopped bool
	exited  chan error
}

func startHelper(t *testing.T, bin string, args ...string) *helper {
	t.Helper()
	h := &helper{cmd: exec.Command(bin, args...), lines: make(chan string, 16), stderr: &lockedBuffer{}, exited: make(chan error, 1)}
	var err error
	if h.stdin, err = h.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h.cmd.Stderr = h.stderr
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
		h.exited <- h.cmd.Wait()
	}()
	t.Cleanup(func() {
		if h.stopped {
			_ = h.cmd.Process.Signal(syscall.SIGCONT)
		}
		_ = h.cmd.Process.Kill()
		h.stdin.Close()
		for range h.lines {
		}
	})
	return h
}

// line is the helper's next stdout line.
func (h *helper) line(t *testing.T, within time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-h.lines:
		if !ok {
			t.Fatalf("helper exited: %v\n%s", <-h.exited, h.stderr.String())
		}
		return l
	case <-time.After(within):
		t.Fatalf("no line from the helper within %s; stderr:\n%s", within, h.stderr.String())
	}
	return ""
}

// wait waits for the helper to exit after its last line.
func (h *helper) wait(within time.Duration) error {
	for range h.lines {
	}
	select {
	case err := <-h.exited:
		h.exited <- err
		return err
	case <-time.After(within):
		return fmt.Errorf("helper still runs after %s", within)
	}
}

type lockedBuffer struct {
	mu gosync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestWriteWhileServerKilled SIGKILLs the server a multi-transaction Write
// is going through, between two of its transactions. The write goes on
// through the remaining servers within the session, or fails cleanly:
// WriteResult then says exactly which prefix landed.
func TestWriteWhileServerKilled(t *testing.T) {
	noLeaks(t)
	cl := itest.Disruptive(t)
	if len(cl.Spec.ZooKeeper) < 3 {
		t.Fatalf("the %s cluster has %d ZooKeeper servers; this test needs an ensemble of 3", cl.Spec.Name, len(cl.Spec.ZooKeeper))
	}
	z := itest.ZooKeeper(t)
	c := connect(t, z.Servers, func(cfg *Config) {
		cfg.SessionTimeout = 20 * time.Second
		cfg.DisconnectGrace = 12 * time.Second
	})
	ctx := ctxFor(t, 3*time.Minute)
	l, err := c.Lock(ctx, z.Path("locks", "apply"), ThisProcess())
	if err != nil {
		t.Fatal(err)
	}
	withTxnLimit(c, 8<<10)
	var ops []Op
	for i := range 300 {
		ops = append(ops, Op{Kind: OpCreate, Path: z.Path("data", fmt.Sprintf("n%03d", i)), Data: payload(i)})
	}
	final := []Op{{Kind: OpCreate, Path: z.Path("meta", "generation"), Data: []byte(`{"generation":1}`)}}

	victimAddr := c.Server()
	var victim string
	var survivors []string
	for _, s := range cl.Spec.ZooKeeper {
		if s.Address() == victimAddr {
			victim = s.Name()
		} else {
			survivors = append(survivors, s.Address())
		}
	}
	if victim == "" {
		t.Fatalf("client's server %q is none of the ensemble's", victimAddr)
	}
	modes, _ := cl.ZooKeeperModes(ctx)
	killedAt := -1
	c.afterBatch = func(i int) {
		if i != 2 || killedAt >= 0 {
			return
		}
		killedAt = i
		t.Logf("killing %s (%s, %s) after transaction %d", victim, victimAddr, modes[victim], i+1)
		seen := disconnects(c)
		if err := cl.Kill(victim); err != nil {
			t.Fatalf("kill %s: %v", victim, err)
		}
		t.Cleanup(func() {
			if err := cl.StartZooKeeper(victim); err != nil {
				t.Errorf("restart %s: %v", victim, err)
				return
			}
			wctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := cl.WaitZooKeeper(wctx); err != nil {
				t.Errorf("ensemble after restarting %s: %v", victim, err)
			}
		})
		awaitDisconnectSince(t, c, seen, 20*time.Second)
	}
	res, err := c.Write(ctx, l.Fence(), ops, final)
	c.afterBatch = nil
	t.Logf("write with %s killed: %+v, err %v; client now on %s", victim, res, err, c.Server())
	if killedAt < 0 {
		t.Fatalf("the write ended before its third transaction (%+v, %v)", res, err)
	}

	reader := connect(t, survivors)
	got, rerr := reader.ReadTree(ctx, z.Root)
	if rerr != nil {
		t.Fatal(rerr)
	}
	landed := 0
	for i := range ops {
		if _, ok := got[fmt.Sprintf("data/n%03d", i)]; ok {
			if landed != i {
				t.Fatalf("data/n%03d landed but data/n%03d did not: not a prefix", i, landed)
			}
			landed++
		}
	}
	_, genLanded := got["meta/generation"]
	if err == nil {
		if res.Applied != len(ops)+len(final) || landed != len(ops) || !genLanded || res.Batches != res.Planned {
			t.Fatalf("write succeeded with %+v, but %d of %d ops and generation=%v landed", res, landed, len(ops), genLanded)
		}
		if c.Server() == victimAddr {
			t.Errorf("client still on the killed server %s", victimAddr)
		}
		if l.Err() != nil {
			t.Errorf("lock lost although the session survived: %v", l.Err())
		}
		return
	}
	// A clean failure: what landed is what the result says.
	if !errors.Is(err, ErrSessionInDoubt) && !errors.Is(err, ErrOutcomeUnknown) {
		t.Errorf("write failed with %v, want a session or unknown-outcome error", err)
	}
	switch {
	case landed == min(res.Applied, len(ops)):
	case res.Uncertain > 0 && landed == min(res.Applied+res.Uncertain, len(ops)):
	default:
		t.Errorf("%d ops landed, result says %+v", landed, res)
	}
	if genLanded && res.Applied+res.Uncertain < len(ops)+len(final) {
		t.Errorf("generation landed although the result %+v does not include it", res)
	}
}
