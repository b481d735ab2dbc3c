package policies

import (
	"slices"
	"strings"
	"testing"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// desired returns a two-datacenter environment "prod".
func desired() *state.State {
	s := state.New("prod")
	s.Cluster.Datacenters = []string{"dc1", "dc2"}
	return s
}

func keyspace(name, class string, factors map[string]int) *state.Keyspace {
	return &state.Keyspace{
		Name: name, Replication: state.Replication{Class: class, Factors: factors},
		DurableWrites: true, Tables: map[string]*state.Table{},
		Origin: state.Origin{File: "keyspaces/" + name + ".yaml", Line: 1},
	}
}

func ntsKS(name string, factors map[string]int) *state.Keyspace {
	return keyspace(name, state.NetworkTopologyStrategy, factors)
}

func table(ks, name string) *state.Table {
	return &state.Table{
		Keyspace: ks, Name: name,
		Columns:      []state.Column{{Name: "id", Type: "uuid"}, {Name: "payload", Type: "text"}},
		PartitionKey: []string{"id"},
		Options:      map[string]state.OptionValue{},
		Origin:       state.Origin{File: "tables/" + name + ".yaml", Line: 3},
	}
}

func addKeyspace(s *state.State, ks *state.Keyspace) *state.Keyspace {
	s.Keyspaces[ks.Name] = ks
	return ks
}

// summary renders findings as "CODE severity object" lines.
func summary(fs []Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Code + " " + string(f.Severity) + " " + f.Object
	}
	return out
}

func flag(name string) *state.FeatureFlag {
	return &state.FeatureFlag{
		Name: name, State: "ENABLED",
		Variants:       map[string]any{"on": true, "off": false},
		DefaultVariant: "off",
		Fractional:     []state.FractionalSplit{{Variants: []string{"on", "off"}, Weights: []int{10, 90}}},
		Origin:         state.Origin{File: "flags.yaml", Line: 7},
	}
}

func TestBuiltins(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cs   func() *diff.ChangeSet
		want []string
		// msg, when set, must occur in the first finding's message.
		msg string
	}{
		{
			name: "valid keyspace",
			cs: func() *diff.ChangeSet {
				s := desired()
				addKeyspace(s, ntsKS("events", map[string]int{"dc1": 3, "dc2": 3}))
				return &diff.ChangeSet{To: s}
			},
		},
		{
			name: "001 factor below 1",
			cs: func() *diff.ChangeSet {
				s := desired()
				addKeyspace(s, ntsKS("events", map[string]int{"dc1": 3, "dc2": 0}))
				return &diff.ChangeSet{To: s}
			},
			want: []string{"RM-POL-001 deny keyspace/events"},
			msg:  "keyspace events: replication factor of dc2 is 0",
		},
		{
			name: "001 below minimum",
			cs: func() *diff.ChangeSet {
				s := desired()
				s.Cluster.MinReplication = 3
				addKeyspace(s, ntsKS("events", map[string]int{"dc1": 3, "dc2": 2}))
				return &diff.ChangeSet{To: s}
			},
			want: []string{"RM-POL-001 deny keyspace/events"},
			msg:  "replication factor of dc2 is 2, below the environment's minimum of 3",
		},
		{
			name: "001 above maximum",
			cs: func() *diff.ChangeSet {
				s := desired()
				s.Cluster.MaxReplication = 5
				addKeyspace(s, ntsKS("events", map[string]int{"dc1": 6, "dc2": 5}))
				return &diff.ChangeSet{To: s}
			},
			want: []string{"RM-POL-001 deny keyspace/events"},
			msg:  "replication factor of dc1 is 6, above the environment's maximum of 5",
		},
		{
			name: "001 within bounds",
			cs: func() *diff.ChangeSet {
				s := desired()
				s.Cluster.MinReplication, s.Cluster.MaxReplication = 2, 5
				addKeyspace(s, ntsKS("events", map[string]int{"dc1": 2, "dc2": 5}))
				return &diff.ChangeSet{To: s}
			},
		},
		{
			name: "001 no datacenter",
			cs: func() *diff.ChangeSet {
				s := desired()
				addKeyspace(s, ntsKS("events", map[string]int{}))
				return &diff.ChangeSet{To: s}
			},
			want: []string{"RM-POL-001 deny keyspace/events"},
		},
		{
			name: "002 SimpleStrategy with two datacenters",
			cs: func() *diff.ChangeSet {
				s := desired()
				addKeyspace(s, keyspace("events", state.SimpleStrategy, map[string]int{"replication_factor": 3}))
				return &diff.ChangeSet{To: s}
			},
			want: []string{"RM-POL-002 deny keyspace/events"},
			msg:  "keyspace events: SimpleStrategy in environment prod with 2 datacenters (dc1, dc2)",
		},
		{
			name: "002 SimpleStrategy with one datacenter",
			cs: func() *diff.ChangeSet {
				s := desired()
				s.Cluster.Datacenters = []string{"dc1"}
				addKeyspace(s, keyspace("events", state.SimpleStrategy, map[string]int{"replication_factor": 3}))
				return &diff.ChangeSet{To: s}
			},
		},
		{
			name: "003 unknown datacenter",
			cs: func() *diff.ChangeSet {
				s := desired()
				addKeyspace(s, ntsKS("events", map[string]int{"dc1": 3, "dc3": 3}))
				return &diff.ChangeSet{To: s}
			},
			want: []string{"RM-POL-003 deny keyspace/events"},
			msg:  "replication names datacenter dc3, which environment prod does not have (datacenters: dc1, dc2)",
		},
		{
			name: "003 no declared datacenters",
			cs: func() *diff.ChangeSet {
				s := desired()
				s.Cluster.Datacenters = nil
				addKeyspace(s, ntsKS("events", map[string]int{"dc9": 3}))
				return &diff.ChangeSet{To: s}
			},
		},
		{
			name: "004 step of 2 and 012 repair",
			cs:   replicationChange(map[string]int{"dc1": 3, "dc2": 3}, map[string]int{"dc1": 3, "dc2": 5}),
			want: []string{"RM-POL-004 deny keyspace/events", "RM-POL-012 warn keyspace/events"},
			msg:  "keyspace events: replication factor of dc2 changes 3 → 5; change at most 1 per datacenter per apply",
		},
		{
			name: "004 step of 1 warns only",
			cs:   replicationChange(map[string]int{"dc1": 3, "dc2": 3}, map[string]int{"dc1": 3, "dc2": 4}),
			want: []string{"RM-POL-012 warn keyspace/events"},
			msg:  "keyspace events: replication changes dc2 3 → 4; repair required after apply: run `nodetool repair -full events` on every node of dc2",
		},
		{
			name: "004 added datacenter counts from 0",
			cs:   replicationChange(map[string]int{"dc1": 3}, map[string]int{"dc1": 3, "dc2": 3}),
			want: []string{"RM-POL-004 deny keyspace/events", "RM-POL-012 warn keyspace/events"},
			msg:  "replication factor of dc2 changes 0 → 3",
		},
		{
			name: "004 removed datacenter counts to 0",
			cs:   replicationChange(map[string]int{"dc1": 3, "dc2": 2}, map[string]int{"dc1": 3}),
			want: []string{"RM-POL-004 deny keyspace/events", "RM-POL-014 deny keyspace/events", "RM-POL-012 warn keyspace/events"},
			msg:  "keyspace events: replication factor of dc2 changes 2 → 0",
		},
		{
			name: "012 removal asks for cleanup",
			cs:   allowedRemoval(map[string]int{"dc1": 3, "dc2": 1}, map[string]int{"dc1": 3}, "dc2"),
			want: []string{"RM-POL-012 warn keyspace/events", "RM-POL-014 warn keyspace/events"},
			msg:  "keyspace events: replication changes dc2 1 → 0; run `nodetool cleanup events` on every node of dc2 to remove data they no longer own",
		},
		{
			name: "014 removing a declared datacenter is denied",
			cs:   replicationChange(map[string]int{"dc1": 3, "dc2": 1}, map[string]int{"dc1": 3}),
			want: []string{"RM-POL-014 deny keyspace/events", "RM-POL-012 warn keyspace/events"},
			msg: "keyspace events: replication drops datacenter dc2 (1 → 0), which environment prod still declares: the data there stops being replicated " +
				"and clients there at LOCAL_ consistency levels fail; if that is intended, list dc2 in the Keyspace's spec.allowDatacenterRemoval",
		},
		{
			name: "014 removing every declared datacenter but one",
			cs: func() *diff.ChangeSet {
				cs := replicationChange(map[string]int{"dc1": 1, "dc2": 1, "dc3": 1}, map[string]int{"dc2": 1})()
				cs.To.Cluster.Datacenters = []string{"dc1", "dc2", "dc3"}
				return cs
			},
			want: []string{"RM-POL-014 deny keyspace/events", "RM-POL-014 deny keyspace/events", "RM-POL-012 warn keyspace/events"},
		},
		{
			name: "014 an allowance for another datacenter does not count",
			cs:   allowedRemoval(map[string]int{"dc1": 3, "dc2": 1}, map[string]int{"dc1": 3}, "dc1"),
			want: []string{"RM-POL-014 deny keyspace/events", "RM-POL-012 warn keyspace/events"},
		},
		{
			name: "014 a datacenter the environment no longer declares may go",
			cs: func() *diff.ChangeSet {
				cs := replicationChange(map[string]int{"dc1": 3, "dc2": 1}, map[string]int{"dc1": 3})()
				cs.To.Cluster.Datacenters = []string{"dc1"}
				return cs
			},
			want: []string{"RM-POL-012 warn keyspace/events"},
		},
		{
			name: "014 a shrinking factor is not a removal",
			cs:   replicationChange(map[string]int{"dc1": 3, "dc2": 2}, map[string]int{"dc1": 3, "dc2": 1}),
			want: []string{"RM-POL-012 warn keyspace/events"},
		},
		{
			name: "014 leaves a switch to SimpleStrategy to 002",
			cs: func() *diff.ChangeSet {
				s := desired()
				from := ntsKS("events", map[string]int{"dc1": 1, "dc2": 1})
				to := addKeyspace(s, keyspace("events", state.SimpleStrategy, map[string]int{"replication_factor": 1}))
				return &diff.ChangeSet{To: s, Changes: []diff.Change{&diff.ModifyKeyspace{From: from, To: to, ReplicationChanged: true}}}
			},
			want: []string{"RM-POL-002 deny keyspace/events", "RM-POL-012 warn keyspace/events"},
		},
		{
			name: "012 shrink asks for repair and cleanup",
			cs:   replicationChange(map[string]int{"dc1": 3, "dc2": 3}, map[string]int{"dc1": 4, "dc2": 2}),
			want: []string{"RM-POL-012 warn keyspace/events"},
			msg: "keyspace events: replication changes dc1 3 → 4, dc2 3 → 2; repair required after apply: run `nodetool repair -full events` on every node of dc1, dc2, " +
				"then run `nodetool cleanup events` on every node of dc2 to remove data they no longer own",
		},
		{
			name: "004 single-datacenter class switch is not a step",
			cs: func() *diff.ChangeSet {
				s := desired()
				s.Cluster.Datacenters = []string{"dc1"}
				from := keyspace("events", state.SimpleStrategy, map[string]int{"replication_factor": 3})
				to := addKeyspace(s, ntsKS("events", map[string]int{"dc1": 3}))
				return &diff.ChangeSet{To: s, Changes: []diff.Change{&diff.ModifyKeyspace{From: from, To: to, ReplicationChanged: true}}}
			},
			want: []string{"RM-POL-012 warn keyspace/events"},
		},
		{
			name: "005 drop keyspace denied",
			cs: func() *diff.ChangeSet {
				return &diff.ChangeSet{To: desired(), Changes: []diff.Change{
					&diff.DropKeyspace{Keyspace: ntsKS("old", map[string]int{"dc1": 3})}}}
			},
			want: []string{"RM-POL-005 deny keyspace/old"},
			msg:  "keyspace old: drop would destroy all its tables and data and is not allowed; to proceed, keep Keyspace old in the repository with drop: true in its spec",
		},
		{
			name: "005 allowed keyspace drop warns, its tables need no entry",
			cs: func() *diff.ChangeSet {
				s := desired()
				s.AllowedDrops[state.KeyspaceID("old")] = state.Origin{File: "env/prod.yaml", Line: 9}
				old := ntsKS("old", map[string]int{"dc1": 3})
				return &diff.ChangeSet{To: s, Changes: []diff.Change{
					&diff.DropTable{Table: table("old", "t1")},
					&diff.DropKeyspace{Keyspace: old}}}
			},
			want: []string{"RM-POL-005 warn keyspace/old"},
			msg:  "keyspace old: drop is explicitly allowed (env/prod.yaml:9) and destroys all its tables and data",
		},
		{
			name: "005 drop table denied, also when only its kept keyspace is allowed",
			cs: func() *diff.ChangeSet {
				s := desired()
				addKeyspace(s, ntsKS("events", map[string]int{"dc1": 3}))
				s.AllowedDrops[state.KeyspaceID("events")] = state.Origin{}
				return &diff.ChangeSet{To: s, Changes: []diff.Change{&diff.DropTable{Table: table("events", "raw")}}}
			},
			want: []string{"RM-POL-005 deny table/events.raw"},
		},
		{
			name: "005 drop table allowed",
			cs: func() *diff.ChangeSet {
				s := desired()
				s.AllowedDrops[state.TableID("events", "raw")] = state.Origin{File: "env/prod.yaml", Line: 4}
				return &diff.ChangeSet{To: s, Changes: []diff.Change{&diff.DropTable{Table: table("events", "raw")}}}
			},
			want: []string{"RM-POL-005 warn table/events.raw"},
		},
		{
			name: "005 drop column denied and allowed",
			cs: func() *diff.ChangeSet {
				s := desired()
				s.AllowedDrops[state.ColumnID("events", "raw", "b")] = state.Origin{File: "env/prod.yaml", Line: 5}
				from, to := table("events", "raw"), table("events", "raw")
				return &diff.ChangeSet{To: s, Changes: []diff.Change{&diff.ModifyTable{From: from, To: to, Changes: []diff.TableChange{
					&diff.DropColumn{Column: state.Column{Name: "a", Type: "int"}},
					&diff.DropColumn{Column: state.Column{Name: "b", Type: "int"}},
				}}}}
			},
			want: []string{"RM-POL-005 deny column/events.raw.a", "RM-POL-005 warn column/events.raw.b"},
			msg:  "table events.raw: column a: drop would destroy its data in every row",
		},
		{
			name: "006 column type change",
			cs: modifyTable(&diff.AlterColumnType{Name: "payload",
				From: state.Column{Name: "payload", Type: "text"}, To: state.Column{Name: "payload", Type: "blob"}}),
			want: []string{"RM-POL-006 deny table/events.raw"},
			msg:  "table events.raw: column payload changes type text → blob",
		},
		{
			name: "006 static change",
			cs: modifyTable(&diff.AlterColumnType{Name: "payload",
				From: state.Column{Name: "payload", Type: "text"}, To: state.Column{Name: "payload", Type: "text", Static: true}}),
			want: []string{"RM-POL-006 deny table/events.raw"},
			msg:  "column payload changes from regular to static",
		},
		{
			name: "007 primary key change",
			cs:   modifyTable(&diff.ChangePrimaryKey{From: "PRIMARY KEY ((id))", To: "PRIMARY KEY ((id), ts)"}),
			want: []string{"RM-POL-007 deny table/events.raw"},
			msg:  "primary key changes PRIMARY KEY ((id)) → PRIMARY KEY ((id), ts)",
		},
		{
			name: "adding a column is fine",
			cs:   modifyTable(&diff.AddColumn{Column: state.Column{Name: "extra", Type: "int"}}),
		},
		{
			name: "008 desired system keyspace",
			cs: func() *diff.ChangeSet {
				s := desired()
				addKeyspace(s, ntsKS("system_auth", map[string]int{"dc1": 3}))
				return &diff.ChangeSet{To: s}
			},
			want: []string{"RM-POL-008 deny keyspace/system_auth"},
		},
		{
			name: "008 change in a system keyspace",
			cs: func() *diff.ChangeSet {
				return &diff.ChangeSet{To: desired(), Changes: []diff.Change{
					&diff.AddTable{Table: table("system_distributed", "x")},
					&diff.DropKeyspace{Keyspace: ntsKS("system_traces", map[string]int{"dc1": 3})},
				}}
			},
			want: []string{
				"RM-POL-005 deny keyspace/system_traces",
				"RM-POL-008 deny keyspace/system_traces",
				"RM-POL-008 deny table/system_distributed.x",
			},
		},
		{
			name: "009 znode above limit",
			cs:   znodeOfSize(1_000_001, 0),
			want: []string{"RM-POL-009 deny znode/data/config/big"},
			msg:  "znode data/config/big (ConfigEntry big): payload is 1000001 bytes, above the limit of 1000000",
		},
		{
			name: "009 znode near limit",
			cs:   znodeOfSize(900_000, 0),
			want: []string{"RM-POL-009 warn znode/data/config/big"},
			msg:  "payload is 900000 bytes, 90% of the limit of 1000000",
		},
		{
			name: "009 znode well below limit",
			cs:   znodeOfSize(800_000, 0),
		},
		{
			name: "009 environment limit",
			cs:   znodeOfSize(101, 100),
			want: []string{"RM-POL-009 deny znode/data/config/big"},
		},
		{
			name: "010 valid flag",
			cs:   flagCS(func(*state.FeatureFlag) {}),
		},
		{
			name: "010 weights do not sum to 100",
			cs: flagCS(func(f *state.FeatureFlag) {
				f.Fractional[0].Weights = []int{10, 80}
			}),
			want: []string{"RM-POL-010 deny featureflag/new-ingest-path"},
			msg:  "feature flag new-ingest-path: fractional split 1 weights sum to 90, want 100",
		},
		{
			name: "010 negative weight",
			cs: flagCS(func(f *state.FeatureFlag) {
				f.Fractional[0].Weights = []int{110, -10}
			}),
			want: []string{"RM-POL-010 deny featureflag/new-ingest-path"},
			msg:  "gives variant off the negative weight -10",
		},
		{
			name: "010 unknown fractional variant",
			cs: flagCS(func(f *state.FeatureFlag) {
				f.Fractional[0].Variants = []string{"on", "maybe"}
			}),
			want: []string{"RM-POL-010 deny featureflag/new-ingest-path"},
			msg:  "names variant maybe, which is not among the variants (off, on)",
		},
		{
			name: "010 unknown default variant",
			cs: flagCS(func(f *state.FeatureFlag) {
				f.DefaultVariant = "maybe"
			}),
			want: []string{"RM-POL-010 deny featureflag/new-ingest-path"},
			msg:  "default variant maybe is not among the variants (off, on)",
		},
		{
			name: "011 valid settings",
			cs:   settingsCS(map[string]float64{"concurrent_compactors": 4, "compaction_throughput": 128}),
		},
		{
			name: "011 out of range",
			cs:   settingsCS(map[string]float64{"concurrent_compactors": 100}),
			want: []string{"RM-POL-011 deny nodesettings/dc2-compaction"},
			msg:  "node settings dc2-compaction (scope dc/dc2): setting concurrent_compactors: 100 is outside 1..64",
		},
		{
			name: "011 unknown setting",
			cs:   settingsCS(map[string]float64{"concurent_compactors": 4}),
			want: []string{"RM-POL-011 deny nodesettings/dc2-compaction"},
			msg:  "unknown setting concurent_compactors",
		},
		{
			name: "013 low gc_grace_seconds",
			cs: func() *diff.ChangeSet {
				s := desired()
				ks := addKeyspace(s, ntsKS("events", map[string]int{"dc1": 3}))
				tb := table("events", "raw")
				tb.Options["gc_grace_seconds"] = state.OptionValue{Scalar: "3600"}
				ks.Tables["raw"] = tb
				ok := table("events", "ok")
				ok.Options["gc_grace_seconds"] = state.OptionValue{Scalar: "864000"}
				ks.Tables["ok"] = ok
				return &diff.ChangeSet{To: s}
			},
			want: []string{"RM-POL-013 warn table/events.raw"},
			msg:  "table events.raw: gc_grace_seconds is 3600, below 3 hours (10800)",
		},
		{
			name: "013 default_time_to_live change",
			cs:   modifyTable(&diff.ModifyOption{Name: "default_time_to_live", From: &state.OptionValue{Scalar: "0"}, To: &state.OptionValue{Scalar: "86400"}}),
			want: []string{"RM-POL-013 warn table/events.raw"},
			msg:  "table events.raw: default_time_to_live changes 0 → 86400; only data written after the change gets the new TTL",
		},
		{
			name: "013 compaction class change",
			cs: modifyTable(&diff.ModifyOption{Name: "compaction",
				From: &state.OptionValue{Map: map[string]string{"class": "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy"}},
				To:   &state.OptionValue{Map: map[string]string{"class": "TimeWindowCompactionStrategy"}}}),
			want: []string{"RM-POL-013 warn table/events.raw"},
			msg:  "compaction class changes SizeTieredCompactionStrategy → TimeWindowCompactionStrategy",
		},
		{
			name: "013 compaction parameter change only",
			cs: modifyTable(&diff.ModifyOption{Name: "compaction",
				From: &state.OptionValue{Map: map[string]string{"class": "SizeTieredCompactionStrategy", "min_threshold": "4"}},
				To:   &state.OptionValue{Map: map[string]string{"class": "SizeTieredCompactionStrategy", "min_threshold": "6"}}}),
		},
	}
	var nilEngine *Engine
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := evaluate(t, nilEngine, tc.cs())
			if s := summary(got); !slices.Equal(s, tc.want) {
				t.Fatalf("findings:\n  %s\nwant:\n  %s\nmessages: %v", strings.Join(s, "\n  "), strings.Join(tc.want, "\n  "), got)
			}
			if tc.msg != "" && !strings.Contains(got[0].Message, tc.msg) {
				t.Errorf("message %q does not contain %q", got[0].Message, tc.msg)
			}
			for _, f := range got {
				if f.Rule == "" || f.Origin.File == "" {
					t.Errorf("finding %+v lacks rule name or origin", f)
				}
			}
		})
	}
}

// replicationChange modifies keyspace events from one set of NTS factors to
// another.
func replicationChange(from, to map[string]int) func() *diff.ChangeSet {
	return func() *diff.ChangeSet {
		s := desired()
		f := ntsKS("events", from)
		t := addKeyspace(s, ntsKS("events", to))
		return &diff.ChangeSet{To: s, Changes: []diff.Change{&diff.ModifyKeyspace{From: f, To: t, ReplicationChanged: true}}}
	}
}

// allowedRemoval is replicationChange with the desired keyspace allowing
// the removal of the datacenters allow names, each at its own line of
// keyspaces/events.yaml.
func allowedRemoval(from, to map[string]int, allow ...string) func() *diff.ChangeSet {
	return func() *diff.ChangeSet {
		cs := replicationChange(from, to)()
		ks := cs.To.Keyspaces["events"]
		ks.AllowDatacenterRemoval = map[string]state.Origin{}
		for i, dc := range allow {
			ks.AllowDatacenterRemoval[dc] = state.Origin{File: "keyspaces/events.yaml", Line: 8 + i, Column: 5}
		}
		return cs
	}
}

// TestAllowedDatacenterRemoval: an allowed removal is a warning that points
// at the allowance and says what happens to the datacenter.
func TestAllowedDatacenterRemoval(t *testing.T) {
	t.Parallel()
	got := evaluate(t, nil, allowedRemoval(map[string]int{"dc1": 3, "dc2": 1}, map[string]int{"dc1": 3}, "dc2")())
	var f *Finding
	for i := range got {
		if got[i].Code == CodeDatacenterRemoval {
			f = &got[i]
		}
	}
	if f == nil || f.Severity != Warn || f.Rule != "datacenter-removal" {
		t.Fatalf("no RM-POL-014 warning: %+v", got)
	}
	if want := (state.Origin{File: "keyspaces/events.yaml", Line: 8, Column: 5}); f.Origin != want {
		t.Errorf("origin %s, want the allowance at %s", f.Origin, want)
	}
	want := "keyspace events: removing datacenter dc2 from the replication (1 → 0) is explicitly allowed (keyspaces/events.yaml:8:5); dc2 keeps no replicas of it"
	if !strings.Contains(f.Message, want) {
		t.Errorf("message %q lacks %q", f.Message, want)
	}
}

// modifyTable changes table events.raw by the given table changes.
func modifyTable(changes ...diff.TableChange) func() *diff.ChangeSet {
	return func() *diff.ChangeSet {
		s := desired()
		ks := addKeyspace(s, ntsKS("events", map[string]int{"dc1": 3, "dc2": 3}))
		to := table("events", "raw")
		ks.Tables["raw"] = to
		return &diff.ChangeSet{To: s, Changes: []diff.Change{&diff.ModifyTable{From: table("events", "raw"), To: to, Changes: changes}}}
	}
}

func znodeOfSize(size, limit int) func() *diff.ChangeSet {
	return func() *diff.ChangeSet {
		s := desired()
		s.Cluster.MaxZnodeBytes = limit
		s.Znodes["data/config/big"] = &state.Znode{Path: "data/config/big", Data: make([]byte, size),
			Kind: "ConfigEntry", Name: "big", Origin: state.Origin{File: "config/big.yaml", Line: 1}, Version: -1}
		return &diff.ChangeSet{To: s}
	}
}

func flagCS(edit func(*state.FeatureFlag)) func() *diff.ChangeSet {
	return func() *diff.ChangeSet {
		s := desired()
		f := flag("new-ingest-path")
		edit(f)
		s.Flags[f.Name] = f
		return &diff.ChangeSet{To: s}
	}
}

func settingsCS(values map[string]float64) func() *diff.ChangeSet {
	return func() *diff.ChangeSet {
		s := desired()
		ns := &state.NodeSettings{Name: "dc2-compaction", Scope: "dc/dc2", Values: map[string]state.SettingValue{},
			Origin: state.Origin{File: "settings.yaml", Line: 2}}
		for k, v := range values {
			ns.Values[k] = state.SettingValue{Number: v, Text: "x", Origin: state.Origin{File: "settings.yaml", Line: 6}}
		}
		s.Settings[ns.Name] = ns
		return &diff.ChangeSet{To: s}
	}
}
