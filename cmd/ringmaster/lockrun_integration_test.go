package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
		if raw, err := os.ReadFile(p); err == nil && strings.Contains(string(raw), want) {
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
// the kill, five times over.
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
	const failovers = 5
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
		// The killed leader's session lives on for its timeout (4 s); the
		// next candidate is elected when it ends, and starts a process.
		if at < killedAt || time.Duration(at-killedAt) > 4*time.Second+3*time.Second {
			t.Fatalf("failover %d: %s started %v after the kill of %s (session timeout 4s):\n%s", i+1, next[1], time.Duration(at-killedAt), leader, strings.Join(lines, "\n"))
		}
		t.Logf("failover %d: %s started its command %v after the kill of %s", i+1, next[1], time.Duration(at-killedAt).Round(time.Millisecond), leader)
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

// fencedWriterEnv, set in a process of this test binary, makes it a fenced
// writer instead of a test run: the command lock run runs in
// TestLockRunFencesAPausedHolder. It holds the URL of the fenced resource;
// fencedWriterWhoEnv names the writer and fencedWriterLogEnv is the file it
// logs "started TOKEN" and "terminated TOKEN" to.
const (
	fencedWriterEnv    = "RINGMASTER_TEST_FENCED_WRITER"
	fencedWriterWhoEnv = "RINGMASTER_TEST_FENCED_WRITER_WHO"
	fencedWriterLogEnv = "RINGMASTER_TEST_FENCED_WRITER_LOG"
)

func init() {
	if url := os.Getenv(fencedWriterEnv); url != "" {
		os.Exit(fencedWriter(url, os.Getenv(fencedWriterWhoEnv), os.Getenv(fencedWriterLogEnv)))
	}
}

// fencedWriter writes to the fenced resource at url every 50ms with the
// fencing token lock run gave it, until SIGTERM, which it logs before
// exiting 0.
func fencedWriter(url, who, log string) int {
	token := os.Getenv("RINGMASTER_FENCING_TOKEN")
	f, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer f.Close()
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Fprintf(f, "started %s\n", token)
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-term:
			fmt.Fprintf(f, "terminated %s\n", token)
			return 0
		case <-tick.C:
		}
		resp, err := client.Post(url+"/write?who="+who+"&token="+token, "text/plain", nil)
		if err != nil {
			fmt.Fprintf(f, "error %v\n", err)
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// fencedResource is a store guarded by fencing tokens: it refuses (409) a
// write whose token is smaller than the largest it has accepted, and
// records every write it is asked for.
type fencedResource struct {
	mu      sync.Mutex
	highest int64
	writes  []fencedWrite
}

type fencedWrite struct {
	who      string
	token    int64
	accepted bool
}

func (r *fencedResource) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	token, err := strconv.ParseInt(req.URL.Query().Get("token"), 10, 64)
	if req.Method != http.MethodPost || req.URL.Path != "/write" || err != nil {
		http.Error(w, "want POST /write?token=N&who=X", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ok := token >= r.highest
	if ok {
		r.highest = token
	}
	r.writes = append(r.writes, fencedWrite{who: req.URL.Query().Get("who"), token: token, accepted: ok})
	if !ok {
		http.Error(w, fmt.Sprintf("token %d fenced off by %d", token, r.highest), http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// count is the number of writes asked for so far.
func (r *fencedResource) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.writes)
}

// await polls the writes until cond finds what it looks for (cond's index
// is its answer, -1 for not yet), for at most 30s.
func (r *fencedResource) await(t *testing.T, what string, cond func([]fencedWrite) int) ([]fencedWrite, int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.mu.Lock()
		ws := append([]fencedWrite(nil), r.writes...)
		r.mu.Unlock()
		if i := cond(ws); i >= 0 {
			return ws, i
		}
		if time.Now().After(deadline) {
			t.Fatalf("never %s; writes:\n%s", what, fencedWrites(ws))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// firstWrite is a condition of await: the first write by who (accepted,
// if accepted is set) at index from or later.
func firstWrite(who string, from int, accepted bool) func([]fencedWrite) int {
	return func(ws []fencedWrite) int {
		for i := from; i < len(ws); i++ {
			if ws[i].who == who && (ws[i].accepted || !accepted) {
				return i
			}
		}
		return -1
	}
}

func fencedWrites(ws []fencedWrite) string {
	var b strings.Builder
	for i, w := range ws {
		fmt.Fprintf(&b, "%d: %s token %d accepted %v\n", i, w.who, w.token, w.accepted)
	}
	return b.String()
}

// TestLockRunFencesAPausedHolder: a holder's lock run SIGSTOPped past its
// session timeout (its command runs on, writing with its token), another
// lock run gets the lock with a larger token, and the resource refuses the
// old holder's writes from the new holder's first; SIGCONTed, the old
// holder notices the loss, tells its command to stop (SIGTERM) and exits 1.
func TestLockRunFencesAPausedHolder(t *testing.T) {
	dir, _ := lockRunRepo(t)
	res := &fencedResource{}
	srv := httptest.NewServer(res)
	t.Cleanup(srv.Close)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logs := t.TempDir()
	type holder struct {
		cmd  *exec.Cmd
		out  bytes.Buffer
		done chan struct{}
		log  string
	}
	start := func(who string, flags ...string) *holder {
		h := &holder{done: make(chan struct{}), log: filepath.Join(logs, who)}
		args := append([]string{"lock", "run", "--repo", dir, "--env", "it"}, flags...)
		args = append(args, "jobs", "--", self, "-test.run=^$")
		h.cmd = exec.Command(binary(t), args...)
		h.cmd.Env = append(os.Environ(), fencedWriterEnv+"="+srv.URL, fencedWriterWhoEnv+"="+who, fencedWriterLogEnv+"="+h.log)
		h.cmd.Stdout, h.cmd.Stderr = &h.out, &h.out
		if err := h.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = h.cmd.Wait(); close(h.done) }()
		// Never leave a stopped process behind; the writer dies with its
		// lock run (Pdeathsig).
		t.Cleanup(func() {
			_ = h.cmd.Process.Signal(syscall.SIGCONT)
			_ = h.cmd.Process.Kill()
			<-h.done
		})
		return h
	}

	a := start("a", "--zk-session-timeout", "4s")
	ws, i := res.await(t, "a write by holder a accepted", firstWrite("a", 0, true))
	tokenA := ws[i].token
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()

	b := start("b", "--timeout", "60s")
	ws, firstB := res.await(t, "a write by holder b accepted", firstWrite("b", 0, true))
	tokenB := ws[firstB].token
	t.Logf("holder a (token %d) stopped; holder b (token %d) wrote %v later", tokenA, tokenB, time.Since(stoppedAt).Round(time.Millisecond))
	if tokenB <= tokenA {
		t.Fatalf("holder b's token %d is not larger than holder a's %d", tokenB, tokenA)
	}
	select {
	case <-a.done:
		t.Fatalf("holder a ended while stopped:\n%s", a.out.String())
	default:
	}
	// Holder a's command runs on with the old token: the resource refuses it.
	ws, refused := res.await(t, "a write by holder a after holder b's first", firstWrite("a", firstB+1, false))
	if w := ws[refused]; w.accepted || w.token != tokenA {
		t.Fatalf("holder a's write %d after holder b's first (%d): token %d accepted %v, want token %d refused:\n%s", refused, firstB, w.token, w.accepted, tokenA, fencedWrites(ws))
	}
	if raw, _ := os.ReadFile(a.log); strings.Contains(string(raw), "terminated") {
		t.Fatalf("holder a's command was told to stop while its lock run was stopped:\n%s", raw)
	}

	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
		t.Fatalf("holder a did not end within 30s of SIGCONT:\n%s", a.out.String())
	}
	if code := a.cmd.ProcessState.ExitCode(); code != exitError || !strings.Contains(a.out.String(), "lost") {
		t.Fatalf("holder a after SIGCONT: exit %d, want %d saying the lock was lost:\n%s", code, exitError, a.out.String())
	}
	awaitFile(t, a.log, "terminated "+strconv.FormatInt(tokenA, 10))

	// Holder b holds on, and writes on, once holder a is gone.
	ws, _ = res.await(t, "a write by holder b accepted after holder a ended", firstWrite("b", res.count(), true))
	for i, w := range ws {
		switch {
		case w.who == "b" && (!w.accepted || w.token != tokenB):
			t.Fatalf("holder b's write %d: token %d accepted %v:\n%s", i, w.token, w.accepted, fencedWrites(ws))
		case w.who == "a" && i > firstB && w.accepted:
			t.Fatalf("holder a's write %d accepted after holder b's first (%d):\n%s", i, firstB, fencedWrites(ws))
		case w.who == "a" && w.token != tokenA:
			t.Fatalf("holder a's write %d with token %d, not %d:\n%s", i, w.token, tokenA, fencedWrites(ws))
		}
	}
	select {
	case <-b.done:
		t.Fatalf("holder b ended:\n%s", b.out.String())
	default:
	}
}
