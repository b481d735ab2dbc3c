package sync

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

func keyspace(name string, rf map[string]int) *state.Keyspace {
	return &state.Keyspace{Name: name, DurableWrites: true, Tables: map[string]*state.Table{},
		Replication: state.Replication{Class: state.NetworkTopologyStrategy, Factors: rf}}
}

func desiredState() *state.State {
	st := state.New("it")
	st.Cluster = state.Cluster{Datacenters: []string{"dc1", "dc2"}, ZooKeeperRoot: "/rm/it", Prune: false, MaxReplication: 3}
	st.Keyspaces["app"] = keyspace("app", map[string]int{"dc1": 1, "dc2": 1})
	st.Znodes["data/config/a"] = &state.Znode{Path: "data/config/a", Data: []byte(`1`), Kind: "ConfigEntry", Version: -1}
	return st
}

func liveState(inv Inventory) *Live {
	l := &Live{State: state.New("it"), Meta: &Meta{Inventory: inv, Versions: map[string]int32{}}, Datacenters: []string{"dc1", "dc2"}}
	l.State.Keyspaces["app"] = keyspace("app", map[string]int{"dc1": 1, "dc2": 1})
	l.State.Znodes["data/config/a"] = &state.Znode{Path: "data/config/a", Data: []byte(`1`), Version: 3}
	l.State.Znodes["data/config/old"] = &state.Znode{Path: "data/config/old", Data: []byte(`2`), Version: 0}
	l.State.Znodes["data/config/foreign"] = &state.Znode{Path: "data/config/foreign", Data: []byte(`3`), Version: 0}
	return l
}

func TestEvaluateOwnershipPruneAndDrift(t *testing.T) {
	inv := Inventory{Znodes: map[string]int32{"data/config/a": 2, "data/config/old": 0}, Keyspaces: map[string]string{}}
	live := liveState(inv)
	desired := desiredState()
	desired.Znodes["data/config/a"].Data = []byte(`5`)
	ev, err := Evaluate(t.Context(), live, &Target{Desired: desired})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]diff.Action{}
	for _, ch := range ev.Changes.Changes {
		ids[ch.ID()] = ch.Action()
	}
	if ids["znode/data/config/a"] != diff.Update || ids["znode/data/config/old"] != diff.Delete {
		t.Fatalf("changes %v", ids)
	}
	if _, ok := ids["znode/data/config/foreign"]; ok {
		t.Fatal("an unmanaged znode would be deleted")
	}
	if got := strings.Join(ev.Changes.Unmanaged, ","); got != "znode/data/config/foreign" {
		t.Errorf("unmanaged = %s", got)
	}
	if _, ok := ev.Skipped["znode/data/config/old"]; !ok {
		t.Error("a delete was not skipped with prune off")
	}
	if d := ev.Drift["znode/data/config/a"]; len(d) != 1 || !strings.Contains(d[0].Message, "version 3, last applied 2") {
		t.Errorf("drift = %v", d)
	}
}

func TestEvaluateUnknownDatacenter(t *testing.T) {
	desired := desiredState()
	desired.Keyspaces["app"].Replication.Factors["dc9"] = 1
	desired.Cluster.Datacenters = append(desired.Cluster.Datacenters, "dc9")
	ev, err := Evaluate(t.Context(), liveState(Inventory{}), &Target{Desired: desired})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range ev.Findings {
		if f.Code == CodeUnknownDatacenter && strings.Contains(f.Message, "dc9") && strings.Contains(f.Message, "dc1, dc2") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no %s finding: %+v", CodeUnknownDatacenter, ev.Findings)
	}
}

func TestCheckBase(t *testing.T) {
	live := liveState(Inventory{Znodes: map[string]int32{}, Keyspaces: map[string]string{}})
	desired := desiredState()
	desired.Znodes["data/config/new"] = &state.Znode{Path: "data/config/new", Data: []byte(`1`)}
	base := captureBase(live, desired)
	if base.Znodes["data/config/a"] != 3 || base.Znodes["data/config/new"] != -1 || base.Keyspaces["app"] == "" {
		t.Fatalf("base %+v", base)
	}
	if err := checkBase(base, live); err != nil {
		t.Fatalf("unchanged live: %v", err)
	}
	live.State.Znodes["data/config/a"].Version = 4
	live.State.Znodes["data/config/new"] = &state.Znode{Path: "data/config/new", Version: 0}
	live.State.Keyspaces["app"].Replication.Factors["dc2"] = 2
	live.Meta.Generation.Generation = 7
	err := checkBase(base, live)
	if !errors.Is(err, ErrStalePlan) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"generation 0 at plan time, now 7", "znode data/config/a: version 3 at plan time, now version 4", "znode data/config/new: absent at plan time, now version 0", "keyspace app changed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

func TestFingerprintIgnoresOrigin(t *testing.T) {
	a := keyspace("app", map[string]int{"dc1": 1})
	b := keyspace("app", map[string]int{"dc1": 1})
	b.Origin = state.Origin{File: "x.yaml", Line: 3}
	if Fingerprint(a) != Fingerprint(b) {
		t.Fatal("origin changes the fingerprint")
	}
	b.Replication.Factors["dc1"] = 2
	if Fingerprint(a) == Fingerprint(b) {
		t.Fatal("replication does not change the fingerprint")
	}
	if Fingerprint(nil) != "" {
		t.Fatal("absent keyspace has a fingerprint")
	}
}

func TestStatusHistoryAndReady(t *testing.T) {
	var st Status
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st.setReady(false, ReasonApplyFailed, "x", t0)
	st.setReady(false, ReasonStalePlan, "y", t0.Add(time.Hour))
	if r := st.Ready(); r.Reason != ReasonStalePlan || !r.LastTransitionTime.Equal(t0) {
		t.Fatalf("ready %+v: transition time must stay while the status holds", r)
	}
	st.setReady(true, ReasonSucceeded, "ok", t0.Add(2*time.Hour))
	if r := st.Ready(); !r.LastTransitionTime.Equal(t0.Add(2 * time.Hour)) {
		t.Fatalf("transition time not moved: %+v", r)
	}
	for i := 0; i < MaxHistory+5; i++ {
		st.addHistory(HistoryEntry{Revision: string(rune('a' + i))})
	}
	if len(st.History) != MaxHistory || st.History[0].Revision != string(rune('a'+MaxHistory+4)) {
		t.Fatalf("history %d entries, newest %q", len(st.History), st.History[0].Revision)
	}
}

func TestInventoryOwns(t *testing.T) {
	inv := &Inventory{Znodes: map[string]int32{"data/x": 1}, Keyspaces: map[string]string{"app": "f"}, Tables: []string{"app.t"}}
	for id, want := range map[string]bool{"znode/data/x": true, "znode/data/y": false, "keyspace/app": true, "keyspace/b": false, "table/app.t": true, "table/app.u": false} {
		if inv.Owns(id) != want {
			t.Errorf("Owns(%s) = %t", id, !want)
		}
	}
	var none *Inventory
	if none.Owns("keyspace/app") {
		t.Error("nil inventory owns something")
	}
}
