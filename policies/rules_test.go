package policies

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

func origin(line int) state.Origin { return state.Origin{File: "policies/prod.yaml", Line: line} }

// userFindings returns the findings of user rules only.
func userFindings(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if strings.HasPrefix(f.Code, UserCodePrefix) {
			out = append(out, f)
		}
	}
	return out
}

// sample is a desired state with one of everything.
func sample() *state.State {
	s := desired()
	ks := addKeyspace(s, ntsKS("events", map[string]int{"dc1": 3, "dc2": 2}))
	tb := table("events", "raw")
	tb.Clustering = []state.ClusteringColumn{{Name: "payload", Descending: true}}
	tb.Options["default_time_to_live"] = state.OptionValue{Scalar: "86400"}
	tb.Options["compaction"] = state.OptionValue{Map: map[string]string{"class": "TimeWindowCompactionStrategy"}}
	ks.Tables["raw"] = tb
	addKeyspace(s, ntsKS("audit", map[string]int{"dc1": 3, "dc2": 3}))
	s.Flags["new-ingest-path"] = flag("new-ingest-path")
	s.Znodes["data/flags/new-ingest-path"] = &state.Znode{Path: "data/flags/new-ingest-path", Data: []byte(`{"state":"ENABLED"}`),
		Kind: "FeatureFlag", Name: "new-ingest-path", Origin: state.Origin{File: "flags.yaml", Line: 7}}
	s.Settings["dc2-compaction"] = &state.NodeSettings{Name: "dc2-compaction", Scope: "dc/dc2",
		Values: map[string]state.SettingValue{"concurrent_compactors": {Number: 4}, "compaction_throughput": {Number: 128}},
		Origin: state.Origin{File: "settings.yaml", Line: 2}}
	s.Znodes["data/settings/dc/dc2"] = &state.Znode{Path: "data/settings/dc/dc2", Data: []byte(`{}`),
		Kind: "NodeSettings", Name: "dc2-compaction", Origin: state.Origin{File: "settings.yaml", Line: 2}}
	s.Znodes["data/config/ingest"] = &state.Znode{Path: "data/config/ingest", Data: []byte(`{"replicas": 7, "mode": "fast"}`),
		Kind: "ConfigEntry", Name: "ingest", Origin: state.Origin{File: "config/ingest.yaml", Line: 1}}
	s.Znodes["data/config/raw"] = &state.Znode{Path: "data/config/raw", Data: []byte(`not json`),
		Kind: "ConfigEntry", Name: "raw", Origin: state.Origin{File: "config/raw.yaml", Line: 1}}
	return s
}

func TestResourceRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rule state.Rule
		// want lists "severity object" of the rule's findings.
		want []string
		// msg, when set, is the first finding's message.
		msg string
	}{
		{
			name: "keyspace rule true for all",
			rule: state.Rule{Expression: `resource.replication.factors.all(dc, resource.replication.factors[dc] >= 2)`, Kinds: []string{"Keyspace"}},
		},
		{
			name: "keyspace rule false for one, with placeholders",
			rule: state.Rule{
				Expression: `env.name != "prod" || resource.replication.factors.all(dc, resource.replication.factors[dc] >= 3)`,
				Message:    "keyspace {{resource.name}} needs RF >= 3 in {{ env.name }}, has {{resource.replication.factors}}",
				Kinds:      []string{"Keyspace"},
			},
			want: []string{"deny keyspace/events"},
			msg:  `keyspace events needs RF >= 3 in prod, has {"dc1":3,"dc2":2}`,
		},
		{
			name: "kind filter keeps other kinds out",
			rule: state.Rule{Expression: `resource.kind == "Table"`, Kinds: []string{"Table"}, Severity: Warn},
		},
		{
			name: "no kind filter sees every resource",
			rule: state.Rule{Expression: `false`, Severity: Warn},
			want: []string{
				"warn featureflag/new-ingest-path",
				"warn keyspace/audit",
				"warn keyspace/events",
				"warn nodesettings/dc2-compaction",
				"warn table/events.raw",
				"warn znode/data/config/ingest",
				"warn znode/data/config/raw",
			},
		},
		{
			name: "table fields",
			rule: state.Rule{Expression: `resource.keyspace == "events" && resource.partition_key == ["id"] &&
				resource.clustering[0].order == "DESC" && resource.columns.exists(c, c.name == "payload" && c.type == "text" && !c.static) &&
				resource.options.default_time_to_live == "86400" && resource.options.compaction["class"] == "TimeWindowCompactionStrategy" &&
				resource.?options.gc_grace_seconds.orValue("864000") == "864000"`, Kinds: []string{"Table"}},
		},
		{
			name: "table default message",
			rule: state.Rule{Expression: `int(resource.options.default_time_to_live) == 0`, Kinds: []string{"Table"}},
			want: []string{"deny table/events.raw"},
			msg:  "table/events.raw violates rule r",
		},
		{
			name: "config entry data is parsed JSON",
			rule: state.Rule{Expression: `resource.data == null || resource.data.replicas <= 5`, Kinds: []string{"ConfigEntry"},
				Message: "{{resource.path}} has {{resource.data.replicas}} replicas ({{resource.size}} bytes)"},
			want: []string{"deny znode/data/config/ingest"},
			msg:  "data/config/ingest has 7 replicas (31 bytes)",
		},
		{
			name: "Znode filter matches config entries",
			rule: state.Rule{Expression: `resource.text != "not json"`, Kinds: []string{"Znode"}},
			want: []string{"deny znode/data/config/raw"},
		},
		{
			name: "feature flag fields",
			rule: state.Rule{Expression: `resource.state == "ENABLED" && resource.defaultVariant in resource.variants &&
				resource.variants.on == true && resource.fractional[0].weights[0] <= 5`, Kinds: []string{"FeatureFlag"}, Severity: Warn,
				Message: "flag {{resource.name}} rolls out {{resource.fractional[0].weights[0]}}%"},
			want: []string{"warn featureflag/new-ingest-path"},
			msg:  "flag new-ingest-path rolls out 10%",
		},
		{
			name: "lists format as JSON in messages",
			rule: state.Rule{Expression: `size(resource) == 0`, Kinds: []string{"FeatureFlag"}, Message: "{{resource.fractional}} {{resource.variants.on}} {{resource.targeting}}"},
			want: []string{"deny featureflag/new-ingest-path"},
			msg:  `[{"variants":["on","off"],"weights":[10,90]}] true null`,
		},
		{
			name: "node settings compare across int and double",
			rule: state.Rule{Expression: `resource.scope.startsWith("dc/") && resource.values.concurrent_compactors <= 2`, Kinds: []string{"NodeSettings"}},
			want: []string{"deny nodesettings/dc2-compaction"},
		},
		{
			name: "env fields",
			rule: state.Rule{Expression: `env.datacenters == ["dc1", "dc2"] && env.min_replication == 0 && env.max_znode_bytes == 1000000`},
		},
		{
			name: "missing key is a deny finding naming the rule",
			rule: state.Rule{Expression: `resource.nope == 1`, Kinds: []string{"Keyspace"}, Severity: Warn},
			want: []string{"deny keyspace/audit", "deny keyspace/events"},
			msg:  "rule r (policies/prod.yaml:3) failed to evaluate on keyspace/audit: no such key: nope",
		},
		{
			name: "dyn non-bool result is a deny finding",
			rule: state.Rule{Expression: `resource.name`, Kinds: []string{"Keyspace"}},
			want: []string{"deny keyspace/audit", "deny keyspace/events"},
			msg:  "rule r (policies/prod.yaml:3) failed to evaluate on keyspace/audit: expression returned string, want bool",
		},
		{
			name: "failing placeholder does not hide the finding",
			rule: state.Rule{Expression: `false`, Kinds: []string{"FeatureFlag"}, Message: "x {{resource.nope}} y"},
			want: []string{"deny featureflag/new-ingest-path"},
			msg:  "x <resource.nope: no such key: nope> y",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := tc.rule
			r.Name, r.Origin, r.Match = "r", origin(3), MatchResource
			e, err := Compile([]state.Rule{r})
			if err != nil {
				t.Fatal(err)
			}
			got := userFindings(evaluate(t, e, &diff.ChangeSet{To: sample()}))
			var s []string
			for _, f := range got {
				s = append(s, string(f.Severity)+" "+f.Object)
				if f.Code != "RM-USR:r" || f.Rule != "r" {
					t.Errorf("finding %+v: want code RM-USR:r and rule r", f)
				}
			}
			if !slices.Equal(s, tc.want) {
				t.Fatalf("findings:\n  %s\nwant:\n  %s\n%+v", strings.Join(s, "\n  "), strings.Join(tc.want, "\n  "), got)
			}
			if tc.msg != "" && got[0].Message != tc.msg {
				t.Errorf("message:\n  %s\nwant:\n  %s", got[0].Message, tc.msg)
			}
		})
	}
}

func TestResourceFindingOrigin(t *testing.T) {
	t.Parallel()
	e, err := Compile([]state.Rule{
		{Name: "f", Expression: "false", Kinds: []string{"Keyspace"}, Origin: origin(1)},
		{Name: "err", Expression: "resource.nope", Kinds: []string{"Keyspace"}, Origin: origin(9)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range userFindings(evaluate(t, e, &diff.ChangeSet{To: sample()})) {
		want := state.Origin{File: "keyspaces/" + strings.TrimPrefix(f.Object, "keyspace/") + ".yaml", Line: 1}
		if f.Rule == "err" {
			want = origin(9) // the fix is in the rule
		}
		if f.Origin != want {
			t.Errorf("%s on %s: origin %v, want %v", f.Rule, f.Object, f.Origin, want)
		}
	}
}

func TestChangeRules(t *testing.T) {
	t.Parallel()
	s := sample()
	events := s.Keyspaces["events"]
	oldEvents := ntsKS("events", map[string]int{"dc1": 3, "dc2": 1})
	raw := s.Keyspaces["events"].Tables["raw"]
	cs := &diff.ChangeSet{To: s, Changes: []diff.Change{
		&diff.ModifyKeyspace{From: oldEvents, To: events, ReplicationChanged: true},
		&diff.AddTable{Table: raw},
		&diff.UpdateZnode{From: &state.Znode{Path: "data/flags/new-ingest-path", Data: []byte(`{"state":"DISABLED"}`), Kind: "FeatureFlag", Name: "new-ingest-path"},
			To: s.Znodes["data/flags/new-ingest-path"]},
		&diff.CreateZnode{Znode: s.Znodes["data/config/ingest"]},
		&diff.DropTable{Table: table("audit", "old")},
	}}
	tests := []struct {
		name string
		rule state.Rule
		want []string
		msg  string
	}{
		{
			name: "no deletes",
			rule: state.Rule{Expression: `change.action != "delete"`, Message: "{{change.kind}} {{change.id}} is deleted ({{change.before.name}})"},
			want: []string{"deny table/audit.old"},
			msg:  "Table table/audit.old is deleted (old)",
		},
		{
			name: "before and after",
			rule: state.Rule{Expression: `change.before == null || change.after == null ||
				change.after.replication.factors.dc2 <= change.before.replication.factors.dc2`, Kinds: []string{"Keyspace"}, Severity: Warn,
				Message: "dc2 grows {{change.before.replication.factors.dc2}} → {{change.after.replication.factors.dc2}}"},
			want: []string{"warn keyspace/events"},
			msg:  "dc2 grows 1 → 2",
		},
		{
			name: "manifest kind filter on znode changes",
			rule: state.Rule{Expression: `change.after.data.state == "DISABLED"`, Kinds: []string{"FeatureFlag"}},
			want: []string{"deny znode/data/flags/new-ingest-path"},
		},
		{
			name: "object kind filter on znode changes",
			rule: state.Rule{Expression: `change.action == "update"`, Kinds: []string{"Znode"}},
			want: []string{"deny znode/data/config/ingest"},
		},
		{
			name: "objects format as JSON in messages",
			rule: state.Rule{Expression: `false`, Kinds: []string{"ConfigEntry"}, Message: "{{change.after}} {{change.before}}"},
			want: []string{"deny znode/data/config/ingest"},
			msg: `{"data":{"mode":"fast","replicas":7},"id":"znode/data/config/ingest","kind":"ConfigEntry","manifest_kind":"ConfigEntry",` +
				`"name":"ingest","origin":"config/ingest.yaml:1","path":"data/config/ingest","size":31,"text":"{\"replicas\": 7, \"mode\": \"fast\"}"} null`,
		},
		{
			name: "true everywhere",
			rule: state.Rule{Expression: `change.id.contains("/") && change.origin != "nowhere"`},
		},
		{
			name: "null access is an evaluation error",
			rule: state.Rule{Expression: `change.after.name != ""`, Kinds: []string{"Table"}, Severity: Warn},
			want: []string{"deny table/audit.old"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := tc.rule
			r.Name, r.Origin, r.Match = "c", origin(5), MatchChange
			e, err := Compile([]state.Rule{r})
			if err != nil {
				t.Fatal(err)
			}
			got := userFindings(evaluate(t, e, cs))
			var sum []string
			for _, f := range got {
				sum = append(sum, string(f.Severity)+" "+f.Object)
			}
			if !slices.Equal(sum, tc.want) {
				t.Fatalf("findings:\n  %s\nwant:\n  %s\n%+v", strings.Join(sum, "\n  "), strings.Join(tc.want, "\n  "), got)
			}
			if tc.msg != "" && got[0].Message != tc.msg {
				t.Errorf("message:\n  %s\nwant:\n  %s", got[0].Message, tc.msg)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	rules := []state.Rule{
		{Name: "ok", Expression: "true", Origin: origin(1)},
		{Name: "syntax", Expression: "resource.name ==", Origin: origin(2)},
		{Name: "not-bool", Expression: "1 + 2", Origin: origin(3)},
		{Name: "severity", Expression: "true", Severity: "fatal", Origin: origin(4)},
		{Name: "match", Expression: "true", Match: "everything", Origin: origin(5)},
		{Name: "wrong-variable", Expression: `change.id == ""`, Match: MatchResource, Origin: origin(6)},
		{Name: "kind", Expression: "true", Kinds: []string{"Keyspce"}, Origin: origin(7)},
		{Name: "ok", Expression: "true", Origin: origin(8)},
		{Name: "", Expression: "true", Origin: origin(9)},
		{Name: "placeholder", Expression: "true", Message: "{{resource.}} and {{ unclosed", Origin: origin(10)},
		{Name: "empty", Expression: " ", Origin: origin(11)},
	}
	e, err := Compile(rules)
	if err == nil {
		t.Fatal("Compile: want an error")
	}
	// The Engine that comes with the error holds only the rule that
	// compiled (the first "ok"), for reporting in the same run.
	if e == nil || len(e.rules) != 1 || e.rules[0].rule.Name != "ok" {
		t.Fatalf("engine with the error: %+v, want the one good rule", e)
	}
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("error %T is not a *CompileError", err)
	}
	want := []struct {
		line     int
		name     string
		sentinel error
		text     string
	}{
		{2, "syntax", ErrExpression, "invalid expression: 1:17: Syntax error"},
		{3, "not-bool", ErrExpression, "returns int, want bool"},
		{4, "severity", ErrInvalidRule, `severity "fatal" is not "deny" or "warn"`},
		{5, "match", ErrInvalidRule, `match "everything" is not "resource" or "change"`},
		{6, "wrong-variable", ErrExpression, "undeclared reference to 'change'"},
		{7, "kind", ErrInvalidRule, `kind "Keyspce" is unknown`},
		{8, "ok", ErrInvalidRule, "name is used by another rule (first at policies/prod.yaml:1)"},
		{9, "", ErrInvalidRule, "name is empty"},
		{10, "placeholder", ErrExpression, "in message: placeholder {{resource.}}: 1:10:"},
		{10, "placeholder", ErrExpression, "has no closing }}"},
		{11, "empty", ErrExpression, "expression is empty"},
	}
	// A syntax error may produce several problems: compare rule by rule.
	idx := 0
	for _, w := range want {
		found := false
		for ; idx < len(ce.Problems); idx++ {
			p := ce.Problems[idx]
			if p.Rule == w.name && p.Origin.Line == w.line && strings.Contains(p.Error(), w.text) {
				found = true
				if !errors.Is(p, w.sentinel) {
					t.Errorf("problem %q does not wrap %v", p, w.sentinel)
				}
				if !strings.HasPrefix(p.Error(), origin(w.line).String()+": rule \""+w.name+"\": ") {
					t.Errorf("problem %q does not start with the origin and rule name", p)
				}
				idx++
				break
			}
		}
		if !found {
			t.Errorf("no problem for rule %q at line %d containing %q in:\n%v", w.name, w.line, w.text, err)
		}
	}
	if strings.Contains(err.Error(), "policies/prod.yaml:1:") {
		t.Errorf("valid rule reported:\n%v", err)
	}
	if !errors.Is(err, ErrExpression) || !errors.Is(err, ErrInvalidRule) {
		t.Errorf("errors.Is does not see the sentinels through %T", err)
	}
}

func TestCompileDefaults(t *testing.T) {
	t.Parallel()
	e, err := Compile([]state.Rule{{Name: "a", Expression: "true"}, {Name: "b", Expression: "true", Match: MatchChange, Severity: Warn}})
	if err != nil {
		t.Fatal(err)
	}
	got := e.Rules()
	if len(got) != 2 || got[0].Severity != Deny || got[0].Match != MatchResource || got[1].Severity != Warn || got[1].Match != MatchChange {
		t.Errorf("Rules() = %+v", got)
	}
	if e, err := Compile(nil); err != nil || e == nil {
		t.Errorf("Compile(nil) = %v, %v", e, err)
	}
}

func TestEvaluateConcurrently(t *testing.T) {
	t.Parallel()
	e, err := Compile([]state.Rule{
		{Name: "r", Expression: `resource.name.size() < 3`, Severity: Warn},
		{Name: "c", Expression: `change.after == null || change.after.name != "raw"`, Match: MatchChange},
	})
	if err != nil {
		t.Fatal(err)
	}
	cs := diff.Compute(nil, sample(), diff.Options{})
	want := evaluate(t, e, cs)
	done := make(chan []Finding)
	for range 8 {
		go func() { done <- evaluate(t, e, cs) }()
	}
	for range 8 {
		if got := <-done; !slices.Equal(got, want) {
			t.Errorf("concurrent result differs:\n%v\nwant\n%v", got, want)
		}
	}
}

// TestRunawayRuleIsStopped: a rule whose evaluation would do millions of
// operations is stopped by the cost limit and reported as a deny finding
// naming the rule, instead of stalling validate.
func TestRunawayRuleIsStopped(t *testing.T) {
	t.Parallel()
	e, err := Compile([]state.Rule{{
		Name:       "runaway",
		Expression: "[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, [1,2,3,4,5,6,7,8,9,10].all(f, a+b+c+d+e+f > 0))))))",
		Kinds:      []string{"Keyspace"},
		Origin:     origin(3),
	}}, WithLimits(Limits{Time: time.Hour})) // the cost limit, not the time limit, even under -race
	if err != nil {
		t.Fatal(err)
	}
	fs := userFindings(evaluate(t, e, &diff.ChangeSet{To: sample()}))
	if len(fs) == 0 {
		t.Fatal("a runaway rule produced no finding")
	}
	for _, f := range fs {
		if f.Severity != Deny || !strings.Contains(f.Message, "runaway") || !strings.Contains(strings.ToLower(f.Message), "cost") {
			t.Errorf("finding %+v: want a deny naming the rule and the cost limit", f)
		}
	}
}
