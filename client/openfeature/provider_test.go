package openfeature

import (
	"context"
	"strings"
	"testing"
	"time"

	of "github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/ringmaster-io/ringmaster/client"
)

// flags of one generation, as ringmaster renders them.
var testFlags = map[string][]byte{
	"dark-mode":   []byte(`{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}`),
	"checkout-v2": []byte(`{"defaultVariant":"off","state":"ENABLED","targeting":{"if":[{"in":["@acme.example",{"var":"email"}]},"on",{"fractional":[{"var":"targetingKey"},["on",25],["off",75]]}]},"variants":{"off":false,"on":true}}`),
	"retired":     []byte(`{"state":"DISABLED","variants":{"on":true,"off":false},"defaultVariant":"on"}`),
	"codec":       []byte(`{"state":"ENABLED","variants":{"lz4":"lz4","zstd":"zstd"},"defaultVariant":"lz4","metadata":{"owner":"ingest"}}`),
	"limits":      []byte(`{"state":"ENABLED","variants":{"standard":{"max_rps":2000},"burst":{"max_rps":10000}},"defaultVariant":"standard"}`),
	"workers":     []byte(`{"state":"ENABLED","variants":{"few":4,"many":16.5},"defaultVariant":"few","targeting":{"if":[{"==":[{"var":"tier"},"big"]},"many",null]}}`),
	"no-default":  []byte(`{"state":"ENABLED","variants":{"a":"A"},"targeting":{"if":[{"==":[{"var":"x"},1]},"a",null]}}`),
	"bad-target":  []byte(`{"state":"ENABLED","variants":{"a":"A"},"defaultVariant":"a","targeting":{"if":[true,"nonesuch","a"]}}`),
	"broken":      []byte(`{"state":"ENABLED","variants":`),
}

func testProvider(t *testing.T) *Provider {
	t.Helper()
	p := New(client.Config{})
	p.install(&client.Snapshot{Generation: 7, Revision: "main (abc1234)", Flags: testFlags}, nil)
	return p
}

func code(d of.ProviderResolutionDetail) of.ErrorCode { return d.ResolutionDetail().ErrorCode }

// TestEvaluations: every reason and error code the provider gives, with
// the caller's default wherever there is no value.
func TestEvaluations(t *testing.T) {
	p := testProvider(t)
	ctx := context.Background()
	check := func(name string, got, want any, d of.ProviderResolutionDetail, reason of.Reason, variant string, c of.ErrorCode) {
		t.Helper()
		if got != want || d.Reason != reason || d.Variant != variant || code(d) != c {
			t.Errorf("%s: value %v reason %s variant %q code %q (%s); want %v %s %q %q", name, got, d.Reason, d.Variant, code(d), d.ResolutionDetail().ErrorMessage, want, reason, variant, c)
		}
	}
	b := p.BooleanEvaluation(ctx, "dark-mode", false, nil)
	check("static", b.Value, true, b.ProviderResolutionDetail, of.StaticReason, "on", "")
	b = p.BooleanEvaluation(ctx, "checkout-v2", false, of.FlattenedContext{"email": "ada@acme.example", "targetingKey": "u1"})
	check("targeting match", b.Value, true, b.ProviderResolutionDetail, of.TargetingMatchReason, "on", "")
	b = p.BooleanEvaluation(ctx, "checkout-v2", true, of.FlattenedContext{"email": "bob@elsewhere.example", "targetingKey": "u1"})
	if b.Reason != of.SplitReason || code(b.ProviderResolutionDetail) != "" {
		t.Errorf("fractional: %+v", b)
	}
	b = p.BooleanEvaluation(ctx, "checkout-v2", true, of.FlattenedContext{"email": "bob@elsewhere.example"})
	check("fractional without a targeting key", b.Value, false, b.ProviderResolutionDetail, of.DefaultReason, "off", "")
	b = p.BooleanEvaluation(ctx, "retired", false, nil)
	check("disabled", b.Value, false, b.ProviderResolutionDetail, of.DisabledReason, "", "")
	b = p.BooleanEvaluation(ctx, "nonesuch", true, nil)
	check("not found", b.Value, true, b.ProviderResolutionDetail, of.ErrorReason, "", of.FlagNotFoundCode)
	if msg := b.ResolutionDetail().ErrorMessage; !strings.Contains(msg, "generation 7") {
		t.Errorf("not found message %q names no generation", msg)
	}
	b = p.BooleanEvaluation(ctx, "codec", true, nil)
	check("type mismatch", b.Value, true, b.ProviderResolutionDetail, of.ErrorReason, "", of.TypeMismatchCode)
	b = p.BooleanEvaluation(ctx, "broken", true, nil)
	check("a flag that does not parse", b.Value, true, b.ProviderResolutionDetail, of.ErrorReason, "", of.ParseErrorCode)
	s := p.StringEvaluation(ctx, "bad-target", "dflt", nil)
	check("targeting names no variant", s.Value, "dflt", s.ProviderResolutionDetail, of.ErrorReason, "", of.GeneralCode)
	s = p.StringEvaluation(ctx, "no-default", "dflt", nil)
	check("no default variant", s.Value, "dflt", s.ProviderResolutionDetail, of.DefaultReason, "", "")
	s = p.StringEvaluation(ctx, "codec", "", nil)
	check("string", s.Value, "lz4", s.ProviderResolutionDetail, of.StaticReason, "lz4", "")
	if s.FlagMetadata["owner"] != "ingest" {
		t.Errorf("metadata %v", s.FlagMetadata)
	}
	i := p.IntEvaluation(ctx, "workers", 0, nil)
	check("int, default variant", i.Value, int64(4), i.ProviderResolutionDetail, of.DefaultReason, "few", "")
	i = p.IntEvaluation(ctx, "workers", 0, of.FlattenedContext{"tier": "big"})
	check("int, truncated", i.Value, int64(16), i.ProviderResolutionDetail, of.TargetingMatchReason, "many", "")
	f := p.FloatEvaluation(ctx, "workers", 0, of.FlattenedContext{"tier": "big"})
	check("float", f.Value, 16.5, f.ProviderResolutionDetail, of.TargetingMatchReason, "many", "")
	o := p.ObjectEvaluation(ctx, "limits", nil, nil)
	if m, ok := o.Value.(map[string]any); !ok || m["max_rps"] != float64(2000) || o.Reason != of.StaticReason {
		t.Errorf("object: %+v", o)
	}
	o = p.ObjectEvaluation(ctx, "codec", "dflt", nil)
	check("object mismatch", o.Value, "dflt", o.ProviderResolutionDetail, of.ErrorReason, "", of.TypeMismatchCode)
}

// TestInstallIsIncremental: a generation's changed flags are compiled
// again, the others kept as they were, removed ones dropped.
func TestInstallIsIncremental(t *testing.T) {
	p := testProvider(t)
	before := p.flags.Load()
	flags := map[string][]byte{}
	for k, v := range testFlags {
		flags[k] = v
	}
	flags["dark-mode"] = []byte(`{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off"}`)
	delete(flags, "retired")
	p.install(&client.Snapshot{Generation: 8, Flags: flags}, []string{"dark-mode", "retired"})
	after := p.flags.Load()
	if after.flags["codec"] != before.flags["codec"] {
		t.Error("an unchanged flag was compiled again")
	}
	if _, ok := after.flags["retired"]; ok {
		t.Error("a removed flag is still served")
	}
	if b := p.BooleanEvaluation(context.Background(), "dark-mode", true, nil); b.Value != false {
		t.Errorf("the changed flag: %+v", b)
	}
	if before.flags["dark-mode"].flag == after.flags["dark-mode"].flag {
		t.Error("the changed flag was not compiled again")
	}
}

// TestNotInitialised: before Init there is nothing to serve.
func TestNotInitialised(t *testing.T) {
	p := New(client.Config{})
	b := p.BooleanEvaluation(context.Background(), "dark-mode", true, nil)
	if b.Value != true || code(b.ProviderResolutionDetail) != of.ProviderNotReadyCode {
		t.Fatalf("%+v", b)
	}
}

// TestInitFailsWithProviderError: a provider that cannot load its first
// generation fails Init, and the SDK reports PROVIDER_ERROR naming why.
func TestInitFailsWithProviderError(t *testing.T) {
	p := New(client.Config{Servers: []string{"127.0.0.1:1"}, Root: "/ringmaster/x"})
	api := isolated.NewAPI()
	errs := make(chan of.EventDetails, 1)
	cb := func(d of.EventDetails) { errs <- d }
	api.AddHandler(of.ProviderError, &cb)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := api.SetProviderAndWait(ctx, p)
	if err == nil {
		t.Fatal("Init succeeded with no server to read from")
	}
	select {
	case d := <-errs:
		if !strings.Contains(d.Message, "127.0.0.1:1") {
			t.Fatalf("PROVIDER_ERROR message %q names no server", d.Message)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no PROVIDER_ERROR event")
	}
	_ = api.Shutdown(context.Background())
	if b := p.BooleanEvaluation(context.Background(), "dark-mode", true, nil); b.Value != true || code(b.ProviderResolutionDetail) != of.ProviderNotReadyCode {
		t.Fatalf("evaluation after a failed Init: %+v", b)
	}
}
