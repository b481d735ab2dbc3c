package flagd

import (
	"strconv"
	"testing"
)

func BenchmarkEvaluateStatic(b *testing.B) {
	f := mustParse(b, "rate-limits", exampleObject)
	ctx := map[string]any{"targetingKey": "user-1", "email": "ada@acme.example"}
	b.ReportAllocs()
	for b.Loop() {
		if r := f.Evaluate(ctx); r.Reason != ReasonStatic {
			b.Fatalf("got %+v", r)
		}
	}
}

func BenchmarkEvaluateFractional(b *testing.B) {
	f := mustParse(b, "compression", exampleString)
	ctxs := make([]map[string]any, 256)
	for i := range ctxs {
		ctxs[i] = map[string]any{"targetingKey": "host-" + strconv.Itoa(i), "region": "eu-west-1"}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if r := f.Evaluate(ctxs[i%len(ctxs)]); r.Reason != ReasonSplit {
			b.Fatalf("got %+v", r)
		}
		i++
	}
}
