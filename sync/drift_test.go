package sync

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// driftTable is a two-column table of keyspace app.
func driftTable(name string) *state.Table {
	return &state.Table{
		Keyspace: "app", Name: name,
		Columns:      []state.Column{{Name: "id", Type: "uuid"}, {Name: "v", Type: "text"}},
		PartitionKey: []string{"id"},
		Options:      map[string]state.OptionValue{"comment": {Scalar: "as applied", Quoted: true}},
	}
}

// driftKeyspace is keyspace app with tables a and b, as the last apply
// left it.
func driftKeyspace() *state.Keyspace {
	ks := keyspace("app", map[string]int{"dc1": 1, "dc2": 1})
	ks.Tables["a"] = driftTable("a")
	ks.Tables["b"] = driftTable("b")
	return ks
}

// cloneKeyspace copies a keyspace deeply enough to edit its replication
// and tables without touching the original.
func cloneKeyspace(ks *state.Keyspace) *state.Keyspace {
	c := *ks
	c.Replication.Factors = maps.Clone(ks.Replication.Factors)
	c.Tables = map[string]*state.Table{}
	for n, t := range ks.Tables {
		tc := *t
		tc.Options = maps.Clone(t.Options)
		tc.Columns = slices.Clone(t.Columns)
		c.Tables[n] = &tc
	}
	return &c
}

// inventoryOf is the inventory an apply that left ks as it is writes.
func inventoryOf(ks *state.Keyspace) Inventory {
	inv := Inventory{Znodes: map[string]int32{}, Keyspaces: map[string]string{ks.Name: Fingerprint(ks)}}
	for _, tn := range state.SortedKeys(ks.Tables) {
		inv.Tables = append(inv.Tables, ks.Name+"."+tn)
	}
	inv.recordSchema(ks.Name, ks, ks)
	return inv
}

func setComment(t *state.Table, c string) {
	t.Options["comment"] = state.OptionValue{Scalar: c, Quoted: true}
}

// TestDriftPerObject: a hand change marks the object changed by hand and
// nothing else: not the keyspace's other tables, not the keyspace unless
// its own replication or durable_writes changed.
func TestDriftPerObject(t *testing.T) {
	tests := []struct {
		name string
		// hand edits live (what someone did outside ringmaster);
		// commit edits desired (what the repository now says).
		hand, commit func(*state.Keyspace)
		// oldInventory drops the per-object fingerprints, as the
		// release before them wrote the inventory.
		oldInventory bool
		want         map[string]string // change ID → drift message ("": none)
	}{
		{
			name: "a hand change to one table marks that table only",
			hand: func(ks *state.Keyspace) { setComment(ks.Tables["a"], "by hand") },
			commit: func(ks *state.Keyspace) {
				setComment(ks.Tables["b"], "new in the repository")
				ks.Replication.Factors["dc2"] = 2
			},
			want: map[string]string{
				"table/app.a":  "drift: table changed outside ringmaster since the last apply",
				"table/app.b":  "",
				"keyspace/app": "",
			},
		},
		{
			name: "a hand change to the keyspace marks the keyspace only",
			hand: func(ks *state.Keyspace) { ks.DurableWrites = false },
			commit: func(ks *state.Keyspace) {
				setComment(ks.Tables["b"], "new in the repository")
			},
			want: map[string]string{
				"keyspace/app": "drift: keyspace replication or durable_writes changed outside ringmaster since the last apply",
				"table/app.b":  "",
			},
		},
		{
			name: "a hand change to replication, and one to a table",
			hand: func(ks *state.Keyspace) {
				ks.Replication.Factors["dc2"] = 2
				ks.Tables["b"].Columns = append(ks.Tables["b"].Columns, state.Column{Name: "extra", Type: "int"})
			},
			want: map[string]string{
				"keyspace/app": "drift: keyspace replication or durable_writes changed outside ringmaster since the last apply",
				"table/app.b":  "drift: table changed outside ringmaster since the last apply",
			},
		},
		{
			name: "a table dropped by hand",
			hand: func(ks *state.Keyspace) { delete(ks.Tables, "a") },
			want: map[string]string{"table/app.a": "drift: dropped outside ringmaster"},
		},
		{
			name:   "changes only in the repository are no drift",
			commit: func(ks *state.Keyspace) { setComment(ks.Tables["a"], "new"); ks.DurableWrites = false },
			want:   map[string]string{"table/app.a": "", "keyspace/app": ""},
		},
		{
			name:         "an inventory without per-object fingerprints flags nothing",
			hand:         func(ks *state.Keyspace) { setComment(ks.Tables["a"], "by hand") },
			commit:       func(ks *state.Keyspace) { setComment(ks.Tables["b"], "new"); ks.DurableWrites = false },
			oldInventory: true,
			want:         map[string]string{"table/app.a": "", "table/app.b": "", "keyspace/app": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			applied := driftKeyspace()
			inv := inventoryOf(applied)
			if tt.oldInventory {
				inv.KeyspaceOptions, inv.TableFingerprints = nil, nil
			}
			live := &Live{State: state.New("it"), Meta: &Meta{Inventory: inv, Versions: map[string]int32{}}, Datacenters: []string{"dc1", "dc2"}}
			live.State.Keyspaces["app"] = cloneKeyspace(applied)
			if tt.hand != nil {
				tt.hand(live.State.Keyspaces["app"])
			}
			desired := desiredState()
			desired.Znodes = map[string]*state.Znode{}
			desired.Keyspaces["app"] = cloneKeyspace(applied)
			if tt.commit != nil {
				tt.commit(desired.Keyspaces["app"])
			}
			ev, err := Evaluate(t.Context(), live, &Target{Desired: desired})
			if err != nil {
				t.Fatal(err)
			}
			changed := map[string]bool{}
			for _, ch := range ev.Changes.Changes {
				changed[ch.ID()] = true
			}
			for id, want := range tt.want {
				if !changed[id] {
					t.Errorf("no change for %s (changes: %v)", id, state.SortedKeys(changed))
				}
				var got string
				if d := ev.Drift[id]; len(d) == 1 && d[0].Code == CodeDrift {
					got = d[0].Message
				} else if len(d) > 0 {
					t.Errorf("%s: drift %+v", id, d)
				}
				if got != want {
					t.Errorf("%s: drift %q, want %q", id, got, want)
				}
			}
			for id, d := range ev.Drift {
				if _, ok := tt.want[id]; !ok {
					t.Errorf("unexpected drift on %s: %+v", id, d)
				}
			}
		})
	}
}

// TestOldInventoryReads: meta/inventory as the release before per-object
// fingerprints wrote it still decodes, with ownership intact and no
// per-object entries.
func TestOldInventoryReads(t *testing.T) {
	old := `{"znodes":{"data/config/a":2},"keyspaces":{"app":"0123456789abcdef01234567"},"tables":["app.a","app.b"]}`
	m, err := readMeta(map[string]*state.Znode{"inventory": {Path: "inventory", Data: []byte(old), Version: 4}})
	if err != nil {
		t.Fatal(err)
	}
	inv := &m.Inventory
	if !inv.Owns("keyspace/app") || !inv.Owns("table/app.b") || !inv.Owns("znode/data/config/a") {
		t.Errorf("ownership lost: %+v", inv)
	}
	if len(inv.KeyspaceOptions) != 0 || len(inv.TableFingerprints) != 0 {
		t.Errorf("per-object fingerprints invented: %+v", inv)
	}
}

// TestFingerprintsPerObject: each fingerprint covers its own object and
// nothing else.
func TestFingerprintsPerObject(t *testing.T) {
	a := driftKeyspace()
	b := cloneKeyspace(a)
	b.Origin = state.Origin{File: "x.yaml", Line: 3}
	b.Tables["a"].Origin = state.Origin{File: "t.yaml", Line: 1}
	b.AllowDatacenterRemoval = map[string]state.Origin{"dc3": {}}
	if OptionsFingerprint(a) != OptionsFingerprint(b) || TableFingerprint(a.Tables["a"]) != TableFingerprint(b.Tables["a"]) {
		t.Fatal("origin or an allowance changes a fingerprint")
	}
	setComment(b.Tables["a"], "other")
	if OptionsFingerprint(a) != OptionsFingerprint(b) {
		t.Error("a table's option changes the keyspace's options fingerprint")
	}
	if TableFingerprint(a.Tables["a"]) == TableFingerprint(b.Tables["a"]) {
		t.Error("an option does not change the table's fingerprint")
	}
	if TableFingerprint(a.Tables["b"]) != TableFingerprint(b.Tables["b"]) {
		t.Error("table a's option changes table b's fingerprint")
	}
	b.DurableWrites = false
	if OptionsFingerprint(a) == OptionsFingerprint(b) {
		t.Error("durable_writes does not change the options fingerprint")
	}
	if OptionsFingerprint(nil) != "" || TableFingerprint(nil) != "" {
		t.Error("an absent object has a fingerprint")
	}
}

// TestApplyRecordsPerObjectFingerprints: the inventory an apply writes
// lets the next evaluation tell a hand change to one table from the rest.
func TestApplyRecordsPerObjectFingerprints(t *testing.T) {
	tree := newMemTree()
	schema := &memSchema{keyspaces: map[string]*state.Keyspace{}}
	target := applyTarget()
	delete(target.Desired.Keyspaces, "a2")
	ks := target.Desired.Keyspaces["a1"]
	for _, n := range []string{"a", "b"} {
		tb := driftTable(n)
		tb.Keyspace = "a1"
		ks.Tables[n] = tb
	}
	a := &Applier{Tree: tree, Schema: schema, Locker: newMemLocker(tree)}
	if _, err := a.Apply(context.Background(), target, nil); err != nil {
		t.Fatal(err)
	}
	nodes, _ := tree.Read(context.Background(), "/rm/it/meta")
	var inv Inventory
	if err := json.Unmarshal(nodes["inventory"].Data, &inv); err != nil {
		t.Fatal(err)
	}
	if inv.KeyspaceOptions["a1"] != OptionsFingerprint(ks) || inv.TableFingerprints["a1.a"] != TableFingerprint(ks.Tables["a"]) ||
		inv.TableFingerprints["a1.b"] != TableFingerprint(ks.Tables["b"]) || len(inv.TableFingerprints) != 2 {
		t.Fatalf("inventory %+v", inv)
	}

	// By hand: a's comment. In the repository: b's comment.
	schema.mu.Lock()
	hand := cloneKeyspace(schema.keyspaces["a1"])
	setComment(hand.Tables["a"], "by hand")
	schema.keyspaces["a1"] = hand
	schema.mu.Unlock()
	next := applyTarget()
	delete(next.Desired.Keyspaces, "a2")
	next.Desired.Keyspaces["a1"] = cloneKeyspace(ks)
	setComment(next.Desired.Keyspaces["a1"].Tables["b"], "new in the repository")

	live, err := ReadLive(context.Background(), tree, schema, "it", "/rm/it")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Evaluate(t.Context(), live, next)
	if err != nil {
		t.Fatal(err)
	}
	if d := ev.Drift["table/a1.a"]; len(d) != 1 {
		t.Errorf("the table changed by hand is not marked: %+v", ev.Drift)
	}
	if len(ev.Drift) != 1 {
		t.Errorf("drift on more than the table changed by hand: %+v", ev.Drift)
	}
}
