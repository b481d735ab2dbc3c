package render

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// referenceJSON is CanonicalJSON as it was: encoding/json, no HTML
// escaping, the newline trimmed. The direct encoder must match it byte for
// byte.
func referenceJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

var trickyStrings = []string{
	"", "plain", `quote " and \ backslash`, "<html>&amp;</html>", "tab\tnl\ncr\rbs\bff\f",
	"\x00\x01\x1f\x7f", "é ü 日本 😀", "\u2028\u2029", "bad \xff\xfe utf8 \xc3", "\xed\xa0\x80 surrogate",
	"${var}", "a\u0085b", string([]byte{0xe2, 0x80}), "\u00a0",
}

var trickyFloats = []float64{
	0, math.Copysign(0, -1), 1, -1, 0.1, 1.5, 1e-6, 9.999999e-7, 1e-7, 1e20, 1e21, 123456789e13,
	math.MaxFloat64, math.SmallestNonzeroFloat64, -2.5e-300, 1 << 53, 3.0000000000000004, 100,
}

func TestCanonicalJSONMatchesEncodingJSON(t *testing.T) {
	var cases []any
	for _, s := range trickyStrings {
		cases = append(cases, s, map[string]any{s: s}, []any{s})
	}
	for _, f := range trickyFloats {
		cases = append(cases, f, -f, []any{f})
	}
	cases = append(cases, nil, true, false, int64(math.MinInt64), int64(math.MaxInt64), 42,
		[]any(nil), map[string]any(nil), []string(nil), []string{}, []any{}, map[string]any{},
		[]string{"b", "a\n"}, map[string]any{"b": 1, "a": []any{nil, true}, "B": map[string]any{}, "": "x", "é": 2, "a ": 3},
		map[string]string{"x": "y"}, struct{ A int }{1}, []int{1, 2}, map[string]any{"nested": map[string]int{"z": 1}})
	r := rand.New(rand.NewPCG(13, 13))
	for range 2000 {
		cases = append(cases, randomValue(r, 4))
	}
	for _, v := range cases {
		want, werr := referenceJSON(v)
		got, err := CanonicalJSON(v)
		if (werr != nil) != (err != nil) || !bytes.Equal(got, want) {
			t.Fatalf("CanonicalJSON(%#v) = %q, %v; encoding/json gives %q, %v", v, got, err, want, werr)
		}
	}
	for _, v := range []any{math.NaN(), math.Inf(1), map[string]any{"x": []any{math.Inf(-1)}}} {
		_, werr := referenceJSON(v)
		if _, err := CanonicalJSON(v); err == nil || !strings.Contains(err.Error(), werr.Error()) {
			t.Errorf("CanonicalJSON(%v) error = %v, want one carrying %v", v, err, werr)
		}
	}
}

// randomValue builds a value of the shapes render produces.
func randomValue(r *rand.Rand, depth int) any {
	n := r.IntN(10)
	if depth == 0 {
		n = r.IntN(6)
	}
	switch n {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return int64(r.Uint64())
	case 3:
		switch r.IntN(3) {
		case 0:
			return math.Float64frombits(r.Uint64())
		case 1:
			return trickyFloats[r.IntN(len(trickyFloats))] * math.Pow(10, float64(r.IntN(40)-20))
		}
		return float64(r.IntN(1000)) / float64(1+r.IntN(100))
	case 4, 5:
		if r.IntN(2) == 0 {
			return trickyStrings[r.IntN(len(trickyStrings))]
		}
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return string(b)
	case 6, 7:
		s := make([]any, r.IntN(5))
		for i := range s {
			s[i] = randomValue(r, depth-1)
		}
		return s
	case 8:
		s := make([]string, r.IntN(4))
		for i := range s {
			s[i] = trickyStrings[r.IntN(len(trickyStrings))]
		}
		return s
	}
	m := map[string]any{}
	for range r.IntN(20) {
		m[trickyStrings[r.IntN(len(trickyStrings))]+string(rune('a'+r.IntN(26)))] = randomValue(r, depth-1)
	}
	return m
}
