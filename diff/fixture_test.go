package diff

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// golden compares got with testdata/name, or rewrites the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read golden file (run go test ./diff -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test ./diff -update after checking):\n--- got ---\n%s\n--- want ---\n%s", p, got, want)
	}
}

func at(file string, line int) state.Origin { return state.Origin{File: file, Line: line, Column: 1} }

func nts(factors map[string]int) state.Replication {
	return state.Replication{Class: state.NetworkTopologyStrategy, Factors: factors}
}

func keyspace(name string, r state.Replication, tables ...*state.Table) *state.Keyspace {
	ks := &state.Keyspace{Name: name, Replication: r, DurableWrites: true, Tables: map[string]*state.Table{}}
	for _, t := range tables {
		t.Keyspace = name
		ks.Tables[t.Name] = t
	}
	return ks
}

func scalar(s string) state.OptionValue { return state.OptionValue{Scalar: s} }

func quoted(s string) state.OptionValue { return state.OptionValue{Scalar: s, Quoted: true} }

// table builds a table keyed on its first column.
func table(name string, cols ...state.Column) *state.Table {
	return &state.Table{Name: name, Columns: cols, PartitionKey: []string{cols[0].Name}, Options: map[string]state.OptionValue{}}
}

func col(name, typ string) state.Column { return state.Column{Name: name, Type: typ} }

func znode(path, data string) *state.Znode {
	return &state.Znode{Path: path, Data: []byte(data), Version: -1}
}

func withState(env string, kss []*state.Keyspace, zs []*state.Znode) *state.State {
	s := state.New(env)
	for _, ks := range kss {
		s.Keyspaces[ks.Name] = ks
	}
	for _, z := range zs {
		s.Znodes[z.Path] = z
	}
	return s
}

// clicks is events.clicks as the "from" side has it.
func clicksFrom() *state.Table {
	t := table("clicks", col("id", "uuid"), col("ts", "timestamp"), col("url", "text"), col("count", "int"), col("old_col", "int"))
	t.Clustering = []state.ClusteringColumn{{Name: "ts", Descending: true}}
	t.Options["gc_grace_seconds"] = scalar("864000")
	t.Options["comment"] = quoted("click stream")
	t.Options["compaction"] = state.OptionValue{Map: map[string]string{"class": "SizeTieredCompactionStrategy"}}
	return t
}

// representative returns the from and to states of a change set that has
// every kind of change.
func representative() (from, to *state.State) {
	pipelineFrom := `{"batch":100,"compression":"lz4","dedupe":true,"maxInFlight":16,"retries":3,"sinks":["kafka"],"source":"events","timeoutMs":5000,"workers":4}`
	pipelineTo := `{"batch":200,"compression":"lz4","dedupe":true,"maxInFlight":16,"retries":3,"sinks":["kafka"],"source":"events","timeoutMs":5000,"workers":8}`
	from = withState("prod",
		[]*state.Keyspace{
			keyspace("events", nts(map[string]int{"dc1": 3, "dc2": 3}), clicksFrom(), table("legacy", col("id", "uuid"))),
			keyspace("old_ks", state.Replication{Class: state.SimpleStrategy, Factors: map[string]int{"replication_factor": 1}},
				table("t1", col("k", "text")), table("t2", col("k", "text"))),
			keyspace("system_auth", state.Replication{Class: state.SimpleStrategy, Factors: map[string]int{"replication_factor": 1}}),
		},
		[]*state.Znode{
			znode("data/config/ingest/pipeline", pipelineFrom),
			znode("data/flags/retired", `{"state":"DISABLED"}`),
			znode("data/settings/cluster", `{"concurrent_compactors":4}`),
		})
	for _, z := range from.Znodes {
		z.Origin = state.Origin{File: "zookeeper"}
		z.Version = 3
	}

	clicks := clicksFrom()
	clicks.Columns = []state.Column{col("id", "uuid"), col("ts", "timestamp"), col("url", "text"), col("count", "bigint"), col("x", "text")}
	clicks.Options["gc_grace_seconds"] = scalar("86400")
	clicks.Options["default_time_to_live"] = scalar("0")
	delete(clicks.Options, "comment")
	clicks.Origin = at("schema/events.yaml", 12)
	views := table("views", col("id", "uuid"), col("n", "counter"))
	views.Origin = at("schema/events.yaml", 40)
	samples := table("samples", col("host", "text"), col("at", "timestamp"), col("v", "double"))
	samples.Clustering = []state.ClusteringColumn{{Name: "at"}}
	samples.Options["comment"] = quoted("it's `raw` | unsorted")
	samples.Origin = at("schema/metrics.yaml", 9)
	events := keyspace("events", nts(map[string]int{"dc1": 3, "dc2": 4}), clicks, views)
	events.Origin = at("schema/events.yaml", 1)
	metrics := keyspace("metrics", nts(map[string]int{"dc1": 2}), samples)
	metrics.Origin = at("schema/metrics.yaml", 1)
	newFlag := znode("data/flags/new-ingest-path", `{"defaultVariant":"off","state":"ENABLED","variants":{"off":false,"on":true}}`)
	newFlag.Kind, newFlag.Name, newFlag.Origin = "FeatureFlag", "new-ingest-path", at("flags/new-ingest-path.yaml", 1)
	pipeline := znode("data/config/ingest/pipeline", pipelineTo)
	pipeline.Kind, pipeline.Name, pipeline.Origin = "ConfigEntry", "ingest-pipeline", at("config/ingest.yaml", 3)
	settings := znode("data/settings/cluster", `{"concurrent_compactors":4}`)
	to = withState("prod", []*state.Keyspace{events, metrics}, []*state.Znode{newFlag, pipeline, settings})
	return from, to
}

// annotations are the findings attached to the representative change set.
func annotations() map[string][]Annotation {
	return map[string][]Annotation{
		"keyspace/events": {{Code: "RM-POL-012", Severity: SeverityWarn, Message: "repair required after apply"}},
		"table/events.clicks": {
			{Code: "RM-POL-020", Severity: SeverityWarn, Message: "column old_col dropped: data is lost"},
			{Code: "RM-POL-003", Severity: SeverityDeny, Message: "type change of `count` int → bigint is not allowed"},
		},
		"column/events.clicks.old_col": {{Code: "RM-POL-021", Severity: SeverityInfo, Message: "declared in allowedDrops | by schema/events.yaml:30"}},
	}
}
