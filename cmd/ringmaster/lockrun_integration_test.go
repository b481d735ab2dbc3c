package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/itest"
)

// lockRunRepo is a repository whose environment "it" is rooted at a root
// of the test's own.
func lockRunRepo(t *testing.T) (dir string, z *itest.ZK) {
	t.Helper()
	z = itest.ZooKeeper(t)
	dir = t.TempDir()
	for rel, content := range map[string]string{
		"ringmaster.yaml":                  itest.RepositoryManifest,
		"environments/it/environment.yaml": itest.EnvironmentManifest(t, "it", z.Path("env"), ""),
	} {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, z
}

// awaitFile waits until the file at p holds want.
func awaitFile(t *testing.T, p, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if raw, _ := os.ReadFile(p); strings.Contains(string(raw), want) {
			return
		}
		if time.Now().After(deadline) {
			raw, _ := os.ReadFile(p)
			t.Fatalf("%s never held %q:\n%s", p, want, raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLockRunSerialises: commands run under one lock by concurrent lock
// run processes never overlap (by the times they write), and each gets a
// larger fencing token than the one before.
func TestLockRunSerialises(t *testing.T) {
	dir, _ := lockRunRepo(t)
	log := filepath.Join(t.TempDir(), "log")
	script := `echo "start $RINGMASTER_FENCING_TOKEN $(date +%s%N)" >> ` + log + `; sleep 0.2; echo "end $RINGMASTER_FENCING_TOKEN $(date +%s%N)" >> ` + log
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			out, err := exec.Command(binary(t), "lock", "run", "--repo", dir, "--env", "it", "jobs", "--", "sh", "-c", script).CombinedOutput()
			if err != nil {
				t.Errorf("lock run: %v\n%s", err, out)
			}
		})
	}
	wg.Wait()
	raw, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 8 {
		t.Fatalf("%d lines:\n%s", len(lines), raw)
	}
	lastToken, lastEnd := int64(-1), int64(0)
	for i := 0; i < len(lines); i += 2 {
		s, e := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if s[0] != "start" || e[0] != "end" || s[1] != e[1] {
			t.Fatalf("commands overlapped:\n%s", raw)
		}
		token, _ := strconv.ParseInt(s[1], 10, 64)
		at, _ := strconv.ParseInt(s[2], 10, 64)
		end, _ := strconv.ParseInt(e[2], 10, 64)
		if token <= lastToken || at < lastEnd {
			t.Fatalf("token %d after %d, start %d before the last end %d:\n%s", token, lastToken, at, lastEnd, raw)
		}
		lastToken, lastEnd = token, end
	}
}

// TestLockRunStopsTheCommandWhenTheLockIsLost: cut off from ZooKeeper, a
// lock run tells its command to stop (SIGTERM) and exits 1 naming the
// lock; another process then gets the lock, with a larger token.
func TestLockRunStopsTheCommandWhenTheLockIsLost(t *testing.T) {
	dir, z := lockRunRepo(t)
	proxy := itest.StartProxy(t, z.Servers[0], nil)
	log := filepath.Join(t.TempDir(), "log")
	script := `trap 'echo "terminated $RINGMASTER_FENCING_TOKEN" >> ` + log + `; exit 0' TERM; echo "started $RINGMASTER_FENCING_TOKEN" >> ` + log + `; while :; do sleep 0.05; done`
	holder := exec.Command(binary(t), "lock", "run", "--repo", dir, "--env", "it", "--zk-servers", proxy.Addr(), "--zk-session-timeout", "4s", "jobs", "--", "sh", "-c", script)
	var holderErr bytes.Buffer
	holder.Stderr = &holderErr
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill() })
	awaitFile(t, log, "started")
	proxy.Cut()
	err := holder.Wait()
	if code := holder.ProcessState.ExitCode(); err == nil || code != exitError || !strings.Contains(holderErr.String(), "lost") {
		t.Fatalf("the holder cut off: %v (exit %d)\n%s", err, code, holderErr.String())
	}
	awaitFile(t, log, "terminated")
	out, err := exec.Command(binary(t), "lock", "run", "--repo", dir, "--env", "it", "--timeout", "30s", "jobs", "--", "sh", "-c", `echo "next $RINGMASTER_FENCING_TOKEN" >> `+log).CombinedOutput()
	if err != nil {
		t.Fatalf("the next lock run: %v\n%s", err, out)
	}
	raw, _ := os.ReadFile(log)
	var first, next int64 = -1, -1
	for _, l := range strings.Split(string(raw), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == "started" {
			first, _ = strconv.ParseInt(f[1], 10, 64)
		}
		if len(f) == 2 && f[0] == "next" {
			next, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	if first < 0 || next <= first {
		t.Fatalf("tokens: first %d, next %d:\n%s", first, next, raw)
	}
}

// TestElectRunFailsOver: of three candidates exactly one runs its command
// at any moment; the leader SIGKILLed (its command dies with it), another
// is elected within the session timeout and starts its command only after
// the kill, three times over.
func TestElectRunFailsOver(t *testing.T) {
	dir, _ := lockRunRepo(t)
	log := filepath.Join(t.TempDir(), "log")
	script := `echo "start $CANDIDATE $(date +%s%N)" >> ` + log + `; while :; do sleep 0.05; done`
	procs := map[string]*exec.Cmd{}
	start := func(id string) {
		cmd := exec.Command(binary(t), "elect", "run", "--repo", dir, "--env", "it", "--id", id, "--zk-session-timeout", "4s", "coordinator", "--", "sh", "-c", script)
		cmd.Env = append(os.Environ(), "CANDIDATE="+id)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[id] = cmd
	}
	t.Cleanup(func() {
		for _, p := range procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	})
	starts := func(n int) []string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			raw, _ := os.ReadFile(log)
			lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
			if len(raw) > 0 && len(lines) >= n {
				return lines
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d command start(s), want %d:\n%s", len(lines), n, raw)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, id := range []string{"a", "b", "c"} {
		start(id)
	}
	lines := starts(1)
	const failovers = 3
	for i := range failovers {
		leader := strings.Fields(lines[len(lines)-1])[1]
		killedAt := time.Now().UnixNano()
		p := procs[leader]
		_ = p.Process.Kill()
		_ = p.Wait()
		start(leader) // a candidate again
		lines = starts(i + 2)
		next := strings.Fields(lines[len(lines)-1])
		at, _ := strconv.ParseInt(next[2], 10, 64)
		if at < killedAt || time.Duration(at-killedAt) > 10*time.Second {
			t.Fatalf("failover %d: %s started %v after the kill of %s:\n%s", i+1, next[1], time.Duration(at-killedAt), leader, strings.Join(lines, "\n"))
		}
	}
	if raw, _ := os.ReadFile(log); strings.Count(string(raw), "start") != failovers+1 {
		t.Fatalf("commands started %d times for %d failovers:\n%s", strings.Count(string(raw), "start"), failovers, raw)
	}
	out, _ := exec.Command(binary(t), "elect", "show", "--repo", dir, "--env", "it", "coordinator").CombinedOutput()
	if !strings.Contains(string(out), "leader") || strings.Count(string(out), "candidate") < 2 {
		t.Fatalf("elect show:\n%s", out)
	}
}

// TestLockListShowsNamedLocks: lock list --name shows who holds a lock
// that lock run takes (apply's is the default), and lock release --name
// frees it.
func TestLockListShowsNamedLocks(t *testing.T) {
	dir, _ := lockRunRepo(t)
	log := filepath.Join(t.TempDir(), "log")
	holder := exec.Command(binary(t), "lock", "run", "--repo", dir, "--env", "it", "nightly", "--", "sh", "-c", `echo held >> `+log+`; while :; do sleep 0.05; done`)
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	awaitFile(t, log, "held")
	code, out, errOut := runTo(t, nil, "lock", "list", "--repo", dir, "--env", "it", "--name", "nightly")
	if code != exitOK || !strings.Contains(out, "holder") || !strings.Contains(out, "lock run") {
		t.Fatalf("lock list --name nightly: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := runTo(t, nil, "lock", "list", "--repo", dir, "--env", "it"); code != exitOK || !strings.Contains(out, "locks/apply: free") {
		t.Fatalf("lock list (apply's): exit %d\n%s", code, out)
	}
	if code, _, errOut := runTo(t, nil, "lock", "list", "--repo", dir, "--env", "it", "--name", "../x"); code != exitError || !strings.Contains(errOut, "--name") {
		t.Fatalf("a bad --name: exit %d\n%s", code, errOut)
	}
}
