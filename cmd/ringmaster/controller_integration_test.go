package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/controller"
	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/livestore"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// controllerRepo is the content of a one-environment repository whose
// single ConfigEntry holds v.
func controllerRepo(t *testing.T, z *itest.ZK, root string) map[string]string {
	return map[string]string{
		"ringmaster.yaml":                  itest.RepositoryManifest,
		"environments/it/environment.yaml": itest.EnvironmentManifest(t, "it", root, "  prune: true\n"),
		"base/entry.yaml":                  entryManifest(1),
	}
}

func entryManifest(v int) string {
	return fmt.Sprintf("apiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: x}\nspec:\n  path: ctl/x\n  value: {v: %d}\n", v)
}

// controllerArgs starts a controller following remote's main branch with
// short timings: a 4 s session, a 300 ms poll.
func controllerArgs(remote *itest.GitRemote, extra ...string) []string {
	return append([]string{"controller", "--repo", remote.URL, "--branch", "main", "--env", "it",
		"--interval", "300ms", "--backoff-min", "200ms", "--listen", "127.0.0.1:0", "--zk-session-timeout", "4s", "--log-level", "debug"}, extra...)
}

// awaitZnode waits, with watches, until the znode at p holds want.
func awaitZnode(t *testing.T, conn *gozk.Conn, p, want string, within time.Duration) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		_, _ = conn.Sync(p)
		data, _, ev, err := conn.GetW(p)
		if err == gozk.ErrNoNode {
			var ok bool
			ok, _, ev, err = conn.ExistsW(p)
			if ok {
				continue
			}
		}
		if err != nil && err != gozk.ErrNoNode {
			t.Fatalf("watch %s: %v", p, err)
		}
		if string(data) == want {
			return
		}
		select {
		case <-ev:
		case <-deadline.C:
			t.Fatalf("%s is %q after %v, want %q", p, data, within, want)
		}
	}
}

// electionHolder waits until the controller election's first contender
// satisfies ok and returns its pid.
func electionHolder(t *testing.T, c *zk.Client, dir string, within time.Duration, ok func(pid int) bool) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		locks, err := c.Locks(ctx, dir)
		if err == nil && len(locks) > 0 && ok(locks[0].Holder.PID) {
			return locks[0].Holder.PID
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no election holder as wanted within %v (contenders %v, %v)", within, locks, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func readStatus(t *testing.T, z *itest.ZK, root string) (rmsync.Status, int64) {
	t.Helper()
	conn := z.Synced(t)
	var st rmsync.Status
	var gen rmsync.Generation
	for p, v := range map[string]any{path.Join(root, state.StatusPath): &st, path.Join(root, state.GenerationPath): &gen} {
		data, _, err := conn.Get(p)
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatal(err)
		}
	}
	return st, gen.Generation
}

// TestControllerFailover: three controller processes follow a Git
// repository; each commit is applied once. SIGKILL the leader: another
// takes over and applies the next commit. SIGSTOP the next leader past
// its session timeout, let another apply, SIGCONT it: it writes nothing.
// SIGTERM stops every one cleanly, exit 0.
func TestControllerFailover(t *testing.T) {
	itest.Disruptive(t)
	z := itest.ZooKeeper(t)
	root := z.Path("env")
	remote := itest.NewGitRemote(t)
	remote.Commit(t, "v1", controllerRepo(t, z, root))

	procs := map[int]*process{}
	for range 3 {
		p := start(t, controllerArgs(remote)...)
		procs[p.cmd.Process.Pid] = p
	}
	entry := path.Join(root, state.ConfigDir, "ctl/x")
	awaitZnode(t, z.Conn, entry, `{"v":1}`, 60*time.Second)

	c, err := zk.Connect(context.Background(), zk.Config{Servers: z.Servers})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	election := path.Join(root, state.ControllerElection)
	alive := func(pid int) bool { return procs[pid] != nil }
	leader := electionHolder(t, c, election, 30*time.Second, alive)

	// SIGKILL the leader, then push: another controller applies it.
	if err := procs[leader].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-procs[leader].done
	delete(procs, leader)
	remote.Commit(t, "v2", map[string]string{"base/entry.yaml": entryManifest(2)})
	awaitZnode(t, z.Conn, entry, `{"v":2}`, 60*time.Second)
	st, gen := readStatus(t, z, root)
	if gen != 2 {
		t.Fatalf("generation %d after two commits: something was applied twice or lost", gen)
	}
	if strings.Contains(st.LastAppliedBy, fmt.Sprintf("pid %d", leader)) {
		t.Fatalf("the killed leader (pid %d) applied v2: %s", leader, st.LastAppliedBy)
	}

	// SIGSTOP the new leader past its session: the third one takes over.
	stopped := electionHolder(t, c, election, 30*time.Second, alive)
	if err := procs[stopped].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = procs[stopped].cmd.Process.Signal(syscall.SIGCONT) })
	third := electionHolder(t, c, election, 30*time.Second, func(pid int) bool { return alive(pid) && pid != stopped })
	remote.Commit(t, "v3", map[string]string{"base/entry.yaml": entryManifest(3)})
	awaitZnode(t, z.Conn, entry, `{"v":3}`, 60*time.Second)
	if err := procs[stopped].cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// The resumed one finds its session gone and campaigns again, behind
	// the leader: once it is back in the election, it has written
	// whatever it was going to.
	deadline := time.Now().Add(30 * time.Second)
	for {
		locks, err := c.Locks(context.Background(), election)
		found := false
		for _, l := range locks {
			found = found || l.Holder.PID == stopped
		}
		if err == nil && found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the resumed controller did not campaign again: %v, %v", locks, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, gen = readStatus(t, z, root)
	if gen != 3 || !strings.Contains(st.LastAppliedBy, fmt.Sprintf("pid %d", third)) {
		t.Fatalf("after the resumed controller: generation %d (want 3), last applied by %s (want pid %d)", gen, st.LastAppliedBy, third)
	}
	if data, _, err := z.Synced(t).Get(entry); err != nil || string(data) != `{"v":3}` {
		t.Fatalf("entry %q, %v after the resumed controller", data, err)
	}

	// SIGTERM: each stops within its grace, exit 0.
	for pid, p := range procs {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.done:
		case <-time.After(controllerGrace + 5*time.Second):
			t.Fatalf("controller %d did not stop within its grace after SIGTERM", pid)
		}
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("controller %d exited %d after SIGTERM:\n%s", pid, code, p.errText())
		}
	}
	if locks, err := c.Locks(context.Background(), election); err != nil || len(locks) != 0 {
		t.Fatalf("election contenders left after every controller stopped: %v, %v", locks, err)
	}
}

// freeAddr is a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// awaitHTTP waits until GET url answers 200.
func awaitHTTP(t *testing.T, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s not 200 within %v: %v", url, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func post(t *testing.T, url string, body []byte, header map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// scrape returns the value of the metric series line that starts with
// series (name and labels as Prometheus prints them), 0 when absent.
func scrape(t *testing.T, url, series string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return v
		}
	}
	return 0
}

// awaitMetric waits until series reaches at least want.
func awaitMetric(t *testing.T, url, series string, want float64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v := scrape(t, url, series)
		if v >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after %v, want %v", series, v, within, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const denyDeletes = `apiVersion: ringmaster.io/v1
kind: Policy
metadata: {name: guard}
spec:
  rules:
    - name: entries-are-not-deleted
      match: change
      kinds: [ConfigEntry]
      expression: "change.action != 'delete'"
      message: "{{change.id}} may not be deleted"
      severity: deny
`

// controllerSign is the signature a webhook sender computes.
func controllerSign(secret string, body []byte) string { return controller.Sign([]byte(secret), body) }

// TestControllerWebhookAndStalledCommit: with a one-hour poll, only the
// webhook brings a commit in: an unsigned or badly signed request gets
// 401 and triggers nothing, a signed one triggers a reconcile at once. A
// commit a policy denies stalls (status says why); the fix pushed right
// after is applied at once, not after the backoff of the bad one. The
// metrics scraped say so.
func TestControllerWebhookAndStalledCommit(t *testing.T) {
	z := itest.ZooKeeper(t)
	root := z.Path("env")
	remote := itest.NewGitRemote(t)
	files := controllerRepo(t, z, root)
	files["policies/guard.yaml"] = denyDeletes
	remote.Commit(t, "v1", files)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	// No drift watch: with an hour between polls, only the webhook brings
	// a commit in (the watches would see the first apply's own writes and
	// reconcile once more, taking the commit pushed meanwhile).
	ctl := start(t, controllerArgs(remote, "--interval", "1h", "--drift", "off", "--backoff-min", "30m", "--backoff-max", "1h",
		"--listen", addr, "--webhook-secret-file", secret, "--webhook-path", "/hooks/test")...)
	entry := path.Join(root, state.ConfigDir, "ctl/x")
	awaitZnode(t, z.Conn, entry, `{"v":1}`, 60*time.Second)
	base := "http://" + addr
	awaitHTTP(t, base+"/readyz", 30*time.Second)
	success := `ringmaster_reconcile_total{environment="it",result="applied"}`
	awaitMetric(t, base+"/metrics", success, 1, 30*time.Second)
	if v := scrape(t, base+"/metrics", `ringmaster_controller_leader{environment="it"}`); v != 1 {
		t.Fatalf("leader gauge %v, want 1", v)
	}

	remote.Commit(t, "v2", map[string]string{"base/entry.yaml": entryManifest(2)})
	body := []byte(`{"ref":"refs/heads/main"}`)
	for name, hdr := range map[string]map[string]string{
		"no signature":      nil,
		"wrong secret":      {"X-Hub-Signature-256": controllerSign("other", body)},
		"wrong gitlab":      {"X-Gitlab-Token": "nope"},
		"signed other body": {"X-Ringmaster-Signature": controllerSign("s3cret", []byte("{}"))},
	} {
		if code := post(t, base+"/hooks/test", body, hdr); code != http.StatusUnauthorized {
			t.Fatalf("%s: status %d, want 401", name, code)
		}
	}
	if code := post(t, base+"/hooks/guess", body, map[string]string{"X-Hub-Signature-256": controllerSign("s3cret", body)}); code != http.StatusNotFound {
		t.Fatalf("another path: status %d, want 404", code)
	}
	// (A reconcile may follow the first apply's own writes, seen by the
	// watches: it finds nothing to do. None may apply the pushed commit.)
	if n := scrape(t, base+"/metrics", success); n != 1 {
		t.Fatalf("%v applies after refused webhooks, want still 1", n)
	}
	if data, _, err := z.Synced(t).Get(entry); err != nil || string(data) != `{"v":1}` {
		t.Fatalf("entry %q, %v: a refused webhook triggered a reconcile", data, err)
	}
	if code := post(t, base+"/hooks/test", body, map[string]string{"X-Hub-Signature-256": controllerSign("s3cret", body)}); code != http.StatusAccepted {
		t.Fatalf("signed webhook: status %d, want 202", code)
	}
	awaitZnode(t, z.Conn, entry, `{"v":2}`, 30*time.Second)

	// A denied commit stalls; the fix right after goes in at once.
	remote.Commit(t, "delete x", map[string]string{"base/entry.yaml": ""})
	if code := post(t, base+"/hooks/test", body, map[string]string{"X-Gitlab-Token": "s3cret"}); code != http.StatusAccepted {
		t.Fatalf("gitlab webhook: status %d", code)
	}
	t.Cleanup(func() {
		if t.Failed() {
			_ = ctl.cmd.Process.Kill()
			<-ctl.done
			t.Logf("controller log:\n%s", ctl.errText())
		}
	})
	awaitMetric(t, base+"/metrics", `ringmaster_reconcile_errors_total{class="stalled",environment="it"}`, 1, 30*time.Second)
	st, _ := readStatus(t, z, root)
	if st.Ready().Reason != rmsync.ReasonPolicyDenied {
		t.Fatalf("status after the denied commit: %+v", st.Ready())
	}
	remote.Commit(t, "fix", map[string]string{"base/entry.yaml": entryManifest(5)})
	if code := post(t, base+"/hooks/test", body, map[string]string{"X-Ringmaster-Signature": controllerSign("s3cret", body)}); code != http.StatusAccepted {
		t.Fatalf("generic webhook: status %d", code)
	}
	awaitZnode(t, z.Conn, entry, `{"v":5}`, 30*time.Second)
	if st, _ := readStatus(t, z, root); st.Ready().Status != "True" {
		t.Fatalf("status after the fix: %+v", st.Ready())
	}

	// The real scrape passes promtool's checks.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	check := exec.Command("promtool", "check", "metrics")
	check.Stdin = bytes.NewReader(raw)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics on the controller's scrape: %v\n%s", err, out)
	}
}

// TestControllerRequestsAndSuspension: `reconcile --wait` returns the
// answer of the reconcile it asked for; a suspended environment gets no
// writes (the answer says suspended, exit 1) until `resume`; a suspension
// with --for ends by itself and the next reconcile says so by applying.
func TestControllerRequestsAndSuspension(t *testing.T) {
	z := itest.ZooKeeper(t)
	root := z.Path("env")
	remote := itest.NewGitRemote(t)
	remote.Commit(t, "v1", controllerRepo(t, z, root))
	start(t, controllerArgs(remote, "--interval", "1h", "--drift", "off")...)
	entry := path.Join(root, state.ConfigDir, "ctl/x")
	awaitZnode(t, z.Conn, entry, `{"v":1}`, 60*time.Second)
	cli := func(args ...string) (int, string, string) {
		return runTo(t, nil, append(args, "--repo", remote.Dir, "--env", "it")...)
	}

	remote.Commit(t, "v2", map[string]string{"base/entry.yaml": entryManifest(2)})
	code, out, errOut := cli("reconcile", "--wait", "--timeout", "60s", "--reason", "test")
	if code != exitOK || !strings.Contains(out, "applied: 1 change(s) applied") || !strings.Contains(out, "generation 2,") {
		t.Fatalf("reconcile --wait: exit %d\n%s\n%s", code, out, errOut)
	}
	if data, _, err := z.Synced(t).Get(entry); err != nil || string(data) != `{"v":2}` {
		t.Fatalf("after reconcile --wait returned: %q, %v", data, err)
	}
	if code, out, _ := cli("reconcile", "--wait", "--timeout", "60s"); code != exitOK || !strings.Contains(out, "no_change") {
		t.Fatalf("a second reconcile: exit %d\n%s", code, out)
	}

	if code, out, errOut := cli("suspend", "--reason", "incident 42"); code != exitOK || !strings.Contains(out, "incident 42") {
		t.Fatalf("suspend: exit %d\n%s\n%s", code, out, errOut)
	}
	remote.Commit(t, "v3", map[string]string{"base/entry.yaml": entryManifest(3)})
	if code, out, _ := cli("reconcile", "--wait", "--timeout", "60s"); code != exitError || !strings.Contains(out, "suspended") {
		t.Fatalf("reconcile of a suspended environment: exit %d\n%s", code, out)
	}
	if data, _, _ := z.Synced(t).Get(entry); string(data) != `{"v":2}` {
		t.Fatalf("a suspended environment was written: %q", data)
	}
	if code, out, _ := cli("status"); code != exitOK || !strings.Contains(out, "suspended:") || !strings.Contains(out, "incident 42") || !strings.Contains(out, "controller leader:") {
		t.Fatalf("status of a suspended environment: exit %d\n%s", code, out)
	}
	if code, out, _ := cli("resume"); code != exitOK || !strings.Contains(out, "resumed it") {
		t.Fatalf("resume: exit %d\n%s", code, out)
	}
	if code, out, _ := cli("reconcile", "--wait", "--timeout", "60s"); code != exitOK || !strings.Contains(out, "applied") {
		t.Fatalf("reconcile after resume: exit %d\n%s", code, out)
	}

	// A suspension that runs out ends by itself at the next reconcile.
	if code, _, _ := cli("suspend", "--reason", "short", "--for", "1s"); code != exitOK {
		t.Fatal("suspend --for failed")
	}
	remote.Commit(t, "v4", map[string]string{"base/entry.yaml": entryManifest(4)})
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, out, _ := cli("reconcile", "--wait", "--timeout", "60s")
		if code == exitOK && strings.Contains(out, "generation 4") {
			break // applied now, or by a reconcile just before
		}
		if !strings.Contains(out, "suspended") || time.Now().After(deadline) {
			t.Fatalf("reconcile while the short suspension runs out: exit %d\n%s", code, out)
		}
	}
	if data, _, _ := z.Synced(t).Get(entry); string(data) != `{"v":4}` {
		t.Fatalf("after the suspension ran out: %q", data)
	}
	if s, err := rmsync.ReadSuspension(context.Background(), livestore.Tree{Client: mustZK(t, z)}, root); err != nil || s != nil {
		t.Fatalf("the expired suspension is still recorded: %+v, %v", s, err)
	}
}

func mustZK(t *testing.T, z *itest.ZK) *zk.Client {
	t.Helper()
	c, err := zk.Connect(context.Background(), zk.Config{Servers: z.Servers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}
