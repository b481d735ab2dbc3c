package policies

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

func TestDenied(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []Finding
		want bool
	}{
		{"none", nil, false},
		{"warn only", []Finding{{Severity: Warn}, {Severity: Warn}}, false},
		{"one deny", []Finding{{Severity: Warn}, {Severity: Deny}}, true},
	}
	for _, tc := range tests {
		if got := Denied(tc.in); got != tc.want {
			t.Errorf("%s: Denied = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestEvaluateOrderAndDuplicates(t *testing.T) {
	t.Parallel()
	s := desired()
	s.Cluster.MaxReplication = 3
	addKeyspace(s, ntsKS("b", map[string]int{"dc1": 9, "dc3": 1}))
	addKeyspace(s, ntsKS("a", map[string]int{"dc1": 3}))
	s.Znodes["data/config/x"] = &state.Znode{Path: "data/config/x", Data: make([]byte, 950_000), Kind: "ConfigEntry", Name: "x"}
	e, err := Compile([]state.Rule{
		{Name: "warn-all", Expression: "false", Severity: Warn, Kinds: []string{"Keyspace"}},
		{Name: "deny-a", Expression: `resource.name != "a"`, Kinds: []string{"Keyspace"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := summary(evaluate(t, e, &diff.ChangeSet{To: s}))
	want := []string{
		"RM-USR:deny-a deny keyspace/a",
		"RM-POL-001 deny keyspace/b",
		"RM-POL-003 deny keyspace/b",
		"RM-USR:warn-all warn keyspace/a",
		"RM-USR:warn-all warn keyspace/b",
		"RM-POL-009 warn znode/data/config/x",
	}
	if !slices.Equal(got, want) {
		t.Errorf("order:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	dup := []Finding{{Code: "X", Severity: Warn, Object: "o"}, {Code: "X", Severity: Warn, Object: "o"}}
	if got := sortFindings(dup); len(got) != 1 {
		t.Errorf("duplicates kept: %v", got)
	}
}

func TestEvaluateNil(t *testing.T) {
	t.Parallel()
	var e *Engine
	if got := evaluate(t, e, nil); got != nil {
		t.Errorf("Evaluate(nil) = %v", got)
	}
	if got := evaluate(t, e, &diff.ChangeSet{}); len(got) != 0 {
		t.Errorf("Evaluate(empty) = %v", got)
	}
	if e.Rules() != nil {
		t.Error("nil Engine has rules")
	}
}

// TestValidateThroughCompute runs the `validate` path: the change set from
// an empty state to the desired one.
func TestValidateThroughCompute(t *testing.T) {
	t.Parallel()
	s := sample()
	s.Keyspaces["events"].Replication.Factors["dc3"] = 3
	e, err := Compile([]state.Rule{{Name: "creates", Expression: `change.action == "create"`, Match: MatchChange}})
	if err != nil {
		t.Fatal(err)
	}
	got := evaluate(t, e, diff.Compute(state.New(s.Environment), s, diff.Options{}))
	if want := []string{"RM-POL-003 deny keyspace/events"}; !slices.Equal(summary(got), want) {
		t.Errorf("findings %v, want %v", summary(got), want)
	}
}

// TestDocumentedCodes keeps doc.go and README.md in step with Guardrails.
func TestDocumentedCodes(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"doc.go", "README.md"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for i, g := range Guardrails {
			if want := fmt.Sprintf("RM-POL-%03d", i+1); g.Code != want {
				t.Errorf("Guardrails[%d].Code = %s, want %s", i, g.Code, want)
			}
			row := fmt.Sprintf("| %s | %s | %s", g.Code, g.Name, g.Severity)
			if file == "doc.go" {
				row = fmt.Sprintf("| %-10s | %-31s | %s", g.Code, g.Name, g.Severity)
			}
			if !strings.Contains(text, row) {
				t.Errorf("%s has no table row starting %q", file, row)
			}
		}
	}
}

// TestNoPanicOnOddState feeds the engine partial objects.
func TestNoPanicOnOddState(t *testing.T) {
	t.Parallel()
	s := state.New("x")
	s.Keyspaces["k"] = &state.Keyspace{Name: "k"}
	s.Keyspaces["k2"] = &state.Keyspace{Name: "k2", Tables: map[string]*state.Table{"t": {Keyspace: "k2", Name: "t"}}}
	s.Flags["f"] = &state.FeatureFlag{Name: "f", Fractional: []state.FractionalSplit{{}}}
	s.Settings["s"] = &state.NodeSettings{Name: "s"}
	s.Znodes["z"] = &state.Znode{Path: "z"}
	e, err := Compile([]state.Rule{
		{Name: "r", Expression: `resource.size() > 0 && has(resource.kind)`},
		{Name: "c", Expression: `change.after.kind != ""`, Match: MatchChange},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := evaluate(t, e, diff.Compute(nil, s, diff.Options{}))
	if !Denied(got) {
		t.Errorf("the empty fractional split should be denied: %v", got)
	}
}

// bigState has 10,000 resources: 500 keyspaces with 10 tables each, 2,000
// feature flags with their znodes, 2,000 config entries and 500 node
// settings.
func bigState() *state.State {
	s := desired()
	for i := range 500 {
		ks := ntsKS(fmt.Sprintf("ks%03d", i), map[string]int{"dc1": 3, "dc2": 3})
		for j := range 10 {
			tb := table(ks.Name, fmt.Sprintf("t%02d", j))
			tb.Options["gc_grace_seconds"] = state.OptionValue{Scalar: "864000"}
			tb.Options["compaction"] = state.OptionValue{Map: map[string]string{"class": "UnifiedCompactionStrategy"}}
			ks.Tables[tb.Name] = tb
		}
		addKeyspace(s, ks)
		ns := &state.NodeSettings{Name: fmt.Sprintf("node%03d", i), Scope: fmt.Sprintf("node/n%03d", i),
			Values: map[string]state.SettingValue{"concurrent_compactors": {Number: 4}}}
		s.Settings[ns.Name] = ns
	}
	for i := range 2000 {
		f := flag(fmt.Sprintf("flag%04d", i))
		s.Flags[f.Name] = f
		p := "data/flags/" + f.Name
		s.Znodes[p] = &state.Znode{Path: p, Kind: "FeatureFlag", Name: f.Name,
			Data: []byte(`{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off"}`)}
		c := fmt.Sprintf("data/config/svc%04d", i)
		s.Znodes[c] = &state.Znode{Path: c, Kind: "ConfigEntry", Name: c,
			Data: []byte(`{"replicas": 3, "endpoints": ["a:1", "b:2"], "mode": "fast"}`)}
	}
	return s
}

func BenchmarkEvaluate(b *testing.B) {
	s := bigState()
	cs := diff.Compute(state.New(s.Environment), s, diff.Options{})
	e, err := Compile([]state.Rule{
		{Name: "rf-3", Expression: `resource.replication.factors.all(dc, resource.replication.factors[dc] >= 3)`, Kinds: []string{"Keyspace"},
			Message: "keyspace {{resource.name}} has RF {{resource.replication.factors}}"},
		{Name: "replicas", Expression: `!has(resource.data.replicas) || resource.data.replicas <= 5`, Kinds: []string{"ConfigEntry"}},
		{Name: "ttl", Expression: `resource.kind != "Table" || resource.?options.default_time_to_live.orValue("0") == "0"`, Severity: Warn},
		{Name: "no-deletes", Expression: `change.action != "delete"`, Match: MatchChange},
	})
	if err != nil {
		b.Fatal(err)
	}
	if n := len(resources(s)); n != 10_000 {
		b.Fatalf("%d resources, want 10000", n)
	}
	if got := evaluate(b, e, cs); len(got) != 0 {
		b.Fatalf("unexpected findings: %v", got[:min(len(got), 3)])
	}
	b.ReportAllocs()
	for b.Loop() {
		evaluate(b, e, cs)
	}
}
