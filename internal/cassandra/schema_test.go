package cassandra

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

func TestKeyspaceFromRow(t *testing.T) {
	ks, err := keyspaceFromRow(map[string]any{
		"keyspace_name":  "events",
		"durable_writes": true,
		"replication":    map[string]string{"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc1": "3", "dc2": "1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &state.Keyspace{Name: "events", DurableWrites: true, Tables: map[string]*state.Table{}, Origin: LiveOrigin,
		Replication: state.Replication{Class: "NetworkTopologyStrategy", Factors: map[string]int{"dc1": 3, "dc2": 1}}}
	if !reflect.DeepEqual(ks, want) {
		t.Errorf("got %+v\nwant %+v", ks, want)
	}

	ks, err = keyspaceFromRow(map[string]any{
		"keyspace_name": "s", "durable_writes": false,
		"replication": map[string]string{"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := ks.Replication.String(); got != "{'class': 'SimpleStrategy', 'replication_factor': 2}" || ks.DurableWrites {
		t.Errorf("got %s durable_writes %t", got, ks.DurableWrites)
	}

	_, err = keyspaceFromRow(map[string]any{
		"keyspace_name": "tr",
		"replication":   map[string]string{"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc1": "3/1"},
	})
	if err == nil || !strings.Contains(err.Error(), `keyspace tr: replication dc1 = "3/1" is not a whole number`) {
		t.Errorf("err = %v", err)
	}
}

// TestTableFromRow feeds a system_schema.tables row as gocql's MapScan
// gives it (Cassandra 5.0 columns) and checks render's formatting.
func TestTableFromRow(t *testing.T) {
	row := map[string]any{
		"keyspace_name":               "events",
		"table_name":                  "t",
		"additional_write_policy":     "99p",
		"allow_auto_snapshot":         true,
		"bloom_filter_fp_chance":      0.01,
		"caching":                     map[string]string{"keys": "ALL", "rows_per_partition": "NONE"},
		"cdc":                         false,
		"comment":                     "it's",
		"compaction":                  map[string]string{"class": "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy", "max_threshold": "32", "min_threshold": "4"},
		"compression":                 map[string]string{"chunk_length_in_kb": "16", "class": "org.apache.cassandra.io.compress.LZ4Compressor"},
		"crc_check_chance":            1.0,
		"default_time_to_live":        0,
		"extensions":                  map[string][]byte{},
		"gc_grace_seconds":            864000,
		"max_index_interval":          2048,
		"memtable":                    "",
		"memtable_flush_period_in_ms": 0,
		"min_index_interval":          128,
		"read_repair":                 "BLOCKING",
		"speculative_retry":           "99p",
	}
	tb, err := tableFromRow(row)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]state.OptionValue{
		"additional_write_policy":     {Scalar: "99p", Quoted: true},
		"bloom_filter_fp_chance":      {Scalar: "0.01"},
		"caching":                     {Map: map[string]string{"keys": "ALL", "rows_per_partition": "NONE"}},
		"cdc":                         {Scalar: "false"},
		"comment":                     {Scalar: "it's", Quoted: true},
		"compaction":                  {Map: map[string]string{"class": "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy", "max_threshold": "32", "min_threshold": "4"}},
		"compression":                 {Map: map[string]string{"chunk_length_in_kb": "16", "class": "org.apache.cassandra.io.compress.LZ4Compressor"}},
		"crc_check_chance":            {Scalar: "1"},
		"default_time_to_live":        {Scalar: "0"},
		"gc_grace_seconds":            {Scalar: "864000"},
		"max_index_interval":          {Scalar: "2048"},
		"memtable_flush_period_in_ms": {Scalar: "0"},
		"min_index_interval":          {Scalar: "128"},
		"read_repair":                 {Scalar: "BLOCKING", Quoted: true},
		"speculative_retry":           {Scalar: "99p", Quoted: true},
	}
	if !reflect.DeepEqual(tb.Options, want) {
		t.Errorf("options:\n got %v\nwant %v", tb.Options, want)
	}
	if tb.Keyspace != "events" || tb.Name != "t" || tb.Origin != LiveOrigin {
		t.Errorf("table %+v", tb)
	}

	row["gc_grace_seconds"] = "soon"
	if _, err := tableFromRow(row); err == nil || !strings.Contains(err.Error(), "table events.t: option gc_grace_seconds: unexpected value") {
		t.Errorf("err = %v", err)
	}
}

func TestSetColumns(t *testing.T) {
	tb := &state.Table{Keyspace: "k", Name: "t"}
	err := setColumns(tb, []columnRow{
		{name: "z", kind: "regular", position: -1, typ: "vector<float, 8>"},
		{name: "b", kind: "partition_key", position: 1, typ: "text"},
		{name: "a", kind: "partition_key", position: 0, typ: "int"},
		{name: "d", kind: "clustering", position: 1, order: "asc", typ: "int"},
		{name: "c", kind: "clustering", position: 0, order: "desc", typ: "timeuuid"},
		{name: "s", kind: "static", position: -1, typ: "text"},
		{name: "m", kind: "regular", position: -1, typ: "map<text, frozen<list<int>>>"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &state.Table{Keyspace: "k", Name: "t",
		PartitionKey: []string{"a", "b"},
		Clustering:   []state.ClusteringColumn{{Name: "c", Descending: true}, {Name: "d"}},
		Columns: []state.Column{
			{Name: "a", Type: "int"}, {Name: "b", Type: "text"}, {Name: "c", Type: "timeuuid"}, {Name: "d", Type: "int"},
			{Name: "m", Type: "map<text, frozen<list<int>>>"}, {Name: "s", Type: "text", Static: true}, {Name: "z", Type: "vector<float, 8>"},
		},
	}
	if !reflect.DeepEqual(tb, want) {
		t.Errorf("got %+v\nwant %+v", tb, want)
	}
	if err := setColumns(&state.Table{Keyspace: "k", Name: "t"}, []columnRow{{name: "x", kind: "regular"}}); err == nil {
		t.Error("a table without partition key: want an error")
	}
}

// TestMismatches checks Verify's comparison without a cluster.
func TestMismatches(t *testing.T) {
	liveKS := testKeyspace()
	live := testTable()
	liveKS.Tables[live.Name] = live
	live.Options["compaction"] = state.OptionValue{Map: map[string]string{"class": "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy", "max_threshold": "32", "min_threshold": "4"}}

	other := testKeyspace()
	other.Replication.Factors["dc2"] = 1
	if got := mismatches2(t, liveKS, &diff.ModifyKeyspace{From: liveKS, To: other, ReplicationChanged: true}); got != "replication is {'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3}, want {'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 1}" {
		t.Errorf("modify keyspace: %q", got)
	}
	if got := mismatches2(t, liveKS, &diff.AddKeyspace{Keyspace: testKeyspace()}); got != "" {
		t.Errorf("add keyspace: %q", got)
	}
	if got := mismatches2(t, nil, &diff.AddKeyspace{Keyspace: testKeyspace()}); got != "keyspace does not exist" {
		t.Errorf("add keyspace, none live: %q", got)
	}
	if got := mismatches2(t, liveKS, &diff.DropKeyspace{Keyspace: liveKS}); got != "keyspace still exists" {
		t.Errorf("drop keyspace: %q", got)
	}
	if got := mismatches2(t, nil, &diff.DropTable{Table: live}); got != "" {
		t.Errorf("drop table, no keyspace: %q", got)
	}
	if got := mismatches2(t, liveKS, &diff.DropTable{Table: live}); got != "table still exists" {
		t.Errorf("drop table: %q", got)
	}
	// AddTable compares only the options the desired table sets.
	if got := mismatches2(t, liveKS, &diff.AddTable{Table: testTable()}); got != "" {
		t.Errorf("add table: %q", got)
	}
	missing := testTable()
	missing.Name = "other"
	if got := mismatches2(t, liveKS, &diff.AddTable{Table: missing}); got != "table does not exist" {
		t.Errorf("add missing table: %q", got)
	}

	mod := &diff.ModifyTable{From: live, To: live, Changes: []diff.TableChange{
		&diff.AddColumn{Column: state.Column{Name: "tags", Type: "set<text>"}},            // there
		&diff.AddColumn{Column: state.Column{Name: "score", Type: "int"}},                 // missing
		&diff.DropColumn{Column: state.Column{Name: "owner", Type: "text", Static: true}}, // still there
		&diff.ModifyOption{Name: "gc_grace_seconds", To: opt(state.OptionValue{Scalar: "3600"})},
		&diff.ModifyOption{Name: "comment", To: opt(state.OptionValue{Scalar: "new", Quoted: true})},
		&diff.ModifyOption{Name: "default_time_to_live", To: nil},
	}}
	want := "column score int is missing; column owner still exists; option comment is 'it''s', want 'new'"
	if got := mismatches2(t, liveKS, mod); got != want {
		t.Errorf("modify table:\n got %q\nwant %q", got, want)
	}
	mod.Changes = []diff.TableChange{&diff.AlterColumnType{Name: "tags"}}
	if _, err := mismatches(liveKS, mod); !errors.Is(err, ErrUnsupported) {
		t.Errorf("alter column type: err = %v", err)
	}
}

func mismatches2(t *testing.T, live *state.Keyspace, ch diff.Change) string {
	t.Helper()
	got, err := mismatches(live, ch)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(got, "; ")
}

// TestTableWithoutColumnsIsATornRead: a table whose columns are not listed
// (yet) is a read that overlapped a CREATE TABLE, which a new read fixes,
// not a schema ringmaster cannot represent.
func TestTableWithoutColumnsIsATornRead(t *testing.T) {
	tbl := &state.Table{Keyspace: "ks", Name: "t"}
	if err := setColumns(tbl, nil); !errors.Is(err, errSchemaInFlux) {
		t.Fatalf("setColumns with no rows: %v, want errSchemaInFlux", err)
	}
	err := setColumns(tbl, []columnRow{{keyspace: "ks", table: "t", name: "x", kind: "weird"}})
	if err == nil || errors.Is(err, errSchemaInFlux) {
		t.Fatalf("an unknown column kind: %v, want a permanent error", err)
	}
}
