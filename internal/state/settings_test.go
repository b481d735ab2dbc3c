package state

import (
	"strings"
	"testing"
)

func TestParseSetting(t *testing.T) {
	tests := []struct {
		setting, text string
		want          float64
		err           string
	}{
		{"compaction_throughput", "128MiB/s", 128, ""},
		{"compaction_throughput", "1GiB/s", 1024, ""},
		{"compaction_throughput", "512KiB/s", 0.5, ""},
		{"compaction_throughput", "64", 64, ""},
		{"compaction_throughput", "fast", 0, "not a throughput"},
		{"hinted_handoff_throttle", "2MiB/s", 2048, ""},
		{"concurrent_compactors", "4", 4, ""},
		{"concurrent_compactors", "4.5", 0, "not a whole number"},
		{"max_hint_window", "3h", 10800000, ""},
		{"max_hint_window", "250", 250, ""},
		{"max_hint_window", "soon", 0, "not a duration"},
		{"trace_probability", "0.25", 0.25, ""},
		{"trace_probability", "NaN", 0, "not a number"},
		{"read_request_timeout", "5s", 5000, ""},
		{"read_request_timeout", " ", 0, "empty value"},
	}
	for _, tt := range tests {
		def := Settings[tt.setting]
		got, err := def.ParseSetting(tt.text)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s %q: err %v, want %q", tt.setting, tt.text, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s %q = %v, %v; want %v", tt.setting, tt.text, got, err, tt.want)
		}
	}
}

func TestCheckRange(t *testing.T) {
	cc := Settings["concurrent_compactors"]
	if err := cc.CheckRange(0); err == nil || !strings.Contains(err.Error(), "outside 1..64") {
		t.Errorf("0 compactors: %v", err)
	}
	if err := cc.CheckRange(4); err != nil {
		t.Errorf("4 compactors: %v", err)
	}
	ct := Settings["compaction_throughput"]
	if err := ct.CheckRange(0.5); err == nil || !strings.Contains(err.Error(), "not a whole number of MiB/s") {
		t.Errorf("0.5 MiB/s: %v", err)
	}
	if err := Settings["trace_probability"].CheckRange(0.5); err != nil {
		t.Errorf("decimal in range: %v", err)
	}
}

func TestScopeFor(t *testing.T) {
	for _, tt := range []struct{ dc, rack, node, want string }{
		{"", "", "", "cluster"}, {"dc1", "", "", "dc/dc1"}, {"dc1", "r1", "", "rack/dc1/r1"}, {"dc1", "r1", "n7", "node/n7"},
	} {
		if got, err := ScopeFor(tt.dc, tt.rack, tt.node); err != nil || got != tt.want {
			t.Errorf("ScopeFor(%q, %q, %q) = %q, %v", tt.dc, tt.rack, tt.node, got, err)
		}
	}
	if _, err := ScopeFor("", "r1", ""); err == nil {
		t.Error("a rack without its datacenter was accepted")
	}
}

func TestCQLRendering(t *testing.T) {
	tbl := &Table{Keyspace: "k", Name: "t",
		Columns:      []Column{{Name: "id", Type: "uuid"}, {Name: "at", Type: "timestamp"}, {Name: "s", Type: "text", Static: true}},
		PartitionKey: []string{"id"}, Clustering: []ClusteringColumn{{Name: "at", Descending: true}},
		Options: map[string]OptionValue{"comment": {Scalar: "it's", Quoted: true}, "compaction": {Map: map[string]string{"class": "L", "a": "1"}}},
	}
	want := "CREATE TABLE IF NOT EXISTS k.t (\n    id uuid,\n    at timestamp,\n    s text STATIC,\n    PRIMARY KEY ((id), at)\n) WITH CLUSTERING ORDER BY (at DESC)\n    AND comment = 'it''s'\n    AND compaction = {'a': '1', 'class': 'L'};"
	if got := tbl.CreateCQL(); got != want {
		t.Errorf("CreateCQL:\n%s\nwant\n%s", got, want)
	}
	ks := &Keyspace{Name: "k", DurableWrites: true, Replication: Replication{Class: NetworkTopologyStrategy, Factors: map[string]int{"dc2": 3, "dc1": 2}}}
	if got := ks.CreateCQL(); got != "CREATE KEYSPACE IF NOT EXISTS k WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 3} AND durable_writes = true;" {
		t.Errorf("keyspace CQL: %s", got)
	}
}
