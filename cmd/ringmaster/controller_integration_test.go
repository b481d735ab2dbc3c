package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// gitRemote is a bare repository on disk, served to controllers as a
// file:// URL, and a clone the test commits and pushes from.
type gitRemote struct {
	url  string
	dir  string // the clone's work tree
	repo *git.Repository
}

func newGitRemote(t *testing.T) *gitRemote {
	t.Helper()
	bare, work := t.TempDir(), t.TempDir()
	main := plumbing.NewBranchReferenceName("main")
	if _, err := git.PlainInitWithOptions(bare, &git.PlainInitOptions{Bare: true, InitOptions: git.InitOptions{DefaultBranch: main}}); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainInitWithOptions(work, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: main}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{bare}}); err != nil {
		t.Fatal(err)
	}
	return &gitRemote{url: "file://" + bare, dir: work, repo: repo}
}

// commit writes files (relative path → content; "" deletes), commits and
// pushes to main.
func (g *gitRemote) commit(t *testing.T, msg string, files map[string]string) {
	t.Helper()
	wt, err := g.repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	for rel, content := range files {
		p := filepath.Join(g.dir, rel)
		if content == "" {
			if _, err := wt.Remove(rel); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(rel); err != nil {
			t.Fatal(err)
		}
	}
	sig := &object.Signature{Name: "test", Email: "test@example.com", When: time.Now()}
	if _, err := wt.Commit(msg, &git.CommitOptions{Author: sig}); err != nil {
		t.Fatal(err)
	}
	if err := g.repo.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []gitconfig.RefSpec{"refs/heads/main:refs/heads/main"}}); err != nil {
		t.Fatal(err)
	}
}

// controllerRepo is the content of a one-environment repository whose
// single ConfigEntry holds v.
func controllerRepo(t *testing.T, z *itest.ZK, root string) map[string]string {
	c := itest.Cluster(t)
	return map[string]string{
		"ringmaster.yaml": "apiVersion: ringmaster.io/v1\nkind: Repository\nmetadata: {name: ctl}\nspec: {}\n",
		"environments/it/environment.yaml": fmt.Sprintf(`apiVersion: ringmaster.io/v1
kind: Environment
metadata: {name: it}
spec:
  cluster:
    datacenters: [dc1, dc2]
    zookeeper:
      servers: [%s]
      root: %s
    cassandra:
      contactPoints: [%s]
      localDatacenter: dc1
  prune: true
`, c.Spec.ZooKeeperConnect(), root, c.Spec.CassandraContactPoints()),
		"base/entry.yaml": entryManifest(1),
	}
}

func entryManifest(v int) string {
	return fmt.Sprintf("apiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: x}\nspec:\n  path: ctl/x\n  value: {v: %d}\n", v)
}

// controllerArgs starts a controller following remote's main branch with
// short timings: a 4 s session, a 300 ms poll.
func controllerArgs(remote *gitRemote, extra ...string) []string {
	return append([]string{"controller", "--repo", remote.url, "--branch", "main", "--env", "it",
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
	remote := newGitRemote(t)
	remote.commit(t, "v1", controllerRepo(t, z, root))

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
	remote.commit(t, "v2", map[string]string{"base/entry.yaml": entryManifest(2)})
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
	remote.commit(t, "v3", map[string]string{"base/entry.yaml": entryManifest(3)})
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
