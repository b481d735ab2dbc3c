package diff

import (
	"errors"
	"fmt"
	"path"
	"reflect"
	"slices"
	"testing"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// steps lists a change set as "<action> <id>" in order.
func steps(cs *ChangeSet) []string {
	out := []string{}
	for _, c := range cs.Changes {
		out = append(out, fmt.Sprintf("%s %s", c.Action(), c.ID()))
	}
	return out
}

func TestComputeRepresentativeOrder(t *testing.T) {
	from, to := representative()
	cs := Compute(from, to, Options{})
	want := []string{
		"update keyspace/events",
		"create keyspace/metrics",
		"update table/events.clicks",
		"create table/events.views",
		"create table/metrics.samples",
		"update znode/data/config/ingest/pipeline",
		"create znode/data/flags/new-ingest-path",
		"delete znode/data/flags/retired",
		"delete table/events.legacy",
		"delete keyspace/old_ks",
	}
	if got := steps(cs); !slices.Equal(got, want) {
		t.Errorf("changes:\n got %q\nwant %q", got, want)
	}
	if cs.From != from || cs.To != to {
		t.Errorf("From/To are not the compared states")
	}
	if got, want := cs.Summary(), (Summary{Create: 4, Update: 3, Delete: 3}); got != want {
		t.Errorf("Summary() = %+v, want %+v", got, want)
	}
	if len(cs.Unmanaged) != 0 {
		t.Errorf("Unmanaged = %q, want none", cs.Unmanaged)
	}
	if again := Compute(from, to, Options{}); !reflect.DeepEqual(again, cs) {
		t.Errorf("Compute is not deterministic")
	}
}

func TestComputeModifyTableOrder(t *testing.T) {
	from, to := representative()
	cs := Compute(from, to, Options{})
	var mt *ModifyTable
	for _, c := range cs.Changes {
		if m, ok := c.(*ModifyTable); ok {
			mt = m
		}
	}
	if mt == nil {
		t.Fatal("no ModifyTable")
	}
	gc864, gc86, ttl := scalar("864000"), scalar("86400"), scalar("0")
	want := []TableChange{
		&AlterColumnType{Name: "count", From: col("count", "int"), To: col("count", "bigint")},
		&AddColumn{Column: col("x", "text")},
		&DropColumn{Column: col("old_col", "int")},
		&ModifyOption{Name: "default_time_to_live", From: nil, To: &ttl},
		&ModifyOption{Name: "gc_grace_seconds", From: &gc864, To: &gc86},
	}
	if !reflect.DeepEqual(mt.Changes, want) {
		t.Errorf("ModifyTable.Changes:\n got %s\nwant %s", tableChangesText(mt.Changes), tableChangesText(want))
	}
	if mt.From != from.Keyspaces["events"].Tables["clicks"] || mt.To != to.Keyspaces["events"].Tables["clicks"] {
		t.Errorf("ModifyTable From/To are not the compared tables")
	}
	if got := mt.Origin(); got != at("schema/events.yaml", 12) {
		t.Errorf("Origin() = %v, want the to side's", got)
	}
}

func tableChangesText(tcs []TableChange) []string {
	out := make([]string, len(tcs))
	for i, tc := range tcs {
		out[i] = tableChangeText(tc)
	}
	return out
}

func TestComputeTableChanges(t *testing.T) {
	base := func() *state.Table {
		tb := table("t", col("a", "text"), col("b", "text"), col("c", "int"), col("d", "int"), col("s", "text"))
		tb.Clustering = []state.ClusteringColumn{{Name: "c"}, {Name: "d", Descending: true}}
		tb.Options["gc_grace_seconds"] = scalar("864000")
		tb.Options["compaction"] = state.OptionValue{Map: map[string]string{"class": "LeveledCompactionStrategy"}}
		return tb
	}
	tests := []struct {
		name   string
		edit   func(*state.Table)
		ignore []string
		want   []string // tableChangeText of each change
	}{
		{name: "identical", edit: func(*state.Table) {}, want: nil},
		{
			name: "partition key",
			edit: func(tb *state.Table) { tb.PartitionKey = []string{"a", "b"}; tb.Clustering = tb.Clustering[1:] },
			want: []string{"change PRIMARY KEY ((a), c, d) WITH CLUSTERING ORDER BY (c ASC, d DESC) → PRIMARY KEY ((a, b), d) WITH CLUSTERING ORDER BY (d DESC)"},
		},
		{
			name: "clustering order only",
			edit: func(tb *state.Table) { tb.Clustering[0].Descending = true },
			want: []string{"change PRIMARY KEY ((a), c, d) WITH CLUSTERING ORDER BY (c ASC, d DESC) → PRIMARY KEY ((a), c, d) WITH CLUSTERING ORDER BY (c DESC, d DESC)"},
		},
		{
			name: "no clustering left",
			edit: func(tb *state.Table) { tb.Clustering = nil },
			want: []string{"change PRIMARY KEY ((a), c, d) WITH CLUSTERING ORDER BY (c ASC, d DESC) → PRIMARY KEY ((a))"},
		},
		{
			name: "static flag is a type change",
			edit: func(tb *state.Table) { tb.Columns[4].Static = true },
			want: []string{"alter column s text → text static"},
		},
		{
			name: "columns in to order, drops after in from order",
			edit: func(tb *state.Table) {
				tb.Columns = []state.Column{col("z", "text"), col("a", "text"), col("c", "int"), col("d", "int"), col("y", "blob"), {Name: "st", Type: "int", Static: true}}
			},
			want: []string{"add column z text", "add column y blob", "add column st int static", "drop column b text", "drop column s text"},
		},
		{
			name: "option only in from is no change",
			edit: func(tb *state.Table) { delete(tb.Options, "gc_grace_seconds"); delete(tb.Options, "compaction") },
			want: nil,
		},
		{
			name: "options sorted by name, new and changed",
			edit: func(tb *state.Table) {
				tb.Options["gc_grace_seconds"] = scalar("86400")
				tb.Options["comment"] = quoted("hot")
				tb.Options["compaction"] = state.OptionValue{Map: map[string]string{"class": "LeveledCompactionStrategy", "sstable_size_in_mb": "160"}}
			},
			want: []string{
				"option comment (unset) → 'hot'",
				"option compaction {'class': 'LeveledCompactionStrategy'} → {'class': 'LeveledCompactionStrategy', 'sstable_size_in_mb': '160'}",
				"option gc_grace_seconds 864000 → 86400",
			},
		},
		{
			name: "ignored options are never compared",
			edit: func(tb *state.Table) {
				tb.Options["gc_grace_seconds"] = scalar("1")
				tb.Options["comment"] = quoted("x")
			},
			ignore: []string{"gc_grace_seconds", "comment"},
			want:   nil,
		},
		{
			name: "everything at once, in order",
			edit: func(tb *state.Table) {
				tb.PartitionKey = []string{"b"}
				tb.Columns = []state.Column{col("a", "text"), col("b", "varchar"), col("c", "int"), col("d", "int"), col("n", "int")}
				tb.Options["gc_grace_seconds"] = scalar("3600")
			},
			want: []string{
				"change PRIMARY KEY ((a), c, d) WITH CLUSTERING ORDER BY (c ASC, d DESC) → PRIMARY KEY ((b), c, d) WITH CLUSTERING ORDER BY (c ASC, d DESC)",
				"alter column b text → varchar",
				"add column n int",
				"drop column s text",
				"option gc_grace_seconds 864000 → 3600",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft, tt2 := base(), base()
			tt.edit(tt2)
			from := withState("dev", []*state.Keyspace{keyspace("ks", nts(map[string]int{"dc1": 1}), ft)}, nil)
			to := withState("dev", []*state.Keyspace{keyspace("ks", nts(map[string]int{"dc1": 1}), tt2)}, nil)
			cs := Compute(from, to, Options{IgnoreTableOptions: tt.ignore})
			if tt.want == nil {
				if !cs.Empty() {
					t.Fatalf("changes = %q, want none", steps(cs))
				}
				return
			}
			if len(cs.Changes) != 1 {
				t.Fatalf("changes = %q, want one ModifyTable", steps(cs))
			}
			mt, ok := cs.Changes[0].(*ModifyTable)
			if !ok {
				t.Fatalf("change is %T, want *ModifyTable", cs.Changes[0])
			}
			if got := tableChangesText(mt.Changes); !slices.Equal(got, tt.want) {
				t.Errorf("changes:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestComputeKeyspaces(t *testing.T) {
	ks := func(r state.Replication, durable bool) *state.Keyspace {
		k := keyspace("ks", r)
		k.DurableWrites = durable
		return k
	}
	simple := state.Replication{Class: state.SimpleStrategy, Factors: map[string]int{"replication_factor": 3}}
	dc := nts(map[string]int{"dc1": 3, "dc2": 3})
	tests := []struct {
		name       string
		from, to   *state.Keyspace
		want       []string
		repl, dw   bool
		headlineIs string
	}{
		{name: "same", from: ks(dc, true), to: ks(nts(map[string]int{"dc2": 3, "dc1": 3}), true)},
		{name: "factor", from: ks(dc, true), to: ks(nts(map[string]int{"dc1": 3, "dc2": 4}), true),
			want: []string{"update keyspace/ks"}, repl: true, headlineIs: "~ keyspace ks: replication dc2 3 → 4"},
		{name: "datacenter added and removed", from: ks(dc, true), to: ks(nts(map[string]int{"dc1": 3, "dc3": 2}), true),
			want: []string{"update keyspace/ks"}, repl: true, headlineIs: "~ keyspace ks: replication dc2 3 → (none), dc3 (none) → 2"},
		{name: "class", from: ks(simple, true), to: ks(nts(map[string]int{"dc1": 3}), true),
			want: []string{"update keyspace/ks"}, repl: true,
			headlineIs: "~ keyspace ks: replication {'class': 'SimpleStrategy', 'replication_factor': 3} → {'class': 'NetworkTopologyStrategy', 'dc1': 3}"},
		{name: "durable writes", from: ks(dc, true), to: ks(dc, false),
			want: []string{"update keyspace/ks"}, dw: true, headlineIs: "~ keyspace ks: durable_writes true → false"},
		{name: "both", from: ks(dc, false), to: ks(nts(map[string]int{"dc1": 1, "dc2": 3}), true),
			want: []string{"update keyspace/ks"}, repl: true, dw: true, headlineIs: "~ keyspace ks: replication dc1 3 → 1; durable_writes false → true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := Compute(withState("dev", []*state.Keyspace{tt.from}, nil), withState("dev", []*state.Keyspace{tt.to}, nil), Options{})
			if got := steps(cs); !slices.Equal(got, append([]string{}, tt.want...)) {
				t.Fatalf("changes = %q, want %q", got, tt.want)
			}
			if len(tt.want) == 0 {
				return
			}
			mk := cs.Changes[0].(*ModifyKeyspace)
			if mk.ReplicationChanged != tt.repl || mk.DurableWritesChanged != tt.dw {
				t.Errorf("ReplicationChanged, DurableWritesChanged = %t, %t; want %t, %t", mk.ReplicationChanged, mk.DurableWritesChanged, tt.repl, tt.dw)
			}
			if mk.From != tt.from || mk.To != tt.to {
				t.Errorf("From/To are not the compared keyspaces")
			}
			if got := headline(mk); got != tt.headlineIs {
				t.Errorf("headline = %q, want %q", got, tt.headlineIs)
			}
		})
	}
}

func TestComputeNilAndEmptyStates(t *testing.T) {
	_, to := representative()
	from, _ := representative()

	t.Run("both nil", func(t *testing.T) {
		cs := Compute(nil, nil, Options{})
		if !cs.Empty() || cs.From == nil || cs.To == nil {
			t.Fatalf("Compute(nil, nil) = %+v, want empty set with non-nil states", cs)
		}
	})
	t.Run("nil from creates everything", func(t *testing.T) {
		cs := Compute(nil, to, Options{})
		want := []string{
			"create keyspace/events",
			"create keyspace/metrics",
			"create table/events.clicks",
			"create table/events.views",
			"create table/metrics.samples",
			"create znode/data/config/ingest/pipeline",
			"create znode/data/flags/new-ingest-path",
			"create znode/data/settings/cluster",
		}
		if got := steps(cs); !slices.Equal(got, want) {
			t.Errorf("changes:\n got %q\nwant %q", got, want)
		}
		if cs.From == nil || cs.From.Environment != "prod" || len(cs.From.Keyspaces) != 0 {
			t.Errorf("From = %+v, want an empty state of environment prod", cs.From)
		}
	})
	t.Run("nil to deletes everything, keyspace drops carry their tables", func(t *testing.T) {
		cs := Compute(from, nil, Options{})
		want := []string{
			"delete znode/data/config/ingest/pipeline",
			"delete znode/data/flags/retired",
			"delete znode/data/settings/cluster",
			"delete keyspace/events",
			"delete keyspace/old_ks",
		}
		if got := steps(cs); !slices.Equal(got, want) {
			t.Errorf("changes:\n got %q\nwant %q", got, want)
		}
		if cs.To == nil || cs.To.Environment != "prod" {
			t.Errorf("To = %+v, want an empty state of environment prod", cs.To)
		}
	})
	t.Run("same state", func(t *testing.T) {
		if cs := Compute(to, to, Options{}); !cs.Empty() {
			t.Errorf("changes = %q, want none", steps(cs))
		}
	})
}

func TestComputeZnodes(t *testing.T) {
	from := withState("dev", nil, []*state.Znode{znode("a", "1"), znode("b", "2"), znode("c", "3")})
	to := withState("dev", nil, []*state.Znode{znode("b", "2"), znode("c", "33"), znode("d", "4")})
	cs := Compute(from, to, Options{})
	want := []string{"delete znode/a", "update znode/c", "create znode/d"}
	if got := steps(cs); !slices.Equal(got, want) {
		t.Fatalf("changes = %q, want %q", got, want)
	}
	u := cs.Changes[1].(*UpdateZnode)
	if string(u.From.Data) != "3" || string(u.To.Data) != "33" {
		t.Errorf("UpdateZnode = %q → %q, want 3 → 33", u.From.Data, u.To.Data)
	}
}

func TestComputeSystemKeyspacesNeverCompared(t *testing.T) {
	from := withState("dev", []*state.Keyspace{keyspace("system_auth", nts(nil)), keyspace("system", nts(nil))}, nil)
	to := withState("dev", []*state.Keyspace{keyspace("system_traces", nts(nil))}, nil)
	if cs := Compute(from, to, Options{}); !cs.Empty() {
		t.Errorf("changes = %q, want none", steps(cs))
	}
}

func TestComputeIgnore(t *testing.T) {
	tests := []struct {
		name   string
		ignore []string
		want   []string
	}{
		{
			name:   "znode glob",
			ignore: []string{"znode/data/config/ingest/*"},
			want: []string{
				"update keyspace/events", "create keyspace/metrics", "update table/events.clicks", "create table/events.views",
				"create table/metrics.samples", "create znode/data/flags/new-ingest-path", "delete znode/data/flags/retired",
				"delete table/events.legacy", "delete keyspace/old_ks",
			},
		},
		{
			name:   "star does not cross a slash",
			ignore: []string{"znode/data/*"},
			want: []string{
				"update keyspace/events", "create keyspace/metrics", "update table/events.clicks", "create table/events.views",
				"create table/metrics.samples", "update znode/data/config/ingest/pipeline", "create znode/data/flags/new-ingest-path",
				"delete znode/data/flags/retired", "delete table/events.legacy", "delete keyspace/old_ks",
			},
		},
		{
			name:   "tables of a keyspace",
			ignore: []string{"table/events.*"},
			want: []string{
				"update keyspace/events", "create keyspace/metrics", "create table/metrics.samples",
				"update znode/data/config/ingest/pipeline", "create znode/data/flags/new-ingest-path", "delete znode/data/flags/retired",
				"delete keyspace/old_ks",
			},
		},
		{
			name:   "an ignored keyspace hides its tables",
			ignore: []string{"keyspace/metrics", "keyspace/old_ks", "znode/*/*/*", "znode/*/*/*/*"},
			want:   []string{"update keyspace/events", "update table/events.clicks", "create table/events.views", "delete table/events.legacy"},
		},
		{
			name:   "malformed pattern matches nothing",
			ignore: []string{"znode/[", "keyspace/*", "table/*", "znode/data/*/*"},
			want:   []string{"update znode/data/config/ingest/pipeline"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to := representative()
			cs := Compute(from, to, Options{Ignore: tt.ignore})
			if got := steps(cs); !slices.Equal(got, tt.want) {
				t.Errorf("changes:\n got %q\nwant %q", got, tt.want)
			}
			if len(cs.Unmanaged) != 0 {
				t.Errorf("Unmanaged = %q, want none: ignored objects are not reported", cs.Unmanaged)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := (Options{Ignore: []string{"table/events.*", "znode/data/**"}}).Validate(); err != nil {
		t.Errorf("Validate(valid) = %v", err)
	}
	err := (Options{Ignore: []string{"table/*", "znode/[a-"}}).Validate()
	if !errors.Is(err, path.ErrBadPattern) {
		t.Fatalf("Validate(malformed) = %v, want path.ErrBadPattern", err)
	}
	if want := `ignore pattern "znode/[a-": syntax error in pattern`; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestComputeOwned(t *testing.T) {
	from, to := representative()
	// An unmanaged table in a keyspace both sides have, and an unmanaged znode.
	from.Keyspaces["events"].Tables["audit"] = &state.Table{Keyspace: "events", Name: "audit", Columns: []state.Column{col("id", "uuid")}, PartitionKey: []string{"id"}}
	from.Znodes["data/config/other-team"] = znode("data/config/other-team", "{}")
	asked := map[string]bool{}
	owned := map[string]bool{"table/events.legacy": true, "znode/data/flags/retired": true}
	cs := Compute(from, to, Options{
		Owned: func(id string) bool {
			asked[id] = true
			return owned[id]
		},
		Ignore: []string{"znode/data/settings/*"},
	})
	want := []string{
		"update keyspace/events",
		"create keyspace/metrics",
		"update table/events.clicks",
		"create table/events.views",
		"create table/metrics.samples",
		"update znode/data/config/ingest/pipeline",
		"create znode/data/flags/new-ingest-path",
		"delete znode/data/flags/retired",
		"delete table/events.legacy",
	}
	if got := steps(cs); !slices.Equal(got, want) {
		t.Errorf("changes:\n got %q\nwant %q", got, want)
	}
	wantUnmanaged := []string{"keyspace/old_ks", "table/events.audit", "znode/data/config/other-team"}
	if !slices.Equal(cs.Unmanaged, wantUnmanaged) {
		t.Errorf("Unmanaged = %q, want %q", cs.Unmanaged, wantUnmanaged)
	}
	// Owned is asked only about from-only objects; never about objects on
	// both sides, tables of a dropped keyspace, or ignored objects.
	wantAsked := []string{"keyspace/old_ks", "table/events.audit", "table/events.legacy", "znode/data/config/other-team", "znode/data/flags/retired"}
	if got := state.SortedKeys(asked); !slices.Equal(got, wantAsked) {
		t.Errorf("Owned asked about %q, want %q", got, wantAsked)
	}
}

// TestMapOptionsCompareByDesiredKeys: Cassandra fills in sub-options
// (compaction's thresholds); they are not changes, a differing key is.
func TestMapOptionsCompareByDesiredKeys(t *testing.T) {
	mk := func(m map[string]string) *state.State {
		st := state.New("e")
		st.Keyspaces["k"] = &state.Keyspace{Name: "k", Tables: map[string]*state.Table{"t": {
			Keyspace: "k", Name: "t", Columns: []state.Column{{Name: "id", Type: "int"}}, PartitionKey: []string{"id"},
			Options: map[string]state.OptionValue{"compaction": {Map: m}},
		}}}
		return st
	}
	live := mk(map[string]string{"class": "org.apache.cassandra.db.compaction.LeveledCompactionStrategy", "max_threshold": "32", "min_threshold": "4"})
	if cs := Compute(live, mk(map[string]string{"class": "org.apache.cassandra.db.compaction.LeveledCompactionStrategy"}), Options{}); !cs.Empty() {
		t.Fatalf("filled-in sub-options reported as changes: %v", cs.Changes)
	}
	if cs := Compute(live, mk(map[string]string{"class": "org.apache.cassandra.db.compaction.LeveledCompactionStrategy", "max_threshold": "16"}), Options{}); cs.Empty() {
		t.Fatal("a changed sub-option is not a change")
	}
}
