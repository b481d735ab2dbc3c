package diff

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// sides rebuilds both inputs of an edit script.
func sides(ops []diffLine) (a, b []string) {
	a, b = []string{}, []string{}
	for _, op := range ops {
		switch op.Op {
		case ' ':
			a, b = append(a, op.Text), append(b, op.Text)
		case '-':
			a = append(a, op.Text)
		case '+':
			b = append(b, op.Text)
		}
	}
	return a, b
}

func edits(ops []diffLine) int {
	n := 0
	for _, op := range ops {
		if op.Op != ' ' {
			n++
		}
	}
	return n
}

func lcsLen(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}

func TestLineDiffIsAShortestEditScript(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	gen := func() []string {
		out := make([]string, r.IntN(12))
		for i := range out {
			out[i] = string(rune('a' + r.IntN(4)))
		}
		return out
	}
	for i := 0; i < 2000; i++ {
		a, b := gen(), gen()
		ops := lineDiff(a, b)
		ga, gb := sides(ops)
		if !slices.Equal(ga, a) || !slices.Equal(gb, b) {
			t.Fatalf("lineDiff(%q, %q) rebuilds %q, %q", a, b, ga, gb)
		}
		if got, want := edits(ops), len(a)+len(b)-2*lcsLen(a, b); got != want {
			t.Fatalf("lineDiff(%q, %q) has %d edits, want %d", a, b, got, want)
		}
	}
}

func TestLineDiffRemovalsBeforeAdditions(t *testing.T) {
	got := lineDiff([]string{"x", "a", "b", "y"}, []string{"x", "c", "d", "y"})
	want := []diffLine{{' ', "x"}, {'-', "a"}, {'-', "b"}, {'+', "c"}, {'+', "d"}, {' ', "y"}}
	if !slices.Equal(got, want) {
		t.Errorf("lineDiff = %v, want %v", got, want)
	}
}

func TestLineDiffFallsBackPastTheLimit(t *testing.T) {
	var a, b []string
	for i := 0; i < maxEditDistance; i++ {
		a = append(a, fmt.Sprint("a", i))
		b = append(b, fmt.Sprint("b", i))
	}
	a = append([]string{"head"}, append(a, "common", "tail")...)
	b = append([]string{"head"}, append(b, "common", "tail")...)
	ops := lineDiff(a, b)
	ga, gb := sides(ops)
	if !slices.Equal(ga, a) || !slices.Equal(gb, b) {
		t.Fatalf("fallback does not rebuild its inputs")
	}
	if ops[0] != (diffLine{' ', "head"}) || ops[len(ops)-1] != (diffLine{' ', "tail"}) {
		t.Errorf("common prefix and suffix are not kept as context")
	}
}

func TestCompactDiff(t *testing.T) {
	mk := func(spec string) []diffLine {
		var out []diffLine
		for i, c := range spec {
			out = append(out, diffLine{Op: byte(c), Text: fmt.Sprint(i)})
		}
		return out
	}
	render := func(ops []diffLine) string {
		var b strings.Builder
		for _, op := range ops {
			b.WriteByte(op.Op)
		}
		return b.String()
	}
	tests := []struct{ in, want string }{
		{"     -+     ", ".  -+  ."},
		{"-    ", "-  ."},
		{"   +", "   +"},        // one omitted line is shown, not replaced by "..."
		{"+     +", "+     +"},  // gap of 5 = 2 + 1 + 2
		{"+      +", "+  .  +"}, // gap of 6: two lines omitted
		{"      ", "."},         // nothing changed
		{"-+", "-+"},
	}
	for _, tt := range tests {
		if got := render(compactDiff(mk(tt.in), 2)); got != tt.want {
			t.Errorf("compactDiff(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPayloadDiff(t *testing.T) {
	tests := []struct {
		name          string
		before, after string
		want          []string
	}{
		{"json pretty-printed", `{"a":1,"b":2}`, `{"a":1,"b":3}`, []string{`    "a": 1,`, `-   "b": 2`, `+   "b": 3`, `  }`}},
		{"plain text", "one\ntwo\n", "one\nthree\n", []string{"  one", "- two", "+ three"}},
		{"formatting only", `{"a":1}`, `{ "a": 1 }`, []string{"  (payload differs only in formatting: 7 → 10 bytes)"}},
		{"binary", "\xff", "ok", []string{"  (binary payload: 1 → 2 bytes)"}},
		{"from empty", "", `{"a":1}`, []string{"+ {", `+   "a": 1`, "+ }"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, l := range payloadDiff([]byte(tt.before), []byte(tt.after)) {
				got = append(got, l.String())
			}
			if tt.name == "json pretty-printed" {
				got = got[1:] // "  {"
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("payloadDiff:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}
