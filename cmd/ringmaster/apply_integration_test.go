package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// liveRepo is a small configuration repository for one test: its own
// ZooKeeper root and keyspace names, environment "it" pointing at the test
// cluster.
type liveRepo struct {
	dir      string
	env      string
	root     string
	keyspace string
	z        *itest.ZK
}

// newLiveRepo writes a repository with one keyspace (two tables), flags,
// config entries and node settings into a temporary folder.
func newLiveRepo(t *testing.T) *liveRepo {
	t.Helper()
	z := itest.ZooKeeper(t)
	session := itest.Cassandra(t, "dc1")
	r := &liveRepo{dir: t.TempDir(), env: "it", root: z.Path("env"), keyspace: itest.Keyspace(t, session), z: z}
	r.write("ringmaster.yaml", itest.RepositoryManifest)
	r.write("environments/it/environment.yaml", itest.EnvironmentManifest(t, "it", r.root,
		fmt.Sprintf("  guardrails: {minReplication: 1, maxReplication: 2}\n  prune: true\n  variables:\n    ks: %s\n", r.keyspace)))
	r.write("base/schema.yaml", `apiVersion: ringmaster.io/v1
kind: Keyspace
metadata: {name: KS}
spec:
  replication: {class: NetworkTopologyStrategy, dc1: 1, dc2: 1}
---
apiVersion: ringmaster.io/v1
kind: Table
metadata: {name: events}
spec:
  keyspace: KS
  columns:
    - {name: id, type: uuid}
    - {name: at, type: timestamp}
    - {name: body, type: text}
  primaryKey:
    partition: [id]
    clustering: [{column: at, order: desc}]
  options:
    comment: test events
    gc_grace_seconds: 86400
`)
	r.write("base/config.yaml", `apiVersion: ringmaster.io/v1
kind: ConfigEntry
metadata: {name: pipeline}
spec:
  path: ingest/pipeline
  value: {batch: 100, sources: [a, b]}
---
apiVersion: ringmaster.io/v1
kind: FeatureFlag
metadata: {name: new-path}
spec:
  state: ENABLED
  variants: {"on": true, "off": false}
  defaultVariant: "off"
  targeting: {fractional: [["on", 10], ["off", 90]]}
---
apiVersion: ringmaster.io/v1
kind: NodeSettings
metadata: {name: dc2}
spec:
  selector: {datacenter: dc2}
  settings: {compaction_throughput: 32MiB/s}
`)
	return r
}

// write puts a file in the repository; "KS" in manifests stands for the
// test's keyspace name.
func (r *liveRepo) write(rel, content string) {
	content = strings.ReplaceAll(content, "name: KS}", "name: "+r.keyspace+"}")
	content = strings.ReplaceAll(content, "keyspace: KS\n", "keyspace: "+r.keyspace+"\n")
	p := filepath.Join(r.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		panic(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		panic(err)
	}
}

func (r *liveRepo) args(cmd string, extra ...string) []string {
	return append([]string{cmd, "--repo", r.dir, "--env", r.env}, extra...)
}

// run runs ringmaster with stdout going to w (nil: captured).
func runTo(t *testing.T, w *bytes.Buffer, args ...string) (int, string, string) {
	t.Helper()
	var errb bytes.Buffer
	if w == nil {
		w = &bytes.Buffer{}
	}
	code := run(context.Background(), args, w, &errb)
	return code, w.String(), errb.String()
}

// get reads a znode below the root after a sync: the test's session may
// be on a server that has not seen ringmaster's writes yet.
func (r *liveRepo) get(t *testing.T, rel string) ([]byte, error) {
	t.Helper()
	p := path.Join(r.root, rel)
	if _, err := r.z.Conn.Sync(p); err != nil {
		return nil, err
	}
	data, _, err := r.z.Conn.Get(p)
	return data, err
}

// exists tells whether a znode below the root exists, after a sync.
func (r *liveRepo) exists(t *testing.T, rel string) bool {
	t.Helper()
	p := path.Join(r.root, rel)
	_, _ = r.z.Conn.Sync(p)
	ok, _, err := r.z.Conn.Exists(p)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func (r *liveRepo) status(t *testing.T) rmsync.Status {
	t.Helper()
	data, err := r.get(t, state.StatusPath)
	if err != nil {
		t.Fatalf("read status: %v", err)
	}
	var st rmsync.Status
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func (r *liveRepo) generation(t *testing.T) int64 {
	t.Helper()
	data, err := r.get(t, state.GenerationPath)
	if err != nil {
		t.Fatalf("read generation: %v", err)
	}
	var g rmsync.Generation
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return g.Generation
}

// TestApplyConverges: apply, then diff shows nothing; a change applies as
// one new generation; status tells what happened.
func TestApplyConverges(t *testing.T) {
	r := newLiveRepo(t)
	code, stdout, stderr := runTo(t, nil, r.args("diff", "--detailed-exitcode")...)
	if code != exitChanges || !strings.Contains(stdout, "+ keyspace "+r.keyspace) {
		t.Fatalf("first diff: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runTo(t, nil, r.args("apply", "--auto-approve")...)
	if code != exitOK {
		t.Fatalf("apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runTo(t, nil, r.args("diff", "--detailed-exitcode")...)
	if code != exitOK || !strings.Contains(stdout, "No changes") {
		t.Fatalf("diff after apply: exit %d, want 0 and no changes\n%s\n%s", code, stdout, stderr)
	}
	if g := r.generation(t); g != 1 {
		t.Fatalf("generation %d after the first apply, want 1", g)
	}
	data, err := r.get(t, "data/config/ingest/pipeline")
	if err != nil || string(data) != `{"batch":100,"sources":["a","b"]}` {
		t.Fatalf("config znode: %q, %v", data, err)
	}
	st := r.status(t)
	if st.Ready() == nil || st.Ready().Status != "True" || !strings.HasPrefix(st.LastAppliedRevision, "working tree") {
		t.Fatalf("status after apply: %+v", st)
	}

	r.write("base/config.yaml", strings.Replace(readFile(t, filepath.Join(r.dir, "base/config.yaml")), "batch: 100", "batch: 250", 1))
	if code, stdout, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...); code != exitOK {
		t.Fatalf("second apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if g := r.generation(t); g != 2 {
		t.Fatalf("generation %d after the second apply, want 2", g)
	}
	// Applying again with nothing to change keeps the generation.
	if code, _, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...); code != exitOK {
		t.Fatalf("idle apply: exit %d: %s", code, stderr)
	}
	if g := r.generation(t); g != 2 {
		t.Fatalf("generation %d after an apply with no changes, want 2", g)
	}
	code, stdout, _ = runTo(t, nil, r.args("status")...)
	if code != exitOK || !strings.Contains(stdout, "generation:         2") || !strings.Contains(stdout, "lock:               free") {
		t.Fatalf("status: exit %d\n%s", code, stdout)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestStalePlanIsRefused: a managed znode changed between plan and apply.
func TestStalePlanIsRefused(t *testing.T) {
	r := newLiveRepo(t)
	if code, _, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...); code != exitOK {
		t.Fatalf("apply: %s", stderr)
	}
	r.write("base/config.yaml", strings.Replace(readFile(t, filepath.Join(r.dir, "base/config.yaml")), "batch: 100", "batch: 300", 1))
	planFile := filepath.Join(t.TempDir(), "plan.json")
	if code, stdout, stderr := runTo(t, nil, r.args("plan", "-out", planFile)...); code != exitOK {
		t.Fatalf("plan: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// Someone edits a managed znode by hand.
	p := path.Join(r.root, "data/flags/new-path")
	if _, err := r.z.Conn.Set(p, []byte(`{"state":"DISABLED"}`), -1); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runTo(t, nil, "apply", planFile)
	if code != exitError || !strings.Contains(stderr, "stale plan") || !strings.Contains(stderr, "znode data/flags/new-path: version 0 at plan time, now version 1") {
		t.Fatalf("stale apply: exit %d, stderr:\n%s", code, stderr)
	}
	st := r.status(t)
	if st.Ready().Reason != rmsync.ReasonStalePlan {
		t.Fatalf("status reason %q, want %s", st.Ready().Reason, rmsync.ReasonStalePlan)
	}
	// The live diff shows the hand edit as drift.
	_, stdout, _ := runTo(t, nil, r.args("diff")...)
	if !strings.Contains(stdout, "drift") {
		t.Errorf("diff does not report the drift:\n%s", stdout)
	}
}

// holdApplyLock takes the environment's apply lock as another process
// would (alice@build-7, pid 4242), on a session of its own that the test's
// cleanup closes.
func (r *liveRepo) holdApplyLock(t *testing.T) (*zk.Client, *zk.Lock) {
	t.Helper()
	ctx := context.Background()
	other, err := zk.Connect(ctx, zk.Config{Servers: r.z.Servers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	held, err := other.Lock(ctx, path.Join(r.root, state.ApplyLock), zk.HolderInfo{User: "alice", Host: "build-7", PID: 4242, Command: "ringmaster apply --env it", Since: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	return other, held
}

// TestLockHeldByAnother: apply waits saying for whom, then times out
// naming the holder; the lock can be listed and released by its id.
func TestLockHeldByAnother(t *testing.T) {
	r := newLiveRepo(t)
	_, held := r.holdApplyLock(t)
	code, stdout, stderr := runTo(t, nil, r.args("apply", "--auto-approve", "--lock-timeout", "3s")...)
	if code != exitError {
		t.Fatalf("apply under a held lock: exit %d", code)
	}
	if !strings.Contains(stdout, "for the apply lock, held by alice@build-7 pid 4242") || !strings.Contains(stdout, held.ID()) {
		t.Errorf("a waiting apply does not say whom it waits for:\n%s", stdout)
	}
	for _, want := range []string{"alice@build-7", "4242", held.ID()} {
		if !strings.Contains(stderr, want) {
			t.Errorf("lock timeout error lacks %q:\n%s", want, stderr)
		}
	}
	code, stdout, _ = runTo(t, nil, r.args("status")...)
	if code != exitOK || !strings.Contains(stdout, "lock not taken:") || !strings.Contains(stdout, "LockTimeout") || !strings.Contains(stdout, "lock holder:        alice@build-7") {
		t.Errorf("status does not show the timed-out attempt and the holder: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runTo(t, nil, r.args("lock", "list")...)
	if code != exitOK || !strings.Contains(stdout, held.ID()) || !strings.Contains(stdout, "alice@build-7") {
		t.Fatalf("lock list: exit %d\n%s", code, stdout)
	}
	if code, _, stderr := runTo(t, nil, r.args("lock", "release", "_c_0123456789abcdef0123456789abcdef-lock-0000009999")...); code != exitError || !strings.Contains(stderr, held.ID()) {
		t.Fatalf("release of an unknown id: exit %d, stderr lists no ids:\n%s", code, stderr)
	}
	if code, _, stderr := runTo(t, nil, r.args("lock", "release", held.ID())...); code != exitOK {
		t.Fatalf("lock release: %s", stderr)
	}
	select {
	case <-held.Lost():
	case <-time.After(30 * time.Second):
		t.Fatal("the released holder was not told it lost the lock")
	}
	if code, _, stderr := runTo(t, nil, r.args("apply", "--auto-approve", "--lock-timeout", "10s")...); code != exitOK {
		t.Fatalf("apply after release: %s", stderr)
	}
}

// TestPolicyDenyIsRecorded: SimpleStrategy in a two-datacenter environment.
func TestPolicyDenyIsRecorded(t *testing.T) {
	r := newLiveRepo(t)
	r.write("base/schema.yaml", strings.Replace(readFile(t, filepath.Join(r.dir, "base/schema.yaml")),
		"{class: NetworkTopologyStrategy, dc1: 1, dc2: 1}", "{class: SimpleStrategy, replication_factor: 1}", 1))
	code, _, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...)
	if code != exitError || !strings.Contains(stderr, "RM-POL-002") {
		t.Fatalf("apply with a deny: exit %d\n%s", code, stderr)
	}
	if st := r.status(t); st.Ready().Reason != rmsync.ReasonPolicyDenied {
		t.Fatalf("status reason %q", st.Ready().Reason)
	}
	if r.exists(t, "data/config/ingest/pipeline") {
		t.Fatal("a denied apply wrote data")
	}
}

// TestUnknownDatacenterIsRefused: the environment names dc3, the cluster
// has no dc3.
func TestUnknownDatacenterIsRefused(t *testing.T) {
	r := newLiveRepo(t)
	r.write("environments/it/environment.yaml", strings.Replace(readFile(t, filepath.Join(r.dir, "environments/it/environment.yaml")), "datacenters: [dc1, dc2]", "datacenters: [dc1, dc2, dc3]", 1))
	r.write("base/schema.yaml", strings.Replace(readFile(t, filepath.Join(r.dir, "base/schema.yaml")), "dc1: 1, dc2: 1}", "dc1: 1, dc2: 1, dc3: 1}", 1))
	code, _, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...)
	if code != exitError || !strings.Contains(stderr, "RM-LIVE-001") || !strings.Contains(stderr, "dc3") {
		t.Fatalf("apply naming dc3: exit %d\n%s", code, stderr)
	}
}

// triggerWriter calls fn once, synchronously, when a line containing
// marker is written: the apply waits while fn disrupts the cluster.
type triggerWriter struct {
	bytes.Buffer
	marker string
	once   gosync.Once
	fn     func()
}

func (w *triggerWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.marker) {
		w.once.Do(w.fn)
	}
	return w.Buffer.Write(p)
}

// TestApplySurvivesKilledZooKeeperServer: a ZooKeeper server is SIGKILLed
// just before the apply's ZooKeeper writes; the apply completes through
// the other two.
func TestApplySurvivesKilledZooKeeperServer(t *testing.T) {
	c := itest.Disruptive(t)
	r := newLiveRepo(t)
	var killed string
	w := &triggerWriter{marker: "zookeeper:", fn: func() {
		modes, err := c.ZooKeeperModes(context.Background())
		if err != nil {
			t.Errorf("modes: %v", err)
			return
		}
		for name, m := range modes {
			if m == "leader" {
				killed = name
			}
		}
		if err := c.Kill(killed); err != nil {
			t.Errorf("kill %s: %v", killed, err)
		}
	}}
	t.Cleanup(func() {
		if killed == "" {
			return
		}
		if err := c.StartZooKeeper(killed); err != nil {
			t.Errorf("restart %s: %v", killed, err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := c.WaitZooKeeper(ctx); err != nil {
			t.Errorf("ensemble after restart: %v", err)
		}
	})
	var errb bytes.Buffer
	code := run(context.Background(), r.args("apply", "--auto-approve"), w, &errb)
	if killed == "" {
		t.Fatalf("the apply never reached its ZooKeeper writes:\n%s\n%s", w.String(), errb.String())
	}
	if code != exitOK {
		t.Fatalf("apply with %s killed: exit %d\n%s\n%s", killed, code, w.String(), errb.String())
	}
	if g := r.generation(t); g != 1 {
		t.Fatalf("generation %d, want 1", g)
	}
	if code, stdout, stderr := runTo(t, nil, r.args("diff", "--detailed-exitcode")...); code != exitOK {
		t.Fatalf("diff after the apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestCassandraNodeDownDuringDDL: with cass2 stopped the schema change
// fails clearly, status lists what was and was not applied, and once the
// node is back the same apply converges.
func TestCassandraNodeDownDuringDDL(t *testing.T) {
	c := itest.Disruptive(t)
	r := newLiveRepo(t)
	restart := itest.StopServer(t, c, "cass2")
	code, stdout, stderr := runTo(t, nil, r.args("apply", "--auto-approve", "--schema-agreement-timeout", "10s")...)
	if code != exitError {
		t.Fatalf("apply with cass2 down: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "keyspace/"+r.keyspace) {
		t.Errorf("error does not name the change:\n%s", stderr)
	}
	st := r.status(t)
	if st.Ready() == nil || st.Ready().Status != "False" || st.LastAppliedRevision != "" {
		t.Fatalf("status after a failed apply: %+v", st)
	}
	var failed, pending int
	for _, res := range st.Results {
		switch res.Result {
		case rmsync.ResultFailed:
			failed++
		case rmsync.ResultPending:
			pending++
		}
	}
	if failed != 1 || pending == 0 {
		t.Fatalf("results: %d failed, %d not attempted, want 1 and some: %+v", failed, pending, st.Results)
	}
	if r.exists(t, "data/config/ingest/pipeline") {
		t.Fatal("ZooKeeper data was written although the schema change failed")
	}
	restart()
	if code, stdout, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...); code != exitOK {
		t.Fatalf("apply after cass2 is back: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, stdout, _ := runTo(t, nil, r.args("diff", "--detailed-exitcode")...); code != exitOK {
		t.Fatalf("not converged:\n%s", stdout)
	}
}
