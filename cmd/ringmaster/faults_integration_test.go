package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/livestore"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// releasingSchema is the real Cassandra driver with one fault: right before
// the statements of a change run (after apply proved it holds the lock),
// another process releases the lock, as if this apply had been paused past
// its session and a newer apply had taken over.
type releasingSchema struct {
	livestore.Schema
	other *zk.Client
	dir   string
	done  bool
}

func (s *releasingSchema) Apply(ctx context.Context, stmt string) error {
	if !s.done {
		s.done = true
		locks, err := s.other.Locks(ctx, s.dir)
		if err != nil || len(locks) == 0 {
			return errors.Join(errors.New("no lock to release"), err)
		}
		if err := s.other.ReleaseLock(ctx, s.dir, locks[0].ID); err != nil {
			return err
		}
	}
	return s.Schema.Apply(ctx, stmt)
}

// TestDDLAfterLockLossIsNotApplied: Cassandra has no conditional DDL, so a
// statement can run after its apply lost the lock; apply proves the lock
// right before and right after each statement, so such a change is
// recorded as unknown ("ran after the lock may have been lost: verify"),
// never as applied, nothing more runs, and the next apply records the
// interrupted one and converges.
func TestDDLAfterLockLossIsNotApplied(t *testing.T) {
	r := newLiveRepo(t)
	ctx := context.Background()
	if code, _, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...); code != exitOK {
		t.Fatalf("apply: %s", stderr)
	}
	schemaFile := filepath.Join(r.dir, "base/schema.yaml")
	r.write("base/schema.yaml", strings.Replace(readFile(t, schemaFile), "comment: test events", "comment: B3", 1))
	r.write("base/config.yaml", strings.Replace(readFile(t, filepath.Join(r.dir, "base/config.yaml")), "batch: 100", "batch: 7", 1))

	var cf clusterFlags
	cf.register(newCmdline("apply", "", nil, nil).fs, useZK|useCassandra|useApply)
	target, err := loadTarget(ctx, repoFlags{repo: r.dir, env: r.env}, &cf)
	if err != nil {
		t.Fatal(err)
	}
	d, err := cf.connect(ctx, target.Desired.Cluster)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	other, err := zk.Connect(ctx, zk.Config{Servers: r.z.Servers})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	dir := path.Join(r.root, state.ApplyLock)
	a := &rmsync.Applier{
		Tree:   d.Tree(),
		Schema: &releasingSchema{Schema: d.Schema(), other: other, dir: dir},
		Locker: d.Locker(zk.HolderInfo{User: "paused", Host: "ci", PID: 1}),
		Holder: "paused@ci pid 1",
	}
	out, err := a.Apply(ctx, target, nil)
	if !errors.Is(err, rmsync.ErrLockLost) {
		t.Fatalf("Apply: %v, want a lost lock", err)
	}
	results := map[string]rmsync.ChangeResult{}
	for _, res := range out.Results {
		results[res.ID] = res
	}
	tbl := results["table/"+r.keyspace+".events"]
	if tbl.Result != rmsync.ResultUnknown || !strings.Contains(tbl.Message, "ran after the lock may have been lost: verify") {
		t.Fatalf("the fenced-out DDL is recorded as %+v", tbl)
	}
	if z := results["znode/data/config/ingest/pipeline"]; z.Result != rmsync.ResultPending {
		t.Fatalf("a znode change after the lock loss: %+v", z)
	}
	if data, _ := r.get(t, "data/config/ingest/pipeline"); strings.Contains(string(data), `"batch":7`) {
		t.Fatal("a znode was written after the lock was lost")
	}
	code, stdout, _ := runTo(t, nil, r.args("status")...)
	if code != exitOK || !strings.Contains(stdout, "interrupted apply:") || !strings.Contains(stdout, "paused@ci pid 1") {
		t.Fatalf("status does not show the unfinished apply:\n%s", stdout)
	}
	code, stdout, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...)
	if code != exitOK || !strings.Contains(stdout, "an earlier apply did not finish") {
		t.Fatalf("next apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	st := r.status(t)
	if h := st.History[1]; h.Result != rmsync.ReasonInterrupted || !strings.Contains(h.Message, "paused@ci pid 1") {
		t.Fatalf("history does not record the interrupted apply: %+v", st.History)
	}
	if code, stdout, _ := runTo(t, nil, r.args("diff", "--detailed-exitcode")...); code != exitOK {
		t.Fatalf("not converged after the next apply:\n%s", stdout)
	}
}

// TestKilledApplyLeavesATrace: an apply killed (SIGKILL) during its DDL
// shows in status as interrupted, and the next apply records it in history
// and completes its work.
func TestKilledApplyLeavesATrace(t *testing.T) {
	r := newLiveRepo(t)
	if code, _, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...); code != exitOK {
		t.Fatalf("apply: %s", stderr)
	}
	var tables strings.Builder
	for _, name := range []string{"t1", "t2", "t3", "t4", "t5", "t6"} {
		tables.WriteString("---\napiVersion: ringmaster.io/v1\nkind: Table\nmetadata: {name: " + name + "}\nspec:\n  keyspace: KS\n  columns: [{name: id, type: uuid}]\n  primaryKey: {partition: [id]}\n")
	}
	r.write("base/more.yaml", tables.String())
	p := start(t, r.args("apply", "--auto-approve")...)
	p.awaitLine(t, "cassandra: CREATE TABLE", 2*time.Minute)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.awaitExit(t, 30*time.Second)
	// Until its session expires, the killed process still holds the lock,
	// and status rightly says the apply is in progress.
	code, stdout, _ := runTo(t, nil, r.args("status")...)
	if code != exitOK || !strings.Contains(stdout, "apply in progress:") {
		t.Fatalf("status right after kill -9:\n%s", stdout)
	}
	r.awaitLockFree(t, time.Minute)
	code, stdout, _ = runTo(t, nil, r.args("status")...)
	if code != exitOK || !strings.Contains(stdout, "interrupted apply:") || !strings.Contains(stdout, "6 table") {
		t.Fatalf("status after kill -9 does not show the interrupted apply:\n%s", stdout)
	}
	code, stdout, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...)
	if code != exitOK || !strings.Contains(stdout, "an earlier apply did not finish") {
		t.Fatalf("next apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, _ = runTo(t, nil, r.args("status")...)
	if code != exitOK || !strings.Contains(stdout, rmsync.ReasonInterrupted) || strings.Contains(stdout, "interrupted apply:") {
		t.Fatalf("status after the next apply: exit %d\n%s", code, stdout)
	}
}

// TestSameCommitRaceAndBoundedStaleness: two plans of one commit — the
// second apply finds its target live and succeeds; a stale plan with many
// moved objects names a few and a count, and status stays small.
func TestSameCommitRaceAndBoundedStaleness(t *testing.T) {
	r := newLiveRepo(t)
	dir := t.TempDir()
	planA, planB := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	for _, f := range []string{planA, planB} {
		if code, _, stderr := runTo(t, nil, r.args("plan", "-out", f)...); code != exitOK {
			t.Fatalf("plan: %s", stderr)
		}
	}
	if code, _, stderr := runTo(t, nil, "apply", planA); code != exitOK {
		t.Fatalf("apply a: %s", stderr)
	}
	code, stdout, stderr := runTo(t, nil, "apply", planB)
	if code != exitOK || !strings.Contains(stdout, "Already applied: live matches") || !strings.Contains(stdout, "by ") {
		t.Fatalf("apply b of the same commit: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if st := r.status(t); st.Ready().Status != "True" {
		t.Fatalf("ready after the race: %+v", st.Ready())
	}

	// Many managed znodes move under a plan.
	var entries strings.Builder
	for i := range 120 {
		entries.WriteString("---\napiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: e" + strconv.Itoa(i) + "}\nspec:\n  value: 1\n")
	}
	r.write("base/many.yaml", entries.String())
	if code, _, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...); code != exitOK {
		t.Fatalf("apply: %s", stderr)
	}
	r.write("base/many.yaml", strings.ReplaceAll(entries.String(), "value: 1", "value: 2"))
	planC := filepath.Join(dir, "c.json")
	if code, _, stderr := runTo(t, nil, r.args("plan", "-out", planC)...); code != exitOK {
		t.Fatalf("plan: %s", stderr)
	}
	for i := range 120 {
		if _, err := r.z.Conn.Set(path.Join(r.root, "data/config/e"+strconv.Itoa(i)), []byte("3"), -1); err != nil {
			t.Fatal(err)
		}
	}
	code, _, stderr = runTo(t, nil, "apply", planC)
	if code != exitError || !strings.Contains(stderr, "stale plan") || !strings.Contains(stderr, "more") || len(stderr) > 4000 {
		t.Fatalf("stale apply: exit %d, %d bytes:\n%.600s", code, len(stderr), stderr)
	}
	_, stdout, _ = runTo(t, nil, r.args("status", "--json")...)
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || len(doc["status"]) > 64<<10 {
		t.Fatalf("status of %d bytes after a stale plan of 120 moved znodes (%v)", len(doc["status"]), err)
	}
}

// TestRepairJobIsDurable: the repair a replication change needs outlives
// the apply: its job stays pending through later applies (no agent runs
// here) and holds back further replication changes until it is cancelled,
// which needs a reason and records who and why.
func TestRepairJobIsDurable(t *testing.T) {
	r := newLiveRepo(t)
	if code, _, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...); code != exitOK {
		t.Fatalf("apply: %s", stderr)
	}
	schemaFile := filepath.Join(r.dir, "base/schema.yaml")
	r.write("base/schema.yaml", strings.Replace(readFile(t, schemaFile), "dc1: 1, dc2: 1}", "dc1: 2, dc2: 1}", 1))
	code, stdout, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...)
	if code != exitOK || !strings.Contains(stdout, "Repair job "+r.keyspace+"-repair-g") {
		t.Fatalf("apply of the replication change: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...); code != exitOK {
		t.Fatalf("idle apply: %s", stderr)
	}
	code, list, errOut := runTo(t, nil, r.args("repair", "list")...)
	if code != exitOK || !strings.Contains(list, "pending") || !strings.Contains(list, "0/2") {
		t.Fatalf("repair list after an idle apply: exit %d\n%s\n%s", code, list, errOut)
	}
	id := strings.Fields(strings.Split(strings.TrimSpace(list), "\n")[1])[0]
	r.write("base/schema.yaml", strings.Replace(readFile(t, schemaFile), "dc1: 2, dc2: 1}", "dc1: 2, dc2: 2}", 1))
	if code, stdout, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...); code != exitError || !strings.Contains(stdout+stderr, "RM-POL-015") {
		t.Fatalf("another replication change with the job pending: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := runTo(t, nil, r.args("repair", "cancel", id)...); code != exitError || !strings.Contains(stderr, "--reason is required") {
		t.Fatalf("cancel without a reason: exit %d: %s", code, stderr)
	}
	if code, stdout, stderr := runTo(t, nil, r.args("repair", "cancel", "--reason", "nodetool repair -full ran on every node", id)...); code != exitOK || !strings.Contains(stdout, "Cancelled repair job "+id) {
		t.Fatalf("repair cancel: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, out, _ := runTo(t, nil, r.args("repair", "show", id)...); code != exitOK || !strings.Contains(out, "cancelled") || !strings.Contains(out, "nodetool repair -full ran on every node") {
		t.Fatalf("repair show after the cancel: exit %d\n%s", code, out)
	}
	if code, stdout, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...); code != exitOK {
		t.Fatalf("the replication change after the cancel: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// awaitLockFree waits, watching the lock folder, until nobody holds or
// waits for the apply lock.
func (r *liveRepo) awaitLockFree(t *testing.T, within time.Duration) {
	t.Helper()
	timeout := time.After(within)
	for {
		kids, _, changed, err := r.z.Conn.ChildrenW(path.Join(r.root, state.ApplyLock))
		if err != nil {
			t.Fatal(err)
		}
		if len(kids) == 0 {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("the apply lock is still held after %v: %v", within, kids)
		}
	}
}

// TestTreeChangedBetweenReadAndLock: apply reads the tree once, before the
// lock; a znode edited after that read fails its transaction's version
// check on the real ensemble and the apply is refused as a stale plan.
func TestTreeChangedBetweenReadAndLock(t *testing.T) {
	r := newLiveRepo(t)
	ctx := context.Background()
	if code, _, stderr := runTo(t, nil, r.args("apply", "--auto-approve")...); code != exitOK {
		t.Fatalf("apply: %s", stderr)
	}
	r.write("base/config.yaml", strings.Replace(readFile(t, filepath.Join(r.dir, "base/config.yaml")), "batch: 100", "batch: 5", 1))
	var cf clusterFlags
	cf.register(newCmdline("apply", "", nil, nil).fs, useZK|useCassandra|useApply)
	target, d, live, ok := connectAndRead(ctx, "apply", repoFlags{repo: r.dir, env: r.env}, &cf, os.Stderr)
	if !ok {
		t.Fatal("connect and read failed")
	}
	defer d.Close()
	plan, _, err := rmsync.NewPlan(ctx, live, target, d.Schema())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.z.Conn.Set(path.Join(r.root, "data/config/ingest/pipeline"), []byte(`{"hand":true}`), -1); err != nil {
		t.Fatal(err)
	}
	a := &rmsync.Applier{Tree: d.Tree(), Schema: d.Schema(), Locker: d.Locker(zk.HolderInfo{User: "t"}), Prefetched: live}
	if _, err := a.Apply(ctx, target, plan); !errors.Is(err, rmsync.ErrStalePlan) {
		t.Fatalf("apply over a znode edited after the read: %v, want a stale plan", err)
	}
	if data, _ := r.get(t, "data/config/ingest/pipeline"); string(data) != `{"hand":true}` {
		t.Fatalf("the hand edit was overwritten: %s", data)
	}
	if st := r.status(t); st.Ready().Reason != rmsync.ReasonStalePlan {
		t.Fatalf("status: %+v", st.Ready())
	}
}
