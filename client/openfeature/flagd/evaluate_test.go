package flagd

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// check compares the parts of a Result a test cares about.
func check(t *testing.T, name string, got Result, variant string, value any, reason Reason, code ErrorCode) {
	t.Helper()
	if got.Variant != variant || !reflect.DeepEqual(got.Value, value) || got.Reason != reason || got.ErrorCode != code {
		t.Errorf("%s: got variant=%q value=%#v reason=%s code=%q (%s); want variant=%q value=%#v reason=%s code=%q",
			name, got.Variant, got.Value, got.Reason, got.ErrorCode, got.ErrorMessage, variant, value, reason, code)
	}
	if code != "" && got.ErrorMessage == "" {
		t.Errorf("%s: error %s without a message", name, code)
	}
	if code == "" && got.ErrorMessage != "" {
		t.Errorf("%s: message %q without an error", name, got.ErrorMessage)
	}
}

func TestEvaluateStatic(t *testing.T) {
	f := mustParse(t, "rate-limits", exampleObject)
	r := f.Evaluate(map[string]any{"targetingKey": "u1"})
	want := map[string]any{"max_batch": 500.0, "max_rps": 2000.0}
	check(t, "object", r, "standard", want, ReasonStatic, "")
	if !r.HasValue() {
		t.Error("HasValue() = false for a STATIC result")
	}
	if allocs := testing.AllocsPerRun(100, func() { f.Evaluate(nil) }); allocs != 0 {
		t.Errorf("static evaluation allocates %v times, want 0", allocs)
	}
}

func TestEvaluateDisabled(t *testing.T) {
	for _, dv := range []string{`,"defaultVariant":"on"`, ``} {
		f := mustParse(t, "k", `{"state":"DISABLED","variants":{"on":true,"off":false}`+dv+`,
			"targeting":{"if":[true,"on","off"]},"metadata":{"owner":"x"}}`)
		r := f.Evaluate(map[string]any{"targetingKey": "u"})
		check(t, "disabled"+dv, r, "", nil, ReasonDisabled, "")
		if r.HasValue() || r.Metadata["owner"] != "x" {
			t.Errorf("disabled%s: HasValue=%v Metadata=%v", dv, r.HasValue(), r.Metadata)
		}
		if allocs := testing.AllocsPerRun(100, func() { f.Evaluate(nil) }); allocs != 0 {
			t.Errorf("disabled evaluation allocates %v times, want 0", allocs)
		}
	}
}

func TestEvaluateNilFlagIsNotFound(t *testing.T) {
	var f *Flag
	check(t, "nil flag", f.Evaluate(nil), "", nil, ReasonError, ErrorFlagNotFound)
}

// Flags from flagd-testbed evaluator/flags/testkit-flags.json and
// flags/edge-case-flags.json, with the outcomes its gherkin suites expect.
func TestEvaluateTestbedTargeting(t *testing.T) {
	edge := map[string]string{
		"targeting-null-variant-flag":       `{"state":"ENABLED","variants":{"one":1,"two":2},"defaultVariant":"two","targeting":{"if":[true,null,"one"]}}`,
		"error-targeting-flag":              `{"state":"ENABLED","variants":{"one":1,"two":2},"defaultVariant":"two","targeting":{"invalid":["this is not valid targeting"]}}`,
		"missing-variant-targeting-flag":    `{"state":"ENABLED","variants":{"one":1,"two":2},"defaultVariant":"two","targeting":{"if":[true,"three","one"]}}`,
		"non-string-variant-targeting-flag": `{"state":"ENABLED","variants":{"false":1,"true":2},"defaultVariant":"false","targeting":{"if":[true,true,false]}}`,
		"ref-to-nonexistent-evaluator-flag": `{"state":"ENABLED","variants":{"hit":"hit","miss":"miss","fallback":"fallback"},"defaultVariant":"fallback","targeting":{"if":[{"$ref":"nonexistent_evaluator"},"hit","miss"]}}`,
		"targeting-key-flag":                `{"state":"ENABLED","variants":{"miss":"miss","hit":"hit"},"defaultVariant":"miss","targeting":{"if":[{"==":[{"var":"targetingKey"},"5c3d8535-f81a-4478-a6d3-afaa4d51199e"]},"hit",null]}}`,
	}
	flag := func(key string) *Flag { return mustParse(t, key, edge[key]) }

	check(t, "null variant", flag("targeting-null-variant-flag").Evaluate(nil), "two", 2.0, ReasonDefault, "")
	check(t, "unknown operator", flag("error-targeting-flag").Evaluate(nil), "", nil, ReasonError, ErrorParse)
	check(t, "missing variant", flag("missing-variant-targeting-flag").Evaluate(nil), "", nil, ReasonError, ErrorGeneral)
	check(t, "boolean shorthand", flag("non-string-variant-targeting-flag").Evaluate(nil), "true", 2.0, ReasonTargetingMatch, "")
	check(t, "$ref without $evaluators", flag("ref-to-nonexistent-evaluator-flag").Evaluate(nil), "", nil, ReasonError, ErrorParse)

	tk := flag("targeting-key-flag")
	check(t, "targeting key hit", tk.Evaluate(map[string]any{"targetingKey": "5c3d8535-f81a-4478-a6d3-afaa4d51199e"}),
		"hit", "hit", ReasonTargetingMatch, "")
	check(t, "targeting key miss", tk.Evaluate(map[string]any{"targetingKey": "f20bd32d-703b-48b6-bc8e-79d53c85134a"}),
		"miss", "miss", ReasonDefault, "")
	check(t, "no targeting key", tk.Evaluate(nil), "miss", "miss", ReasonDefault, "")

	if r := flag("error-targeting-flag").Evaluate(nil); r.Metadata != nil || !strings.Contains(r.ErrorMessage, "invalid") {
		t.Errorf("error result: %+v", r)
	}
}

func TestEvaluateTargetingResults(t *testing.T) {
	def := func(rule string) string {
		return `{"state":"ENABLED","variants":{"a":"A","b":"B","true":"T","1":"one"},"defaultVariant":"a","targeting":` + rule + `}`
	}
	for _, tc := range []struct {
		name, rule string
		variant    string
		value      any
		reason     Reason
		code       ErrorCode
	}{
		{"string", `{"if":[true,"b","a"]}`, "b", "B", ReasonTargetingMatch, ""},
		{"default variant by name is a match", `{"if":[true,"a","b"]}`, "a", "A", ReasonTargetingMatch, ""},
		{"true", `{"==":[1,1]}`, "true", "T", ReasonTargetingMatch, ""},
		{"false without a false variant", `{"==":[1,2]}`, "", nil, ReasonError, ErrorGeneral},
		{"null", `{"var":"missing"}`, "a", "A", ReasonDefault, ""},
		{"number", `{"+":[0,1]}`, "", nil, ReasonError, ErrorGeneral},
		{"array", `{"merge":[["b"]]}`, "", nil, ReasonError, ErrorGeneral},
		{"object", `{"var":"obj"}`, "", nil, ReasonError, ErrorGeneral},
		{"unknown variant", `{"cat":["c"]}`, "", nil, ReasonError, ErrorGeneral},
		{"unknown operator", `{"nope":[1]}`, "", nil, ReasonError, ErrorParse},
	} {
		f := mustParse(t, "k", def(tc.rule))
		check(t, tc.name, f.Evaluate(map[string]any{"obj": map[string]any{"x": 1}}), tc.variant, tc.value, tc.reason, tc.code)
	}
}

func TestEvaluateWithoutDefaultVariant(t *testing.T) {
	// flagd-testbed evaluator/gherkin/no-default-variant.feature: the caller's
	// code default applies, with reason DEFAULT.
	null := mustParse(t, "null-default-flag", `{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":null}`)
	check(t, "null default, no targeting", null.Evaluate(nil), "", nil, ReasonDefault, "")
	if null.Evaluate(nil).HasValue() {
		t.Error("HasValue() = true without a variant")
	}
	absent := mustParse(t, "undefined-default-flag", `{"state":"ENABLED","variants":{"small":10,"big":1000}}`)
	check(t, "absent default, no targeting", absent.Evaluate(nil), "", nil, ReasonDefault, "")

	targeted := mustParse(t, "no-default-flag-null-targeting-variant", `{"state":"ENABLED","variants":{"normal":"CFO","special":"CEO"},
		"targeting":{"if":[{"==":["jobs@orange.com",{"var":["email"]}]},"special",null]}}`)
	check(t, "targeting match", targeted.Evaluate(map[string]any{"email": "jobs@orange.com"}), "special", "CEO", ReasonTargetingMatch, "")
	check(t, "targeting null", targeted.Evaluate(map[string]any{"email": "wozniak@orange.com"}), "", nil, ReasonDefault, "")
}

func TestEvaluateFlagdProperties(t *testing.T) {
	f := mustParse(t, "my-flag", `{"state":"ENABLED","variants":{"yes":true,"no":false},"defaultVariant":"no",
		"targeting":{"if":[{"and":[
			{"==":[{"var":"$flagd.flagKey"},"my-flag"]},
			{"==":[{"var":"$flagd.timestamp"},1700000000]}
		]},"yes","no"]}}`)
	ctx := map[string]any{"$flagd": map[string]any{"flagKey": "spoofed", "timestamp": 1}}
	check(t, "$flagd injected over the caller's", f.evaluate(ctx, func() time.Time { return fixedNow }), "yes", true, ReasonTargetingMatch, "")
	check(t, "other clock", f.evaluate(ctx, func() time.Time { return fixedNow.Add(time.Second) }), "no", false, ReasonTargetingMatch, "")
	if got := ctx["$flagd"].(map[string]any)["flagKey"]; got != "spoofed" {
		t.Errorf("caller's context modified: $flagd.flagKey = %v", got)
	}

	// flagd-testbed timestamp-flag, on the real clock.
	ts := mustParse(t, "timestamp-flag", `{"state":"ENABLED","variants":{"past":-1,"future":1,"none":0},"defaultVariant":"none",
		"targeting":{"if":[{">":[{"var":"$flagd.timestamp"},{"var":"time"}]},"past",
			{"if":[{"<":[{"var":"$flagd.timestamp"},{"var":"time"}]},"future","none"]}]}}`)
	check(t, "past", ts.Evaluate(map[string]any{"time": 1}), "past", -1.0, ReasonTargetingMatch, "")
	check(t, "future", ts.Evaluate(map[string]any{"time": int64(4133980802)}), "future", 1.0, ReasonTargetingMatch, "")
}

func TestEvaluateNormalizesContext(t *testing.T) {
	f := mustParse(t, "k", `{"state":"ENABLED","variants":{"true":"T","false":"F"},"defaultVariant":"false",
		"targeting":{"==":[{"var":"v"},{"var":"want"}]}}`)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		v, want any
	}{
		{"int64", int64(5), 5},
		{"uint8", uint8(7), 7},
		{"float32", float32(0.5), 0.5},
		{"json.Number", json.Number("12"), 12},
		{"time.Time", at, "2026-01-02T03:04:05Z"},
	} {
		check(t, tc.name, f.Evaluate(map[string]any{"v": tc.v, "want": tc.want}), "true", "T", ReasonTargetingMatch, "")
	}

	nested := mustParse(t, "k", `{"state":"ENABLED","variants":{"true":"T","false":"F"},"defaultVariant":"false",
		"targeting":{"and":[{"==":[{"var":"user.name"},"ada"]},{"==":[{"var":"user.age"},36]},{"in":[2,{"var":"ids"}]}]}}`)
	user := map[string]any{"name": "ada", "age": int64(36)}
	ctx := map[string]any{"user": user, "ids": []int{1, 2}}
	check(t, "nested", nested.Evaluate(ctx), "true", "T", ReasonTargetingMatch, "")
	if _, ok := user["age"].(int64); !ok || len(ctx) != 2 {
		t.Errorf("caller's context modified: %#v", ctx)
	}
	typed := mustParse(t, "k", `{"state":"ENABLED","variants":{"true":"T","false":"F"},"defaultVariant":"false",
		"targeting":{"==":[{"var":"m.a"},"b"]}}`)
	check(t, "typed map", typed.Evaluate(map[string]any{"m": map[string]string{"a": "b"}}), "true", "T", ReasonTargetingMatch, "")

	for name, bad := range map[string]any{"NaN": math.NaN(), "+Inf": []any{math.Inf(1)}, "channel": make(chan int)} {
		check(t, name, f.Evaluate(map[string]any{"v": bad}), "", nil, ReasonError, ErrorGeneral)
	}
}

func TestEvaluateExamples(t *testing.T) {
	b := mustParse(t, "new-login", exampleBool)
	check(t, "email match", b.Evaluate(map[string]any{"email": "ada@acme.example", "targetingKey": "x"}), "on", true, ReasonTargetingMatch, "")
	check(t, "no email, no targeting key", b.Evaluate(nil), "off", false, ReasonDefault, "")
	r := b.Evaluate(map[string]any{"email": "ada@elsewhere.example", "targetingKey": "user-1"})
	want := refPick("user-1", []weighted{{"on", 25}, {"off", 75}})
	check(t, "fractional branch", r, want, want == "on", ReasonSplit, "")

	s := mustParse(t, "compression", exampleString)
	r = s.Evaluate(map[string]any{"targetingKey": "host-7"})
	want = refPick("compression"+"host-7", []weighted{{"zstd", 20}, {"lz4", 80}})
	check(t, "fractional shorthand", r, want, want, ReasonSplit, "")
}

func TestResultAccessors(t *testing.T) {
	obj := map[string]any{"k": 1.0}
	for _, tc := range []struct {
		r             Result
		b, s, f, i, o bool
		wantF         float64
		wantI         int64
	}{
		{r: Result{Variant: "v", Value: true}, b: true},
		{r: Result{Variant: "v", Value: "x"}, s: true},
		{r: Result{Variant: "v", Value: 2.0}, f: true, i: true, wantF: 2, wantI: 2},
		{r: Result{Variant: "v", Value: -2.7}, f: true, i: true, wantF: -2.7, wantI: -2},
		{r: Result{Variant: "v", Value: 1e19}, f: true, wantF: 1e19},
		{r: Result{Variant: "v", Value: obj}, o: true},
		{r: Result{Reason: ReasonDisabled}},
		{r: Result{Variant: "v", Value: true, ErrorCode: ErrorGeneral}},
	} {
		_, b := tc.r.BoolValue()
		_, s := tc.r.StringValue()
		fv, f := tc.r.FloatValue()
		iv, i := tc.r.IntValue()
		ov, o := tc.r.ObjectValue()
		if b != tc.b || s != tc.s || f != tc.f || i != tc.i || o != tc.o || fv != tc.wantF || iv != tc.wantI {
			t.Errorf("%+v: bool=%v string=%v float=%v(%v) int=%v(%v) object=%v", tc.r, b, s, f, fv, i, iv, o)
		}
		if o && !reflect.DeepEqual(ov, obj) {
			t.Errorf("ObjectValue() = %v", ov)
		}
	}
}

func TestEvaluateConcurrently(t *testing.T) {
	f := mustParse(t, "compression", exampleString)
	want := make([]Result, 64)
	ctxs := make([]map[string]any, len(want))
	for i := range want {
		ctxs[i] = map[string]any{"targetingKey": strings.Repeat("k", i)}
		want[i] = f.Evaluate(ctxs[i])
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 50; n++ {
				for i, ctx := range ctxs {
					if got := f.Evaluate(ctx); got.Variant != want[i].Variant {
						t.Errorf("key %d: %q, then %q", i, want[i].Variant, got.Variant)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

// TestTruthyMatchesJsonLogic: the if resolution's truthiness is the
// library's own, value by value (each given through a var, as a rule's
// condition would compute it).
func TestTruthyMatchesJsonLogic(t *testing.T) {
	for _, v := range []any{nil, true, false, 0.0, 1.0, -2.5, "", "x", "0", []any{}, []any{0.0}} {
		want, err := applyRule(map[string]any{"if": []any{map[string]any{"var": "v"}, true, false}}, map[string]any{"v": v})
		if err != nil {
			t.Fatal(err)
		}
		if got := truthy(v); got != want {
			t.Errorf("truthy(%#v) = %v, JsonLogic says %v", v, got, want)
		}
	}
	// The library cannot take an object through var; its isTrue says an
	// object is true unless empty.
	if truthy(map[string]any{}) || !truthy(map[string]any{"a": 1.0}) {
		t.Error("objects: want true unless empty")
	}
}
