package policies

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// The tests of cost limits set a time limit of an hour, so that a slow
// machine (or the race detector) cannot make the time limit fire first.

// evaluate runs e.Evaluate with a background context and reports an error.
func evaluate(t testing.TB, e *Engine, cs *diff.ChangeSet) []Finding {
	t.Helper()
	fs, err := e.Evaluate(context.Background(), cs)
	if err != nil {
		t.Error(err)
	}
	return fs
}

// slowExpr does about fifteen million cost units of work on every object.
const slowExpr = "[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, " +
	"[1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, [1,2,3,4,5,6,7,8,9,10].all(f, a+b+c+d+e+f > 0))))))"

// configs is a desired state with n ConfigEntry znodes; every third has
// "replicas": 9, the others 3.
func configs(n int) *diff.ChangeSet {
	s := desired()
	for i := range n {
		p := fmt.Sprintf("data/config/svc%04d", i)
		replicas := 3
		if i%3 == 0 {
			replicas = 9
		}
		s.Znodes[p] = &state.Znode{Path: p, Kind: "ConfigEntry", Name: fmt.Sprintf("svc%04d", i),
			Data: fmt.Appendf(nil, `{"replicas": %d}`, replicas), Origin: state.Origin{File: "config.yaml", Line: i + 1}}
	}
	return diff.Compute(state.New(s.Environment), s, diff.Options{})
}

// byRule groups user findings by rule name.
func byRule(fs []Finding) map[string][]Finding {
	out := map[string][]Finding{}
	for _, f := range userFindings(fs) {
		out[f.Rule] = append(out[f.Rule], f)
	}
	return out
}

var checkedRE = regexp.MustCompile(`checked on (\d+) of (\d+) objects`)

// checked reads "checked on N of M objects" from a budget finding.
func checked(t *testing.T, f Finding) (n, of int) {
	t.Helper()
	m := checkedRE.FindStringSubmatch(f.Message)
	if m == nil {
		t.Fatalf("finding does not say how many objects were checked: %s", f.Message)
	}
	n, _ = strconv.Atoi(m[1])
	of, _ = strconv.Atoi(m[2])
	return n, of
}

// TestSlowRuleSpendsItsBudgetOnce: a rule far too expensive for its budget
// is stopped on the first object and reported by one deny finding naming
// the rule, its file:line and the budget; it is not evaluated on the other
// objects (before, each of the 300 objects got its own finding after
// spending the per-evaluation limit: 0.27 s each).
func TestSlowRuleSpendsItsBudgetOnce(t *testing.T) {
	t.Parallel()
	e, err := Compile([]state.Rule{{Name: "acme/slow", Expression: slowExpr, Kinds: []string{"ConfigEntry"}, Origin: origin(12)}},
		WithLimits(Limits{RuleCost: 50_000, Time: time.Hour, Raise: "raise it with --policy-budget"}))
	if err != nil {
		t.Fatal(err)
	}
	fs := userFindings(evaluate(t, e, configs(300)))
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1: %v", len(fs), fs)
	}
	f := fs[0]
	if f.Code != "RM-USR:acme/slow" || f.Severity != Deny || f.Object != RuleID("acme/slow") || f.Origin != origin(12) {
		t.Errorf("finding %+v", f)
	}
	for _, want := range []string{"rule acme/slow (policies/prod.yaml:12)", "budget of 50,000 CEL cost units", "znode/data/config/svc0000", "narrow it with kinds", "raise it with --policy-budget"} {
		if !strings.Contains(f.Message, want) {
			t.Errorf("message lacks %q: %s", want, f.Message)
		}
	}
	if n, of := checked(t, f); n != 0 || of != 300 {
		t.Errorf("checked on %d of %d objects, want 0 of 300 (stopped on the first)", n, of)
	}
}

// TestBudgetCountsAcrossObjects: the budget holds for the whole run, not
// per evaluation: a rule of moderate cost runs until its spend across
// objects reaches the budget, then stops.
func TestBudgetCountsAcrossObjects(t *testing.T) {
	t.Parallel()
	// About 1,000 units per object: 20 objects fit in 20,000.
	e, err := Compile([]state.Rule{{Name: "loop", Expression: "lists.range(300).all(i, i >= 0)", Kinds: []string{"ConfigEntry"}}},
		WithLimits(Limits{RuleCost: 20_000, Time: time.Hour}))
	if err != nil {
		t.Fatal(err)
	}
	fs := userFindings(evaluate(t, e, configs(300)))
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1: %v", len(fs), fs)
	}
	n, of := checked(t, fs[0])
	if n < 5 || n > 40 || of != 300 {
		t.Errorf("checked on %d of %d objects, want some (5..40) of 300", n, of)
	}
	if !strings.Contains(fs[0].Message, "was stopped after znode/data/config/svc") {
		t.Errorf("message does not name the last object checked: %s", fs[0].Message)
	}
}

// TestSpentRuleDoesNotStopOthers: the other rules run on every object and
// report what they find.
func TestSpentRuleDoesNotStopOthers(t *testing.T) {
	t.Parallel()
	e, err := Compile([]state.Rule{
		{Name: "slow", Expression: slowExpr, Kinds: []string{"ConfigEntry"}, Origin: origin(3)},
		{Name: "replicas", Expression: "resource.data.replicas <= 5", Kinds: []string{"ConfigEntry"}, Origin: origin(9)},
		{Name: "no-deletes", Expression: `change.action != "delete"`, Match: MatchChange},
	}, WithLimits(Limits{RuleCost: 50_000, Time: time.Hour}))
	if err != nil {
		t.Fatal(err)
	}
	got := byRule(evaluate(t, e, configs(300)))
	if len(got["slow"]) != 1 || !strings.Contains(got["slow"][0].Message, "budget") {
		t.Errorf("slow: %v, want one budget finding", got["slow"])
	}
	if len(got["replicas"]) != 100 {
		t.Errorf("replicas: %d findings, want 100 (every third object)", len(got["replicas"]))
	}
	if len(got["no-deletes"]) != 0 {
		t.Errorf("no-deletes: %v", got["no-deletes"])
	}
}

// TestTotalBudgetBoundsManyCheapRules: a hundred cheap rules over 300
// objects are bounded by the run's total budget; each rule left with
// objects is reported once, naming the budget and the rules that spent
// the most.
func TestTotalBudgetBoundsManyCheapRules(t *testing.T) {
	t.Parallel()
	var rules []state.Rule
	for i := range 100 {
		rules = append(rules, state.Rule{Name: fmt.Sprintf("r%03d", i), Expression: "resource.kind != 'x'", Origin: origin(i + 1)})
	}
	e, err := Compile(rules, WithLimits(Limits{TotalCost: 10_000, Time: time.Hour}))
	if err != nil {
		t.Fatal(err)
	}
	fs := userFindings(evaluate(t, e, configs(300)))
	if len(fs) != 100 {
		t.Fatalf("%d findings, want one for each of the 100 rules", len(fs))
	}
	evaluated := 0
	for _, f := range fs {
		if f.Severity != Deny || f.Object != RuleID(f.Rule) || !strings.Contains(f.Message, "budget of one evaluation run, 10,000 CEL cost units") {
			t.Errorf("finding %+v", f)
		}
		n, of := checked(t, f)
		if of != 300 {
			t.Errorf("%s: of %d objects, want 300", f.Rule, of)
		}
		evaluated += n
	}
	// 30,000 evaluations were asked for; each costs at least evalBaseCost.
	if max := 10_000/evalBaseCost + len(rules); evaluated > max {
		t.Errorf("%d evaluations, want at most %d", evaluated, max)
	}
}

// TestTimeLimit: a run that outlasts its time limit stops, and each rule
// left with objects is reported once.
func TestTimeLimit(t *testing.T) {
	t.Parallel()
	e, err := Compile([]state.Rule{
		{Name: "slow", Expression: slowExpr, Kinds: []string{"ConfigEntry"}},
		{Name: "cheap", Expression: "true", Kinds: []string{"ConfigEntry"}},
	}, WithLimits(Limits{RuleCost: 1 << 60, TotalCost: 1 << 60, Time: 20 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	got := byRule(evaluate(t, e, configs(300)))
	for _, name := range []string{"slow", "cheap"} {
		if len(got[name]) != 1 || !strings.Contains(got[name][0].Message, "time limit of one evaluation run, 20ms") {
			t.Errorf("%s: %v, want one time-limit finding", name, got[name])
		}
	}
}

// TestCancelledContext: Evaluate returns the context's error, and no
// findings, when its context is cancelled before or during the run.
func TestCancelledContext(t *testing.T) {
	t.Parallel()
	// With these limits the slow rule would run for about ten minutes.
	e, err := Compile([]state.Rule{{Name: "slow", Expression: slowExpr}},
		WithLimits(Limits{RuleCost: 1 << 60, TotalCost: 1 << 60, Time: time.Hour}))
	if err != nil {
		t.Fatal(err)
	}
	cs := configs(300)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if fs, err := e.Evaluate(ctx, cs); !errors.Is(err, context.Canceled) || fs != nil {
		t.Errorf("cancelled before: %v, %v; want context.Canceled and no findings", fs, err)
	}

	ctx, cancelCause := context.WithCancelCause(context.Background())
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancelCause(errors.New("interrupt signal received"))
	}()
	fs, err := e.Evaluate(ctx, cs)
	if !errors.Is(err, context.Canceled) || fs != nil {
		t.Fatalf("cancelled during: %v, %v; want context.Canceled and no findings", fs, err)
	}
	if !strings.Contains(err.Error(), "interrupt signal received") {
		t.Errorf("error %q does not name the cause", err)
	}

	// A nil Engine (built-in guardrails only) honours the context too.
	var nilEngine *Engine
	if _, err := nilEngine.Evaluate(ctx, cs); !errors.Is(err, context.Canceled) {
		t.Errorf("nil engine: %v, want context.Canceled", err)
	}
}

// bigText is a desired state with one ConfigEntry whose payload is a JSON
// string of n bytes.
func bigText(n int) *diff.ChangeSet {
	s := desired()
	s.Znodes["data/config/big"] = &state.Znode{Path: "data/config/big", Kind: "ConfigEntry", Name: "big",
		Data: []byte(`"` + strings.Repeat("abcdefgh", n/8) + `"`)}
	return diff.Compute(state.New(s.Environment), s, diff.Options{})
}

// TestSingleCallsAreBounded: calls CEL charges only after they return, and
// which could run long or allocate gigabytes in one call, are refused
// before they run, whatever the budget; the rule is stopped with one
// finding that says why. Calls that CEL dispatches at run time (dyn
// arguments) are charged by size.
func TestSingleCallsAreBounded(t *testing.T) {
	t.Parallel()
	huge := Limits{RuleCost: 1 << 50, TotalCost: 1 << 50, Time: time.Hour}
	tests := []struct {
		expr   string
		limits Limits
		want   string
	}{
		// 2,000 copies of 1 MiB: 2 GiB.
		{"lists.range(2000).map(i, resource.text).join().size() > 0", huge, "join would build more than 16,777,216 bytes"},
		{"lists.range(2000).map(i, resource.text).join(',').size() > 0", huge, "join would build more than"},
		// Every byte of 1 MiB replaced by 1 MiB: 1 TiB.
		{"resource.text.replace('a', resource.text).size() > 0", huge, "replace would build 137,4"},
		{"'%s'.format([lists.range(2000).map(i, resource.text)]).size() > 0", huge, "format would build more than"},
		{"[lists.range(2000)].map(l, lists.range(2000).map(i, l))[0].flatten().size() > 0", huge, "flatten would build a list of more than 1,048,576 elements"},
		{"sets.intersects(lists.range(20000), lists.range(20000).map(i, -1 - i))", huge, "sets.intersects would compare 400,000,000 pairs"},
		{"lists.range(20000).distinct().size() > 0", huge, "distinct would compare 400,000,000 pairs"},
		// 15 s on a 1 MiB text before: a pattern with many states.
		{"resource.text.matches('(((a|b|c|d|e|f|g|h){1,10}){1,10}){1,5}z')", huge, "matches would run a pattern of"},
		{"'x'.matches(resource.text)", huge, "matches would compile a pattern of 1,048,5"},
		{"'x'.matches(resource.text.substring(0, 100))", huge, ""},
		{"(resource.text + resource.text + resource.text + resource.text + resource.text + resource.text + resource.text + resource.text + resource.text + resource.text + resource.text + resource.text + resource.text + resource.text + resource.text + resource.text + resource.text).size() > 0", huge, "+ would build"},
		// Concatenation dispatched at run time is charged by size: 10,000
		// copies of 2 MiB would be 20 GiB.
		{"lists.range(10000).map(i, resource.text + resource.text).size() > 0", Limits{Time: time.Hour}, "used up its budget"},
	}
	cs := bigText(1 << 20)
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			t.Parallel()
			e, err := Compile([]state.Rule{{Name: "big", Expression: tc.expr, Origin: origin(2)}}, WithLimits(tc.limits))
			if err != nil {
				t.Fatal(err)
			}
			fs := userFindings(evaluate(t, e, cs))
			if tc.want == "" {
				if len(fs) != 1 || fs[0].Object != "znode/data/config/big" {
					t.Fatalf("findings %v, want the rule's own (false) finding", fs)
				}
				return
			}
			if len(fs) != 1 || fs[0].Object != RuleID("big") || !strings.Contains(fs[0].Message, tc.want) {
				t.Fatalf("findings %v, want one stopping the rule: %q", fs, tc.want)
			}
		})
	}
}

// TestGuardsKeepResults: the guarded functions still compute what CEL's
// own do.
func TestGuardsKeepResults(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{
		"['a', 'b'].join() == 'ab' && ['a', 'b'].join('-') == 'a-b'",
		"'aXbX'.replace('X', 'yy') == 'ayybyy' && 'aXbX'.replace('X', 'y', 1) == 'aybX'",
		"'%s-%d'.format(['x', 3]) == 'x-3'",
		"[[1, [2]], [3]].flatten() == [1, [2], 3] && [[1, [2]], [3]].flatten(2) == [1, 2, 3]",
		"[1, 2, 1].distinct() == [1, 2]",
		"sets.contains([1, 2, 3], [2]) && sets.equivalent([1, 2], [2, 1]) && sets.intersects([1], [1, 2])",
		"'abc'.matches('^a.c$') && matches('abc', 'b') && !'abc'.matches('^b')",
		"resource.name + '-x' == 'svc0000-x' && [1] + [2] == [1, 2] && 1 + 2 == 3 && b'a' + b'b' == b'ab'",
		"1.5 + 1.5 == 3.0 && 1u + 2u == 3u && timestamp('2024-01-01T00:00:00Z') + duration('1h') == timestamp('2024-01-01T01:00:00Z')",
		"resource.data.replicas + 1 == 10 && dyn([1]) + dyn([2]) == [1, 2]",
		"resource.name < 't' && resource.name >= 'svc'",
	} {
		e, err := Compile([]state.Rule{{Name: "r", Expression: expr, Kinds: []string{"ConfigEntry"}}})
		if err != nil {
			t.Fatal(err)
		}
		if fs := userFindings(evaluate(t, e, configs(1))); len(fs) != 0 {
			t.Errorf("%s: %v", expr, fs)
		}
	}
	e, err := Compile([]state.Rule{{Name: "r", Expression: "'a'.matches('(')"}})
	if err != nil {
		t.Fatal(err)
	}
	if fs := userFindings(evaluate(t, e, configs(1))); len(fs) != 1 || !strings.Contains(fs[0].Message, "missing closing )") {
		t.Errorf("a bad pattern: %v", fs)
	}
}

// TestFindingTextIsClipped: an error or placeholder that would carry a
// large value into every finding is clipped.
func TestFindingTextIsClipped(t *testing.T) {
	t.Parallel()
	e, err := Compile([]state.Rule{
		{Name: "err", Expression: "{'a': 1}[resource.text] > 0"},
		{Name: "msg", Expression: "false", Message: "text is {{resource.text}}"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range userFindings(evaluate(t, e, bigText(1<<20))) {
		if len(f.Message) > 1000 || !strings.Contains(f.Message, "bytes)") {
			t.Errorf("%s: message of %d bytes: %.200s", f.Rule, len(f.Message), f.Message)
		}
	}
}
