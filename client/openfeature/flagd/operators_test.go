package flagd

import (
	"fmt"
	"testing"
)

// ruleFlag's targeting is rule itself; its variants tell the three outcomes
// of a boolean operator apart: true, false, and null (the default variant).
func ruleFlag(t *testing.T, rule string) *Flag {
	t.Helper()
	return mustParse(t, "op", `{"state":"ENABLED","variants":{"true":"T","false":"F","null":"N"},"defaultVariant":"null","targeting":`+rule+`}`)
}

// outcome evaluates a boolean-operator rule and names what it returned.
func outcome(t *testing.T, rule string, ctx map[string]any) string {
	t.Helper()
	r := ruleFlag(t, rule).Evaluate(ctx)
	switch {
	case r.ErrorCode != "":
		return "error " + string(r.ErrorCode)
	case r.Reason == ReasonDefault:
		return "null"
	}
	return r.Variant
}

func TestStringOperators(t *testing.T) {
	for _, tc := range []struct {
		op   string
		args string
		want string
	}{
		{"starts_with", `[{"var":"s"},"abc"]`, "true"},
		{"starts_with", `[{"var":"s"},"xyz"]`, "false"},
		{"starts_with", `[{"var":"s"},""]`, "true"},
		{"starts_with", `["ABCdef","abc"]`, "false"},
		{"ends_with", `[{"var":"s"},"xyz"]`, "true"},
		{"ends_with", `[{"var":"s"},"abc"]`, "false"},
		{"ends_with", `["noreply@example.com","@example.com"]`, "true"},
		{"starts_with", `[{"var":"n"},"1"]`, "null"},
		{"ends_with", `[{"var":"n"},"3"]`, "null"},
		{"ends_with", `[{"var":"s"},3]`, "null"},
		{"starts_with", `[{"var":"missing"},"a"]`, "null"},
		{"starts_with", `["abc"]`, "null"},
		{"ends_with", `["abc","a","b"]`, "null"},
		{"ends_with", `"abc"`, "null"},
	} {
		rule := fmt.Sprintf(`{%q:%s}`, tc.op, tc.args)
		if got := outcome(t, rule, map[string]any{"s": "abcxyz", "n": 123}); got != tc.want {
			t.Errorf("%s: %s, want %s", rule, got, tc.want)
		}
	}

	// flagd-testbed starts-ends-flag.
	f := mustParse(t, "starts-ends-flag", `{"state":"ENABLED","variants":{"prefix":"prefix","postfix":"postfix","none":"none"},
		"defaultVariant":"none","targeting":{"if":[{"starts_with":[{"var":"id"},"abc"]},"prefix",
			{"if":[{"ends_with":[{"var":"id"},"xyz"]},"postfix","none"]}]}}`)
	for id, want := range map[string]string{"abcdef": "prefix", "uvwxyz": "postfix", "abcxyz": "prefix", "lmnopq": "none"} {
		check(t, "starts-ends-flag "+id, f.Evaluate(map[string]any{"id": id}), want, want, ReasonTargetingMatch, "")
	}
}

func TestSemVerOperator(t *testing.T) {
	for _, tc := range []struct {
		a, op, b string
		want     string
	}{
		{"1.0.0", "=", "1.0.0", "true"},
		{"1.0.0", "=", "1.0.1", "false"},
		{"1.0.0", "!=", "1.0.1", "true"},
		{"1.0.0", "!=", "1.0.0", "false"},
		{"1.0.0", "<", "1.0.1", "true"},
		{"1.10.0", "<", "1.9.0", "false"},
		{"2.0.0-alpha", "<", "2.0.0", "true"},
		{"2.0.0-alpha.2", "<", "2.0.0-alpha.10", "true"},
		{"1.0.0", "<=", "1.0.0", "true"},
		{"1.0.1", "<=", "1.0.0", "false"},
		{"2.1.0", ">", "2.0.0", "true"},
		{"2.0.0", ">", "2.0.0", "false"},
		{"2.0.0", ">=", "2.0.0", "true"},
		{"1.9.9", ">=", "2.0.0", "false"},
		{"3.1.0", "^", "3.0.0", "true"},
		{"4.0.0", "^", "3.0.0", "false"},
		{"3.0.1", "~", "3.0.0", "true"},
		{"3.1.0", "~", "3.0.0", "false"},
		{"v1.0.0", "=", "1.0.0", "true"},
		{"V1.0.0", "=", "v1.0.0", "true"},
		{"1.0.0+build", "=", "1.0.0+other", "true"},
		{"1", "=", "1.0.0", "true"},
		{"1.2", "=", "1.2.0", "true"},
		{"1.5.0", "^", "1", "true"},
		{"2.0.0.0", "=", "2.0.0", "null"},
		{"not-a-version", "=", "1.0.0", "null"},
		{"01.0.0", "=", "1.0.0", "null"},
		{"vv1.0.0", "=", "1.0.0", "null"},
		{"1.0.0", "===", "1.0.0", "null"},
		{"1.0.0", "", "1.0.0", "null"},
		{"1.0.0", "=", "latest", "null"},
	} {
		rule := fmt.Sprintf(`{"sem_ver":[{"var":"v"},%q,%q]}`, tc.op, tc.b)
		if got := outcome(t, rule, map[string]any{"v": tc.a}); got != tc.want {
			t.Errorf("sem_ver %q %s %q: %s, want %s", tc.a, tc.op, tc.b, got, tc.want)
		}
	}
	for _, args := range []string{
		`[{"var":"n"},"=","1.0.0"]`, // numbers are not versions in flagd's Go evaluator
		`["1.0.0",1,"1.0.0"]`,
		`["1.0.0","="]`,
		`["1.0.0","=","1.0.0","1.0.0"]`,
		`"1.0.0"`,
	} {
		rule := `{"sem_ver":` + args + `}`
		if got := outcome(t, rule, map[string]any{"n": 1}); got != "null" {
			t.Errorf("%s: %s, want null", rule, got)
		}
	}
}

func TestOperatorsRegisteredByParse(t *testing.T) {
	// Every custom operator is known once a flag is parsed: none of these
	// rules fails as an unknown operator would (PARSE_ERROR).
	for _, op := range []string{opFractional, opSemVer, opStartsWith, opEndsWith} {
		if got := outcome(t, fmt.Sprintf(`{%q:[]}`, op), nil); got != "null" {
			t.Errorf("%s with no arguments: %s, want null", op, got)
		}
	}
}
