package sync

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// restoreEnv is an environment applied in memory from a target of two
// config entries, x and y.
type restoreEnv struct {
	tree   *memTree
	a      *Applier
	target *Target
}

func newRestoreEnv(t *testing.T) *restoreEnv {
	t.Helper()
	st := state.New("it")
	st.Cluster = state.Cluster{ZooKeeperRoot: "/rm/it"}
	for _, n := range []string{"x", "y"} {
		p := "data/config/" + n
		st.Znodes[p] = &state.Znode{Path: p, Data: []byte(`"git ` + n + `"`), Kind: "ConfigEntry", Version: -1}
	}
	tree := newMemTree()
	e := &restoreEnv{tree: tree, target: &Target{Desired: st, Revision: "main (1111111)"},
		a: &Applier{Tree: tree, Schema: NewMemorySchema(map[string]*state.Keyspace{}), Locker: newMemLocker(tree), Holder: "controller"}}
	if _, err := e.a.Apply(context.Background(), e.target, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// byHand writes ops as a person would: unfenced, any version.
func (e *restoreEnv) byHand(t *testing.T, ops ...ZnodeOp) {
	t.Helper()
	for i := range ops {
		ops[i].Path = "/rm/it/" + ops[i].Path
		ops[i].Version = -1
	}
	if _, err := e.tree.Write(context.Background(), Fence{}, nil, ops); err != nil {
		t.Fatal(err)
	}
}

// seen is what a watched cache would hold now.
func (e *restoreEnv) seen(t *testing.T) Seen {
	t.Helper()
	nodes, err := e.tree.Read(context.Background(), "/rm/it")
	if err != nil {
		t.Fatal(err)
	}
	return func(rel string) (*state.Znode, bool) {
		z, ok := nodes[rel]
		return z, ok
	}
}

func (e *restoreEnv) data(t *testing.T, rel string) (string, bool) {
	t.Helper()
	nodes, err := e.tree.Read(context.Background(), "/rm/it")
	if err != nil {
		t.Fatal(err)
	}
	z, ok := nodes[rel]
	if !ok {
		return "", false
	}
	return string(z.Data), true
}

// live is a full read and evaluation, as the next reconcile makes.
func (e *restoreEnv) evaluate(t *testing.T) *Evaluation {
	t.Helper()
	live, err := ReadLive(context.Background(), e.tree, e.a.Schema, "it", "/rm/it")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Evaluate(context.Background(), live, e.target)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestRestorePutsBackWhatWasChangedByHand: a set and a delete by hand are
// restored in one transaction that also records the correction (history,
// results, generation) and the new versions in the inventory, so that the
// next full evaluation finds neither a change nor drift.
func TestRestorePutsBackWhatWasChangedByHand(t *testing.T) {
	e := newRestoreEnv(t)
	before := e.evaluate(t)
	if !before.Changes.Empty() {
		t.Fatalf("right after the apply: %d changes", len(before.Changes.Changes))
	}
	e.byHand(t, ZnodeOp{Kind: OpSet, Path: "data/config/x", Data: []byte(`"by hand"`)}, ZnodeOp{Kind: OpDelete, Path: "data/config/y"})
	if ev := e.evaluate(t); len(ev.Drift) != 2 {
		t.Fatalf("the hand edits are not drift: %v", ev.Drift)
	}
	writes := len(e.tree.Writes())
	out, err := e.a.Restore(context.Background(), e.target, e.seen(t), []string{"data/config/x", "data/config/y", "data"})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Results) != 2 || out.Generation != 2 {
		t.Fatalf("restored %+v", out)
	}
	var wrote []string
	for _, op := range e.tree.Writes()[writes:] {
		if !strings.HasPrefix(op.Path, "/rm/it/locks/") {
			wrote = append(wrote, strings.TrimPrefix(op.Path, "/rm/it/"))
		}
	}
	if want := "data/config/x data/config/y meta/inventory-znodes/0000 meta/status meta/generation"; strings.Join(wrote, " ") != want {
		t.Fatalf("the restore wrote %v, want %s", wrote, want)
	}
	for _, n := range []string{"x", "y"} {
		if got, _ := e.data(t, "data/config/"+n); got != `"git `+n+`"` {
			t.Fatalf("%s is %s after the restore", n, got)
		}
	}
	if ev := e.evaluate(t); !ev.Changes.Empty() || len(ev.Drift) != 0 {
		t.Fatalf("after the restore: %d changes, drift %v", len(ev.Changes.Changes), ev.Drift)
	}
	st := recordedStatus(t, e.tree)
	if h := st.History[0]; h.Result != ReasonDriftCorrected || h.Changes != 2 || !strings.Contains(h.Message, "znode/data/config/x") {
		t.Fatalf("history %+v", h)
	}
	if st.Ready().Status != "True" || st.LastAppliedRevision != e.target.Revision || len(st.Results) != 2 {
		t.Fatalf("status %+v", st)
	}
	// Restored again with nothing drifted: nothing is written.
	writes = len(e.tree.Writes())
	if out, err := e.a.Restore(context.Background(), e.target, e.seen(t), []string{"data/config/x"}); err != nil || len(out.Results) != 0 {
		t.Fatalf("a restore of nothing: %+v %v", out, err)
	}
	if len(e.tree.Writes()) != writes {
		t.Fatal("a restore of nothing wrote")
	}
}

// TestRestoreLeavesUnmanagedZnodesAlone: a znode created by hand that Git
// does not declare and ringmaster never managed is not touched.
func TestRestoreLeavesUnmanagedZnodesAlone(t *testing.T) {
	e := newRestoreEnv(t)
	e.byHand(t, ZnodeOp{Kind: OpCreate, Path: "data/config/mine", Data: []byte(`1`)})
	out, err := e.a.Restore(context.Background(), e.target, e.seen(t), []string{"data/config/mine"})
	if err != nil || len(out.Results) != 0 {
		t.Fatalf("%+v %v", out, err)
	}
	if got, ok := e.data(t, "data/config/mine"); !ok || got != "1" {
		t.Fatalf("the unmanaged znode is %q (%v)", got, ok)
	}
}

// TestRestoreRefusesWhatItCannotDecide: each case writes nothing and asks
// for a full reconcile, or fails as a stale plan when a node moved since
// it was seen.
func TestRestoreRefusesWhatItCannotDecide(t *testing.T) {
	edit := ZnodeOp{Kind: OpSet, Path: "data/config/x", Data: []byte(`"by hand"`)}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, e *restoreEnv) Seen
		want  error
	}{
		{"another revision", func(t *testing.T, e *restoreEnv) Seen {
			e.target = &Target{Desired: e.target.Desired, Revision: "main (2222222)"}
			return e.seen(t)
		}, ErrNeedsReconcile},
		{"suspended", func(t *testing.T, e *restoreEnv) Seen {
			if err := Suspend(context.Background(), e.tree, "/rm/it", Suspension{By: "alice", Reason: "incident"}); err != nil {
				t.Fatal(err)
			}
			return e.seen(t)
		}, ErrNeedsReconcile},
		{"an apply in progress", func(t *testing.T, e *restoreEnv) Seen {
			e.byHand(t, ZnodeOp{Kind: OpCreate, Path: state.InProgressPath, Data: []byte(`{"lockId":"x"}`)})
			return e.seen(t)
		}, ErrNeedsReconcile},
		{"a managed znode Git removed came back", func(t *testing.T, e *restoreEnv) Seen {
			delete(e.target.Desired.Znodes, "data/config/y")
			return e.seen(t)
		}, ErrNeedsReconcile},
		{"changed again since seen", func(t *testing.T, e *restoreEnv) Seen {
			seen := e.seen(t)
			e.byHand(t, ZnodeOp{Kind: OpSet, Path: "data/config/x", Data: []byte(`"again"`)})
			return seen
		}, ErrStalePlan},
		{"another apply since seen", func(t *testing.T, e *restoreEnv) Seen {
			seen := e.seen(t)
			if _, err := e.a.Apply(context.Background(), e.target, nil); err != nil {
				t.Fatal(err)
			}
			return seen
		}, ErrStalePlan},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRestoreEnv(t)
			e.byHand(t, edit)
			seen := tc.setup(t, e)
			gen := recordedStatus(t, e.tree).History[0]
			xBefore, _ := e.data(t, "data/config/x")
			_, err := e.a.Restore(context.Background(), e.target, seen, []string{"data/config/x", "data/config/y"})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Restore: %v, want %v", err, tc.want)
			}
			if x, _ := e.data(t, "data/config/x"); x != xBefore {
				t.Fatalf("x went from %s to %s", xBefore, x)
			}
			if h := recordedStatus(t, e.tree).History[0]; h != gen {
				t.Fatalf("history moved: %+v", h)
			}
		})
	}
}

func readGeneration(t *testing.T, tree *memTree) Generation {
	t.Helper()
	nodes, _ := tree.Read(context.Background(), "/rm/it/meta")
	var g Generation
	if err := json.Unmarshal(nodes["generation"].Data, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// TestGenerationListsWhatChanged: a generation names the data znodes it
// changed (an apply's, a restore's), so that a reader holding the one
// before reads only those; after the first apply and after one that was
// killed it says to read everything.
func TestGenerationListsWhatChanged(t *testing.T) {
	e := newRestoreEnv(t)
	if g := readGeneration(t, e.tree); g.Generation != 1 || !g.ChangedAll {
		t.Fatalf("the first apply's generation: %+v (want ChangedAll)", g)
	}
	e.target.Desired.Znodes["data/config/x"] = &state.Znode{Path: "data/config/x", Data: []byte(`"git x2"`), Kind: "ConfigEntry", Version: -1}
	e.target.Revision = "main (2222222)"
	if _, err := e.a.Apply(context.Background(), e.target, nil); err != nil {
		t.Fatal(err)
	}
	if g := readGeneration(t, e.tree); g.Generation != 2 || g.ChangedAll || strings.Join(g.Changed, ",") != "data/config/x" {
		t.Fatalf("an update's generation: %+v", g)
	}
	e.byHand(t, ZnodeOp{Kind: OpDelete, Path: "data/config/y"})
	if _, err := e.a.Restore(context.Background(), e.target, e.seen(t), []string{"data/config/y"}); err != nil {
		t.Fatal(err)
	}
	if g := readGeneration(t, e.tree); g.Generation != 3 || g.ChangedAll || strings.Join(g.Changed, ",") != "data/config/y" {
		t.Fatalf("a restore's generation: %+v", g)
	}
	// An apply killed after writing (its trace and a write left) is
	// completed by the next one, which cannot vouch for what is live and
	// says so.
	e.byHand(t, ZnodeOp{Kind: OpCreate, Path: state.InProgressPath, Data: []byte(`{"lockId":"_c_dead-lock-0000000009","revision":"main (3333333)"}`)},
		ZnodeOp{Kind: OpSet, Path: "data/config/y", Data: []byte(`"half"`)})
	e.target.Desired.Znodes["data/config/x"] = &state.Znode{Path: "data/config/x", Data: []byte(`"git x3"`), Kind: "ConfigEntry", Version: -1}
	if _, err := e.a.Apply(context.Background(), e.target, nil); err != nil {
		t.Fatal(err)
	}
	if g := readGeneration(t, e.tree); g.Generation != 4 || !g.ChangedAll {
		t.Fatalf("the generation after a killed apply: %+v (want ChangedAll)", g)
	}
}
