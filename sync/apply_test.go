package sync

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/policies"
)

func applyTarget() *Target {
	st := state.New("it")
	st.Cluster = state.Cluster{Datacenters: []string{"dc1", "dc2"}, ZooKeeperRoot: "/rm/it"}
	st.Keyspaces["a1"] = keyspace("a1", map[string]int{"dc1": 1, "dc2": 1})
	st.Keyspaces["a2"] = keyspace("a2", map[string]int{"dc1": 1, "dc2": 1})
	st.Znodes["data/config/x"] = &state.Znode{Path: "data/config/x", Data: []byte(`1`), Kind: "ConfigEntry", Version: -1}
	return &Target{Desired: st, Revision: "rev1"}
}

func recordedStatus(t *testing.T, tree *memTree) Status {
	t.Helper()
	nodes, _ := tree.Read(context.Background(), "/rm/it/meta")
	z, ok := nodes["status"]
	if !ok {
		t.Fatal("no status recorded")
	}
	var st Status
	if err := json.Unmarshal(z.Data, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestApplyRefusesWritesOutsideTheRoot: a target whose znode path leads
// out of the root (as a crafted input would, were render to let it
// through) writes nothing outside the root, and says so in status.
func TestApplyRefusesWritesOutsideTheRoot(t *testing.T) {
	for _, p := range []string{"data/settings/node/../../../../staging/data/config/x", "data/../../../zookeeper/quota"} {
		t.Run(p, func(t *testing.T) {
			tree := newMemTree()
			target := applyTarget()
			delete(target.Desired.Keyspaces, "a1")
			delete(target.Desired.Keyspaces, "a2")
			target.Desired.Znodes[p] = &state.Znode{Path: p, Data: []byte(`"evil"`), Kind: "NodeSettings", Version: -1}
			a := &Applier{Tree: tree, Schema: &memSchema{keyspaces: map[string]*state.Keyspace{}}, Locker: newMemLocker(tree)}
			_, err := a.Apply(context.Background(), target, nil)
			if !errors.Is(err, ErrOutsideRoot) {
				t.Fatalf("Apply: %v, want ErrOutsideRoot", err)
			}
			for _, n := range tree.paths() {
				if n != "/rm" && !strings.HasPrefix(n, "/rm/it") {
					t.Fatalf("wrote %s outside the root", n)
				}
			}
			if _, ok := tree.nodes["/rm/it/data/config/x"]; ok {
				t.Fatal("the other znodes of the refused write were committed")
			}
			if st := recordedStatus(t, tree); st.Ready().Reason != ReasonApplyFailed || !strings.Contains(st.Ready().Message, "outside the environment's root") {
				t.Fatalf("status %+v", st.Ready())
			}
		})
	}
}

// TestApplyStopsBetweenStepsWhenInterrupted: a signal (the context
// cancelled) during the first schema change lets that change finish,
// starts no other, writes no znode, and records what was applied.
func TestApplyStopsBetweenStepsWhenInterrupted(t *testing.T) {
	tree := newMemTree()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	schema := &memSchema{keyspaces: map[string]*state.Keyspace{}, onApply: func(string) { cancel() }}
	a := &Applier{Tree: tree, Schema: schema, Locker: newMemLocker(tree)}
	out, err := a.Apply(ctx, applyTarget(), nil)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Apply: %v, want ErrInterrupted", err)
	}
	if len(schema.applied) != 1 {
		t.Fatalf("statements run: %v, want only the first", schema.applied)
	}
	if !out.StatusRecorded {
		t.Fatal("status not recorded after an interrupt")
	}
	st := recordedStatus(t, tree)
	if st.Ready().Reason != ReasonInterrupted {
		t.Fatalf("ready %+v", st.Ready())
	}
	got := map[string]string{}
	for _, r := range st.Results {
		got[r.ID] = r.Result + ": " + r.Message
	}
	if got["keyspace/a1"] != ResultApplied+": " || !strings.HasPrefix(got["keyspace/a2"], ResultPending+": interrupted before this change") || got["znode/data/config/x"] != ResultPending+": " {
		t.Fatalf("results %v", got)
	}
	if _, ok := tree.nodes["/rm/it/data/config/x"]; ok {
		t.Fatal("a znode was written after the interrupt")
	}
	for _, p := range tree.paths() {
		if strings.HasPrefix(p, "/rm/it/locks/apply/") {
			t.Fatalf("the lock was not released: %s", p)
		}
	}
}

// TestKindRulesSeeLiveObjects: a rule filtered by kind sees the deletion
// of a live ConfigEntry (read from ZooKeeper, which stores no kind): the
// example policy "prod config is never deleted" denied nothing against a
// live cluster before.
func TestKindRulesSeeLiveObjects(t *testing.T) {
	ctx := context.Background()
	tree := newMemTree()
	first := applyTarget()
	first.Desired.Keyspaces = map[string]*state.Keyspace{}
	a := &Applier{Tree: tree, Schema: NewMemorySchema(nil), Locker: newMemLocker(tree)}
	if _, err := a.Apply(ctx, first, nil); err != nil {
		t.Fatal(err)
	}
	next := applyTarget()
	next.Desired.Keyspaces = map[string]*state.Keyspace{}
	delete(next.Desired.Znodes, "data/config/x")
	next.Desired.Cluster.Prune = true
	next.Rules = []state.Rule{{Name: "guard/no-deletes", Expression: "change.action != 'delete'", Severity: state.SeverityDeny, Match: state.MatchChange, Kinds: []string{"ConfigEntry"}}}
	live, err := ReadLive(ctx, tree, nil, "it", "/rm/it")
	if err != nil {
		t.Fatal(err)
	}
	if z := live.State.Znodes["data/config/x"]; z == nil || z.Kind != "ConfigEntry" {
		t.Fatalf("live znode %+v: no kind", z)
	}
	ev, err := Evaluate(ctx, live, next)
	if err != nil {
		t.Fatal(err)
	}
	if !policies.Denied(ev.Findings) {
		t.Fatalf("the deletion of a live ConfigEntry was not denied: %+v", ev.Findings)
	}
	if _, err := a.Apply(ctx, next, nil); !errors.Is(err, ErrDenied) {
		t.Fatalf("Apply of the deletion: %v, want ErrDenied", err)
	}
}

// TestPrefetchedEvaluationReusedOnlyWhenUnchanged: under the lock the
// evaluation made before it stands only while meta/ and the schema version
// are as read; after another apply it is made again. (A deliberately empty
// evaluation tells which one Apply used.)
func TestPrefetchedEvaluationReusedOnlyWhenUnchanged(t *testing.T) {
	ctx := context.Background()
	tree := newMemTree()
	target := applyTarget()
	target.Desired.Keyspaces = map[string]*state.Keyspace{}
	schema := NewMemorySchema(nil)
	live, err := ReadLive(ctx, tree, schema, "it", "/rm/it")
	if err != nil {
		t.Fatal(err)
	}
	empty := &Evaluation{Changes: &diff.ChangeSet{}, Drift: map[string][]diff.Annotation{}, Skipped: map[string]string{}}
	a := &Applier{Tree: tree, Schema: schema, Locker: newMemLocker(tree), Prefetched: live, PrefetchedEvaluation: empty}
	if _, err := a.Apply(ctx, target, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := tree.nodes["/rm/it/data/config/x"]; ok {
		t.Fatal("unchanged: the prefetched (empty) evaluation was not the one used")
	}
	// Another apply in between: meta/ moved, the evaluation is made again.
	other := &Applier{Tree: tree, Schema: schema, Locker: newMemLocker(tree)}
	second := applyTarget()
	second.Desired.Keyspaces = map[string]*state.Keyspace{}
	second.Desired.Znodes = map[string]*state.Znode{"data/config/y": {Path: "data/config/y", Data: []byte(`2`), Kind: "ConfigEntry", Version: -1}}
	if _, err := other.Apply(ctx, second, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, target, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := tree.nodes["/rm/it/data/config/x"]; !ok {
		t.Fatal("after another apply: the stale prefetched evaluation was used")
	}
}
