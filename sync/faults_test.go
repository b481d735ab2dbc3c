package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// TestDDLThatRunsAfterLockLossIsNeverApplied: the lock is lost between the
// check before a statement and the statement (Cassandra cannot be fenced);
// the check after it catches that, the change is "unknown", nothing more
// runs, and the in-progress record stays as the trace.
func TestDDLThatRunsAfterLockLossIsNeverApplied(t *testing.T) {
	tree := newMemTree()
	locker := newMemLocker(tree)
	schema := &memSchema{keyspaces: map[string]*state.Keyspace{}}
	schema.onApply = func(string) { locker.last.release() } // another apply freed and took it
	a := &Applier{Tree: tree, Schema: schema, Locker: locker, Holder: "alice@build-7 pid 42"}
	out, err := a.Apply(context.Background(), applyTarget(), nil)
	if !errors.Is(err, ErrLockLost) || !strings.Contains(err.Error(), "after keyspace/a1, which ran and must be verified") {
		t.Fatalf("Apply: %v", err)
	}
	if len(schema.applied) != 1 {
		t.Fatalf("statements run: %v, want the one in flight only", schema.applied)
	}
	if r := out.Results[0]; r.ID != "keyspace/a1" || r.Result != ResultUnknown || !strings.Contains(r.Message, "ran after the lock may have been lost: verify") {
		t.Fatalf("result %+v", r)
	}
	if out.StatusRecorded {
		t.Fatal("a status was written without the lock")
	}
	nodes, _ := tree.Read(context.Background(), "/rm/it/meta")
	if _, ok := nodes["in-progress"]; !ok {
		t.Fatal("no in-progress record left as the trace")
	}
}

// partialTree commits the data transactions of one Write and then dies:
// the final transaction and everything after fail, as for a process
// killed between them.
type partialTree struct {
	*memTree
	armed bool
}

func (p *partialTree) Write(ctx context.Context, fence Fence, ops, final []ZnodeOp) (int, error) {
	if !p.armed || len(ops) == 0 {
		return p.memTree.Write(ctx, fence, ops, final)
	}
	n, err := p.memTree.Write(ctx, fence, ops, nil)
	p.memTree.failWrites = errors.New("killed")
	if err != nil {
		return 0, err
	}
	return n, errors.New("killed")
}

// TestUnfinishedApplyIsRecordedAndItsWritesAttributed: an apply that dies
// between its data writes and its final transaction leaves its record; the
// next apply records it in history as interrupted and attributes the
// znodes it wrote to it, not to "outside ringmaster".
func TestUnfinishedApplyIsRecordedAndItsWritesAttributed(t *testing.T) {
	ctx := context.Background()
	tree := &partialTree{memTree: newMemTree()}
	schema := &memSchema{keyspaces: map[string]*state.Keyspace{}}
	locker := newMemLocker(tree.memTree)
	a := &Applier{Tree: tree, Schema: schema, Locker: locker, Holder: "bob@ci pid 7"}
	target := func(v string) *Target {
		tg := applyTarget()
		tg.Desired.Znodes["data/config/x"].Data = []byte(v)
		tg.Revision = "rev-" + v
		return tg
	}
	if _, err := a.Apply(ctx, target("1"), nil); err != nil {
		t.Fatal(err)
	}
	tree.armed = true
	if _, err := a.Apply(ctx, target("2"), nil); err == nil {
		t.Fatal("the dying apply succeeded")
	}
	tree.armed, tree.failWrites = false, nil
	locker.last.release() // its session expires

	live, err := ReadLive(ctx, tree, schema, "it", "/rm/it")
	if err != nil {
		t.Fatal(err)
	}
	if live.Meta.InProgress == nil || live.Meta.InProgress.Revision != "rev-2" || live.Meta.InProgress.Holder != "bob@ci pid 7" {
		t.Fatalf("in-progress record: %+v", live.Meta.InProgress)
	}
	ev, err := Evaluate(ctx, live, target("3"))
	if err != nil {
		t.Fatal(err)
	}
	ann := ev.Drift["znode/data/config/x"]
	if len(ann) != 1 || ann[0].Code != CodeInterruptedWrite || !strings.Contains(ann[0].Message, "rev-2 by bob@ci pid 7") {
		t.Fatalf("annotations of the dying apply's write: %+v", ann)
	}

	out, err := a.Apply(ctx, target("3"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.Interrupted == nil || out.Interrupted.Revision != "rev-2" {
		t.Fatalf("outcome does not name the interrupted apply: %+v", out.Interrupted)
	}
	st := recordedStatus(t, tree.memTree)
	var found bool
	for _, h := range st.History {
		if h.Result == ReasonInterrupted && h.Revision == "rev-2" && strings.Contains(h.Message, "did not finish") {
			found = true
		}
	}
	if !found {
		t.Fatalf("history lacks the interrupted apply: %+v", st.History)
	}
	if nodes, _ := tree.Read(ctx, "/rm/it/meta"); nodes["in-progress"] != nil {
		t.Fatal("the in-progress record outlived the apply that recorded it")
	}
}

// TestSameCommitRace: two plans of one commit; the second apply finds its
// target already live and succeeds, saying who applied it; Ready stays True.
func TestSameCommitRace(t *testing.T) {
	ctx := context.Background()
	tree := newMemTree()
	schema := &memSchema{keyspaces: map[string]*state.Keyspace{}}
	a := &Applier{Tree: tree, Schema: schema, Locker: newMemLocker(tree), Holder: "alice@build-7 pid 42"}
	live, err := ReadLive(ctx, tree, schema, "it", "/rm/it")
	if err != nil {
		t.Fatal(err)
	}
	planA, _, err := NewPlan(ctx, live, applyTarget(), schema)
	if err != nil {
		t.Fatal(err)
	}
	planB, _, err := NewPlan(ctx, live, applyTarget(), schema)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, &planA.Target, planA); err != nil {
		t.Fatal(err)
	}
	a.Holder = "bob@ci pid 7"
	out, err := a.Apply(ctx, &planB.Target, planB)
	if err != nil {
		t.Fatalf("the loser of a same-commit race failed: %v", err)
	}
	if !strings.Contains(out.AlreadyApplied, "alice@build-7 pid 42") {
		t.Fatalf("already applied by: %q", out.AlreadyApplied)
	}
	st := recordedStatus(t, tree)
	if r := st.Ready(); r.Status != "True" || !strings.HasPrefix(r.Message, "already applied") {
		t.Fatalf("ready %+v", r)
	}
	// A plan whose target is not live is still stale.
	live, _ = ReadLive(ctx, tree, schema, "it", "/rm/it")
	planC, _, _ := NewPlan(ctx, live, applyTarget(), schema)
	changed := applyTarget()
	changed.Desired.Znodes["data/config/x"].Data = []byte(`9`)
	if _, err := a.Apply(ctx, changed, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, &planC.Target, planC); !errors.Is(err, ErrStalePlan) {
		t.Fatalf("a stale plan with work left: %v", err)
	}
}

// unlistedSchema is a Schema that cannot list the cluster's nodes: apply
// makes no repair job, and leaves the keyspace "repair required".
type unlistedSchema struct{ Schema }

// TestRepairRequiredStaysUntilRecorded: without repair jobs (the nodes
// cannot be listed) a later apply, even one that changes nothing, does
// not clear a repair need.
func TestRepairRequiredStaysUntilRecorded(t *testing.T) {
	ctx := context.Background()
	a, _ := appliedInMemory(t)
	a.Schema = unlistedSchema{a.Schema}
	wider := applyTarget()
	wider.Desired.Keyspaces["a1"].Replication.Factors["dc1"] = 2
	if _, err := a.Apply(ctx, wider, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		out, err := a.Apply(ctx, wider, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(out.Status.RepairRequired, ","); got != "a1" {
			t.Fatalf("apply %d after the change: repair required %q, want a1", i+1, got)
		}
	}
}

// TestStatusStaysBounded: what faults write into status is bounded: a
// stale plan names a few moved objects and a count, results are capped.
func TestStatusStaysBounded(t *testing.T) {
	var moved []string
	for i := range 3000 {
		moved = append(moved, fmt.Sprintf("znode data/config/n%04d: version 0 at plan time, now version 1", i))
	}
	msg := (&StaleError{Moved: moved}).Error()
	if !strings.Contains(msg, "and 2995 more") || len(msg) > 1000 {
		t.Fatalf("stale message of %d bytes: %.200s", len(msg), msg)
	}
	var st Status
	for range 20 {
		st.setReady(false, ReasonStalePlan, strings.Repeat("x", 100000), timeZero)
		st.addHistory(HistoryEntry{Message: strings.Repeat("y", 100000)})
	}
	rs := make([]ChangeResult, 5000)
	for i := range rs {
		rs[i] = ChangeResult{ID: fmt.Sprint(i), Result: ResultApplied}
	}
	rs[4999].Result = ResultFailed
	st.Results, st.ResultsOmitted = boundResults(rs)
	if len(st.Results) != MaxResults || st.ResultsOmitted != 5000-MaxResults || st.Results[0].Result != ResultFailed {
		t.Fatalf("results %d kept, %d omitted, first %+v", len(st.Results), st.ResultsOmitted, st.Results[0])
	}
	raw, _ := json.Marshal(st)
	if len(raw) > 64<<10 {
		t.Fatalf("status of %d bytes after many faults", len(raw))
	}
}

var timeZero time.Time

func TestAcknowledgeRepair(t *testing.T) {
	ctx := context.Background()
	a, tree := appliedInMemory(t)
	a.Schema = unlistedSchema{a.Schema}
	wider := applyTarget()
	wider.Desired.Keyspaces["a1"].Replication.Factors["dc1"] = 2
	wider.Desired.Keyspaces["a2"].Replication.Factors["dc1"] = 2
	if _, err := a.Apply(ctx, wider, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.AcknowledgeRepair(ctx, "it", "/rm/it", []string{"zz"}, "alice", "ran it"); err == nil || !strings.Contains(err.Error(), "those that do: a1, a2") {
		t.Fatalf("ack of a keyspace that needs none: %v", err)
	}
	if err := a.AcknowledgeRepair(ctx, "it", "/rm/it", []string{"a1"}, "alice@build-7", "nodetool repair -full ran in dc1"); err != nil {
		t.Fatal(err)
	}
	st := recordedStatus(t, tree)
	if got := strings.Join(st.RepairRequired, ","); got != "a2" {
		t.Fatalf("repair required %q after the ack, want a2", got)
	}
	if h := st.History[0]; h.Result != ReasonRepairAcknowledged || !strings.Contains(h.Message, "repair of a1 recorded done by alice@build-7: nodetool repair -full ran in dc1") {
		t.Fatalf("history %+v", h)
	}
}

// lostAnswerTree, once armed, sends the data transaction and loses its
// answer.
type lostAnswerTree struct {
	*memTree
	armed bool
}

func (l *lostAnswerTree) Write(ctx context.Context, fence Fence, ops, final []ZnodeOp) (int, error) {
	if !l.armed || len(ops) == 0 {
		return l.memTree.Write(ctx, fence, ops, final)
	}
	return 0, &UncertainError{N: len(ops) + len(final), Err: errors.New("connection lost")}
}

// TestLostAnswerIsUnknownNotFailed: writes whose outcome is unknown are
// reported as unknown, never as failed or applied, and the status keeps
// the last apply that did succeed.
func TestLostAnswerIsUnknownNotFailed(t *testing.T) {
	tree := &lostAnswerTree{memTree: newMemTree()}
	a := &Applier{Tree: tree, Schema: &memSchema{keyspaces: map[string]*state.Keyspace{}}, Locker: newMemLocker(tree.memTree), Holder: "alice"}
	if _, err := a.Apply(context.Background(), applyTarget(), nil); err != nil {
		t.Fatal(err)
	}
	tree.armed = true
	next := applyTarget()
	next.Revision = "rev2"
	next.Desired.Znodes["data/config/x"].Data = []byte(`2`)
	out, err := a.Apply(context.Background(), next, nil)
	var unsure *UncertainError
	if !errors.As(err, &unsure) {
		t.Fatalf("Apply: %v", err)
	}
	for _, r := range out.Results {
		if r.ID == "znode/data/config/x" && (r.Result != ResultUnknown || !strings.Contains(r.Message, "answer was lost")) {
			t.Fatalf("result %+v, want unknown", r)
		}
	}
	st := recordedStatus(t, tree.memTree)
	if st.LastAppliedRevision != "rev1" || st.LastAppliedBy != "alice" || st.LastAttemptedRevision != "rev2" {
		t.Fatalf("status lost the last successful apply: applied %q by %q, attempted %q", st.LastAppliedRevision, st.LastAppliedBy, st.LastAttemptedRevision)
	}
	for _, h := range st.History {
		if h.Revision == "rev2" && h.Result == ReasonSucceeded {
			t.Fatalf("the failed apply is in history as a success: %+v", st.History)
		}
	}
}

// countingTree counts whole-tree reads of the data folder.
type countingTree struct {
	*memTree
	dataReads int
}

func (c *countingTree) Read(ctx context.Context, root string) (map[string]*state.Znode, error) {
	if strings.HasSuffix(root, "/"+state.DataDir) {
		c.dataReads++
	}
	return c.memTree.Read(ctx, root)
}

// TestOneTreeReadPerApply: with the state read for the plan, apply reads
// only meta/ under its lock; a znode changed between that read and the
// lock fails its transaction's version check and the apply is refused as a
// stale plan, writing no status of success; an apply that ran in between
// makes it read everything again.
func TestOneTreeReadPerApply(t *testing.T) {
	ctx := context.Background()
	tree := &countingTree{memTree: newMemTree()}
	schema := &memSchema{keyspaces: map[string]*state.Keyspace{}}
	a := &Applier{Tree: tree, Schema: schema, Locker: newMemLocker(tree.memTree)}
	if _, err := a.Apply(ctx, applyTarget(), nil); err != nil {
		t.Fatal(err)
	}
	next := applyTarget()
	next.Desired.Znodes["data/config/x"].Data = []byte(`2`)
	plan := func() (*Plan, *Live) {
		live, err := ReadLive(ctx, tree, schema, "it", "/rm/it")
		if err != nil {
			t.Fatal(err)
		}
		p, _, err := NewPlan(ctx, live, next, schema)
		if err != nil {
			t.Fatal(err)
		}
		return p, live
	}

	p, live := plan()
	tree.dataReads = 0
	a.Prefetched = live
	if _, err := a.Apply(ctx, &p.Target, p); err != nil {
		t.Fatal(err)
	}
	if tree.dataReads != 0 {
		t.Fatalf("apply read the data tree %d time(s) under the lock", tree.dataReads)
	}

	next.Desired.Znodes["data/config/x"].Data = []byte(`3`)
	p, live = plan()
	// Someone edits the znode between the read and the lock.
	if _, err := tree.memTree.Write(ctx, Fence{}, []ZnodeOp{{Kind: OpSet, Path: "/rm/it/data/config/x", Data: []byte(`"hand"`), Version: -1}}, nil); err != nil {
		t.Fatal(err)
	}
	a.Prefetched = live
	_, err := a.Apply(ctx, &p.Target, p)
	if !errors.Is(err, ErrStalePlan) {
		t.Fatalf("apply over a znode changed after the read: %v, want a stale plan", err)
	}
	st := recordedStatus(t, tree.memTree)
	if st.Ready().Reason != ReasonStalePlan || st.LastAppliedRevision != "rev1" {
		t.Fatalf("status after the refused apply: %+v, last applied %q", st.Ready(), st.LastAppliedRevision)
	}
	// Another apply in between (meta moved): everything is read again.
	p, live = plan()
	if _, err := a.Apply(ctx, next, nil); err != nil {
		t.Fatal(err)
	}
	tree.dataReads = 0
	a.Prefetched = live
	if _, err := a.Apply(ctx, &p.Target, p); err != nil && !errors.Is(err, ErrStalePlan) {
		t.Fatal(err)
	}
	if tree.dataReads != 1 {
		t.Fatalf("after another apply, the tree was read %d time(s) under the lock, want 1", tree.dataReads)
	}
}

// appliedInMemory is an Applier over in-memory stores to which applyTarget
// has been applied.
func appliedInMemory(t *testing.T) (*Applier, *memTree) {
	t.Helper()
	tree := newMemTree()
	a := &Applier{Tree: tree, Schema: &memSchema{keyspaces: map[string]*state.Keyspace{}}, Locker: newMemLocker(tree)}
	if _, err := a.Apply(context.Background(), applyTarget(), nil); err != nil {
		t.Fatal(err)
	}
	return a, tree
}
