package flagd

import (
	"errors"
	"testing"
	"time"
)

// The three flags from the renderer's documentation, one per znode.
const (
	exampleBool   = `{"defaultVariant":"off","state":"ENABLED","targeting":{"if":[{"in":["@acme.example",{"var":"email"}]},"on",{"fractional":[{"var":"targetingKey"},["on",25],["off",75]]}]},"variants":{"off":false,"on":true}}`
	exampleString = `{"defaultVariant":"lz4","state":"ENABLED","targeting":{"fractional":[["zstd",20],["lz4",80]]},"variants":{"lz4":"lz4","none":"none","zstd":"zstd"}}`
	exampleObject = `{"defaultVariant":"standard","state":"ENABLED","variants":{"burst":{"max_batch":2000,"max_rps":10000},"standard":{"max_batch":500,"max_rps":2000}}}`
)

// fixedNow is the clock of tests that look at $flagd.timestamp.
var fixedNow = time.Unix(1_700_000_000, 0)

func mustParse(t testing.TB, key, def string) *Flag {
	t.Helper()
	f, err := Parse(key, []byte(def))
	if err != nil {
		t.Fatalf("Parse(%q): %v", key, err)
	}
	return f
}

func TestParseExamples(t *testing.T) {
	for _, tc := range []struct {
		key, def string
		kind     Kind
	}{
		{"new-login", exampleBool, KindBool},
		{"compression", exampleString, KindString},
		{"rate-limits", exampleObject, KindObject},
	} {
		f := mustParse(t, tc.key, tc.def)
		if f.Key() != tc.key {
			t.Errorf("%s: Key() = %q", tc.key, f.Key())
		}
		if f.Kind() != tc.kind {
			t.Errorf("%s: Kind() = %v, want %v", tc.key, f.Kind(), tc.kind)
		}
	}
}

func TestKind(t *testing.T) {
	for _, tc := range []struct {
		variants string
		want     Kind
	}{
		{`{"a":true,"b":false}`, KindBool},
		{`{"a":"x","b":""}`, KindString},
		{`{"a":1,"b":-10,"c":10.0}`, KindInt},
		{`{"a":0.5,"b":2}`, KindFloat},
		{`{"a":1e300}`, KindFloat}, // integral but beyond int64
		{`{"a":{},"b":{"x":[1,2]}}`, KindObject},
	} {
		f := mustParse(t, "k", `{"state":"ENABLED","variants":`+tc.variants+`}`)
		if f.Kind() != tc.want {
			t.Errorf("variants %s: Kind() = %v, want %v", tc.variants, f.Kind(), tc.want)
		}
	}
	if s := Kind(42).String(); s != "Kind(42)" {
		t.Errorf("Kind(42).String() = %q", s)
	}
}

func TestParseRejects(t *testing.T) {
	for name, def := range map[string]string{
		"not json":                  `{"state":`,
		"not an object":             `["ENABLED"]`,
		"no state":                  `{"variants":{"a":true}}`,
		"unknown state":             `{"state":"enabled","variants":{"a":true}}`,
		"state not a string":        `{"state":true,"variants":{"a":true}}`,
		"no variants":               `{"state":"ENABLED"}`,
		"empty variants":            `{"state":"ENABLED","variants":{}}`,
		"variants not an object":    `{"state":"ENABLED","variants":[true]}`,
		"mixed variants":            `{"state":"ENABLED","variants":{"a":true,"b":"x"}}`,
		"null variant":              `{"state":"ENABLED","variants":{"a":null}}`,
		"array variant":             `{"state":"ENABLED","variants":{"a":[1]}}`,
		"defaultVariant not string": `{"state":"ENABLED","variants":{"1":true},"defaultVariant":1}`,
		"defaultVariant unknown":    `{"state":"ENABLED","variants":{"a":true},"defaultVariant":"b"}`,
		"targeting not an object":   `{"state":"ENABLED","variants":{"a":true},"targeting":"a"}`,
		"metadata not an object":    `{"state":"ENABLED","variants":{"a":true},"metadata":[1]}`,
		"metadata object value":     `{"state":"ENABLED","variants":{"a":true},"metadata":{"m":{}}}`,
	} {
		_, err := Parse("bad", []byte(def))
		if !errors.Is(err, ErrInvalidFlag) {
			t.Errorf("%s: Parse error = %v, want one wrapping ErrInvalidFlag", name, err)
		}
	}
}

func TestParseTargetingAbsentNullOrEmptyIsStatic(t *testing.T) {
	for _, targeting := range []string{``, `,"targeting":null`, `,"targeting":{}`, `,"targeting":{ }`} {
		f := mustParse(t, "k", `{"state":"ENABLED","variants":{"a":1,"b":2},"defaultVariant":"b"`+targeting+`}`)
		r := f.Evaluate(map[string]any{"x": 1})
		if r.Reason != ReasonStatic || r.Variant != "b" || r.Value != 2.0 {
			t.Errorf("targeting %q: got %+v, want STATIC b=2", targeting, r)
		}
	}
}

func TestParseMetadata(t *testing.T) {
	f := mustParse(t, "k", `{"state":"DISABLED","variants":{"a":1},"defaultVariant":"a",
		"metadata":{"team":"core","version":17,"beta":true,"dropped":null}}`)
	want := map[string]any{"team": "core", "version": 17.0, "beta": true}
	got := f.Evaluate(nil).Metadata
	if len(got) != len(want) {
		t.Fatalf("Metadata = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Metadata[%q] = %v, want %v", k, got[k], v)
		}
	}
	if m := mustParse(t, "k", `{"state":"ENABLED","variants":{"a":1},"metadata":{"x":null}}`).Evaluate(nil).Metadata; m != nil {
		t.Errorf("all-null metadata: Metadata = %v, want nil", m)
	}
}
