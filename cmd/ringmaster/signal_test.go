package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/state"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// builds holds the commands built for this test run, in one temporary
// folder removed by TestMain.
var builds struct {
	mu   gosync.Mutex
	dir  string
	bins map[string]string // package → binary
}

// buildCommand builds the main package pkg (a go build path relative to
// this package) once per test run and returns the binary's path.
func buildCommand(tb testing.TB, pkg string) string {
	tb.Helper()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if bin, ok := builds.bins[pkg]; ok {
		return bin
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "ringmaster-bin-")
		if err != nil {
			tb.Fatal(err)
		}
		builds.dir, builds.bins = dir, map[string]string{}
	}
	bin := filepath.Join(builds.dir, fmt.Sprintf("cmd%d", len(builds.bins)), filepath.Base(filepath.Clean(pkg)))
	if pkg == "." {
		bin = filepath.Join(filepath.Dir(bin), "ringmaster")
	}
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	builds.bins[pkg] = bin
	return bin
}

// binary is the ringmaster command, built once per test run: signals are
// tested on a real process.
func binary(tb testing.TB) string { return buildCommand(tb, ".") }

func TestMain(m *testing.M) {
	code := m.Run()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	os.Exit(code)
}

// process is a running ringmaster with its output read line by line.
type process struct {
	cmd    *exec.Cmd
	lines  chan string
	mu     gosync.Mutex
	stderr strings.Builder
	done   chan struct{}
}

func start(t *testing.T, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{})}
	var wg gosync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	go func() {
		defer wg.Done()
		raw, _ := io.ReadAll(stderr)
		p.mu.Lock()
		p.stderr.Write(raw)
		p.mu.Unlock()
	}()
	go func() {
		wg.Wait()
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// awaitLine waits for a stdout line containing want.
func (p *process) awaitLine(t *testing.T, want string, within time.Duration) {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("exited before printing %q: %s", want, p.errText())
			}
			if strings.Contains(l, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no line with %q within %v", want, within)
		}
	}
}

// awaitExit waits for the process to end and returns its exit code; not
// ending within the bound is the failure this test exists to catch.
func (p *process) awaitExit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("still running %v after the signal: %s", within, p.errText())
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *process) errText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// TestSignalStopsACommandThatWaits: a command stuck on a server that
// never answers stops on SIGTERM with exit 1 and a message, instead of
// waiting for the server.
func TestSignalStopsACommandThatWaits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c // held open, never answered
		}
	}()
	p := start(t, "validate", "--repo", "http://"+ln.Addr().String()+"/config.git")
	var conn net.Conn
	select {
	case conn = <-accepted:
		defer conn.Close()
	case <-time.After(30 * time.Second):
		t.Fatalf("ringmaster never connected: %s", p.errText())
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.awaitExit(t, 10*time.Second); code != exitError {
		t.Fatalf("exit %d after SIGTERM, want 1: %s", code, p.errText())
	}
	if !strings.Contains(p.errText(), "terminated: stopping") {
		t.Fatalf("no message about the signal: %s", p.errText())
	}
}

// TestSignalStopsApplyWaitingForTheLock: an apply waiting for a lock that
// another holds stops on SIGINT, exits 1, and leaves a record of the
// interrupted attempt that status shows.
func TestSignalStopsApplyWaitingForTheLock(t *testing.T) {
	r := newLiveRepo(t)
	ctx := context.Background()
	other, held := r.holdApplyLock(t)
	defer held.Unlock(ctx)
	p := start(t, r.args("apply", "--auto-approve", "--lock-timeout", "10m")...)
	p.awaitLine(t, "live ("+r.root+")", 2*time.Minute) // the plan is shown; the lock wait follows
	// The plan's last line comes right before the lock wait; wait until the
	// process contends (its lock node appears), so the signal lands there.
	dir := path.Join(r.root, state.ApplyLock)
	timeout := time.After(time.Minute)
	for {
		kids, _, changed, err := other.Conn().ChildrenW(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(kids) == 2 {
			break
		}
		select {
		case <-changed:
		case <-p.done:
			t.Fatalf("apply ended early: %s", p.errText())
		case <-timeout:
			t.Fatalf("apply never contended for the lock: %s", p.errText())
		}
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := p.awaitExit(t, 20*time.Second); code != exitError {
		t.Fatalf("exit %d after SIGINT, want 1: %s", code, p.errText())
	}
	if !strings.Contains(p.errText(), "interrupted while waiting for the lock") {
		t.Fatalf("stderr: %s", p.errText())
	}
	code, stdout, _ := runTo(t, nil, r.args("status")...)
	if code != exitOK || !strings.Contains(stdout, "lock not taken:") || !strings.Contains(stdout, rmsync.ReasonInterrupted) {
		t.Fatalf("status does not record the interrupted attempt: exit %d\n%s", code, stdout)
	}
	if entries, _ := other.Locks(ctx, path.Join(r.root, state.ApplyLock)); len(entries) != 1 {
		t.Fatalf("the interrupted apply left its lock node: %+v", entries)
	}
}
