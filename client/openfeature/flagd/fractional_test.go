package flagd

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"testing"

	"github.com/twmb/murmur3"
)

// refMurmur3 is MurmurHash3_x86_32 with seed 0, written from the published
// algorithm, to check the library the operator uses.
func refMurmur3(data []byte) uint32 {
	const c1, c2 = 0xcc9e2d51, 0x1b873593
	mix := func(k uint32) uint32 { return bits.RotateLeft32(k*c1, 15) * c2 }
	var h uint32
	n := len(data) / 4
	for i := 0; i < n; i++ {
		h ^= mix(binary.LittleEndian.Uint32(data[4*i:]))
		h = bits.RotateLeft32(h, 13)*5 + 0xe6546b64
	}
	var k uint32
	for i, b := range data[4*n:] {
		k |= uint32(b) << (8 * i)
	}
	if len(data)%4 != 0 {
		h ^= mix(k)
	}
	h ^= uint32(len(data))
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

type weighted struct {
	variant string
	weight  int64
}

// refPick is flagd's documented assignment computed independently: bucket
// floor(hash * total / 2^32) in exact arithmetic, then the first variant
// whose cumulative weight exceeds it.
func refPick(bucketBy string, ws []weighted) string {
	var total int64
	for _, w := range ws {
		total += w.weight
	}
	n := new(big.Int).SetUint64(uint64(refMurmur3([]byte(bucketBy))))
	n.Mul(n, big.NewInt(total))
	n.Div(n, new(big.Int).Lsh(big.NewInt(1), 32))
	var end int64
	for _, w := range ws {
		end += w.weight
		if n.Int64() < end {
			return w.variant
		}
	}
	panic("bucket beyond total weight")
}

// fractionalFlag renders a string flag whose targeting is a fractional over
// ws, bucketed by bucketBy when it is not empty. Its default variant is
// "fallback".
func fractionalFlag(t testing.TB, key string, bucketBy any, ws []weighted) *Flag {
	t.Helper()
	args := []any{}
	if bucketBy != nil {
		args = append(args, bucketBy)
	}
	variants := map[string]any{"fallback": "fallback"}
	for _, w := range ws {
		args = append(args, []any{w.variant, w.weight})
		variants[w.variant] = w.variant
	}
	def, err := json.Marshal(map[string]any{
		"state": "ENABLED", "defaultVariant": "fallback", "variants": variants,
		"targeting": map[string]any{"fractional": args},
	})
	if err != nil {
		t.Fatal(err)
	}
	return mustParse(t, key, string(def))
}

func TestMurmur3MatchesReference(t *testing.T) {
	// flagd-testbed's hash edge-case keys, found by search to hash to the
	// boundary values; they check both implementations.
	for key, want := range map[string]uint32{
		"ejOoVL": 0, "bY9fO-": 1, "SI7p-": math.MaxInt32, "6LvT0": 1 << 31, "ceQdGm": math.MaxUint32,
	} {
		if got := refMurmur3([]byte(key)); got != want {
			t.Errorf("refMurmur3(%q) = %d, want %d", key, got, want)
		}
		if got := murmur3.StringSum32(key); got != want {
			t.Errorf("murmur3.StringSum32(%q) = %d, want %d", key, got, want)
		}
	}
	for i := 0; i < 1000; i++ {
		key := fmt.Sprintf("key-%d-%s", i, make([]byte, i%7))
		if a, b := refMurmur3([]byte(key)), murmur3.StringSum32(key); a != b {
			t.Fatalf("hash(%q): reference %d, library %d", key, a, b)
		}
	}
}

func TestBucketIndex(t *testing.T) {
	for _, tc := range []struct {
		hash  uint32
		total uint64
		want  uint64
	}{
		{0, 100, 0},
		{1, 100, 0},
		{math.MaxInt32, 100, 49},
		{1 << 31, 100, 50},
		{math.MaxUint32, 100, 99},
		{math.MaxUint32, 1, 0},
		{math.MaxUint32, math.MaxInt32, math.MaxInt32 - 1},
		{1 << 31, 3, 1},
	} {
		if got := bucketIndex(tc.hash, tc.total); got != tc.want {
			t.Errorf("bucketIndex(%d, %d) = %d, want %d", tc.hash, tc.total, got, tc.want)
		}
	}
}

// flagd-testbed evaluator/gherkin/fractional.feature, "v2" examples, with
// the flags of evaluator/flags/testkit-flags.json.
func TestFractionalTestbedVectors(t *testing.T) {
	suits := `{"clubs":"clubs","diamonds":"diamonds","hearts":"hearts","spades":"spades","wild":"wild"}`
	flag := mustParse(t, "fractional-flag", `{"state":"ENABLED","variants":`+suits+`,"defaultVariant":"wild",
		"targeting":{"fractional":[{"cat":[{"var":"$flagd.flagKey"},{"var":"user.name"}]},
			["clubs",25],["diamonds",25],["hearts",25],["spades",25]]}}`)
	for name, want := range map[string]string{"jack": "hearts", "queen": "spades", "ten": "clubs", "nine": "diamonds", "3": "clubs"} {
		r := flag.Evaluate(map[string]any{"user": map[string]any{"name": name}})
		check(t, "fractional-flag "+name, r, want, want, ReasonSplit, "")
	}

	shared := mustParse(t, "fractional-flag-A-shared-seed", `{"state":"ENABLED","variants":`+suits+`,"defaultVariant":"wild",
		"targeting":{"fractional":[{"cat":["shared-seed",{"var":"user.name"}]},
			["clubs",25],["diamonds",25],["hearts",25],["spades",25]]}}`)
	for name, want := range map[string]string{"seven": "hearts", "eight": "diamonds", "nine": "clubs", "two": "spades"} {
		r := shared.Evaluate(map[string]any{"user": map[string]any{"name": name}})
		check(t, "shared seed "+name, r, want, want, ReasonSplit, "")
	}

	shorthand := mustParse(t, "fractional-flag-shorthand", `{"state":"ENABLED",
		"variants":{"heads":"heads","tails":"tails","draw":"draw"},"defaultVariant":"draw",
		"targeting":{"fractional":[["heads"],["tails",1]]}}`)
	for key, want := range map[string]string{"jon@company.com": "heads", "jane@company.com": "tails"} {
		check(t, "shorthand "+key, shorthand.Evaluate(map[string]any{"targetingKey": key}), want, want, ReasonSplit, "")
	}

	edge := mustParse(t, "fractional-hash-edge-flag", `{"state":"ENABLED","variants":{"lower":"lower","upper":"upper"},
		"defaultVariant":"lower","targeting":{"fractional":[{"var":"targetingKey"},["lower",50],["upper",50]]}}`)
	for key, want := range map[string]string{"ejOoVL": "lower", "bY9fO-": "lower", "SI7p-": "lower", "6LvT0": "upper", "ceQdGm": "upper"} {
		check(t, "hash edge "+key, edge.Evaluate(map[string]any{"targetingKey": key}), want, want, ReasonSplit, "")
	}

	single := mustParse(t, "fractional-single-entry-flag", `{"state":"ENABLED","variants":{"single":"single","fallback":"fallback"},
		"defaultVariant":"fallback","targeting":{"fractional":[["single",1]]}}`)
	check(t, "single entry", single.Evaluate(map[string]any{"targetingKey": "some-targeting-key"}), "single", "single", ReasonSplit, "")

	nullKey := mustParse(t, "fractional-null-bucket-key-flag", `{"state":"ENABLED","variants":{"one":"one","two":"two","fallback":"fallback"},
		"defaultVariant":"fallback","targeting":{"fractional":[{"var":"missing_key"},["one",50],["two",50]]}}`)
	check(t, "null bucket key, no targeting key", nullKey.Evaluate(nil), "fallback", "fallback", ReasonDefault, "")
}

// flagd-testbed's nested fractional scenarios: variants and weights given
// as JsonLogic expressions, and fractional used as a condition.
func TestFractionalNestedExpressions(t *testing.T) {
	ifFlag := mustParse(t, "fractional-nested-if-flag", `{"state":"ENABLED",
		"variants":{"premium":"premium","standard":"standard","fallback":"fallback"},"defaultVariant":"fallback",
		"targeting":{"fractional":[{"var":"targetingKey"},
			[{"if":[{"==":[{"var":"tier"},"premium"]},"premium","standard"]},50],["standard",50]]}}`)
	varFlag := mustParse(t, "fractional-nested-var-flag", `{"state":"ENABLED",
		"variants":{"red":"red","green":"green","blue":"blue","fallback":"fallback"},"defaultVariant":"fallback",
		"targeting":{"fractional":[{"var":"targetingKey"},[{"var":"color"},50],["blue",50]]}}`)
	weightFlag := mustParse(t, "fractional-nested-weight-flag", `{"state":"ENABLED",
		"variants":{"red":"red","blue":"blue","fallback":"fallback"},"defaultVariant":"fallback",
		"targeting":{"fractional":[{"var":"targetingKey"},
			["red",{"if":[{"==":[{"var":"tier"},"premium"]},100,0]}],["blue",10]]}}`)

	for _, tc := range []struct {
		f      *Flag
		ctx    map[string]any
		want   string
		reason Reason
		code   ErrorCode
	}{
		{ifFlag, map[string]any{"targetingKey": "jon@company.com", "tier": "premium"}, "premium", ReasonSplit, ""},
		{ifFlag, map[string]any{"targetingKey": "jon@company.com", "tier": "basic"}, "standard", ReasonSplit, ""},
		{ifFlag, map[string]any{"targetingKey": "user1", "tier": "premium"}, "standard", ReasonSplit, ""},
		{varFlag, map[string]any{"targetingKey": "jon@company.com", "color": "red"}, "red", ReasonSplit, ""},
		{varFlag, map[string]any{"targetingKey": "jon@company.com", "color": "green"}, "green", ReasonSplit, ""},
		{varFlag, map[string]any{"targetingKey": "user1", "color": "red"}, "blue", ReasonSplit, ""},
		{varFlag, map[string]any{"targetingKey": "jon@company.com", "color": "yellow"}, "", ReasonError, ErrorGeneral},
		{varFlag, map[string]any{"targetingKey": "jon@company.com"}, "fallback", ReasonDefault, ""},
		{weightFlag, map[string]any{"targetingKey": "jon@company.com", "tier": "premium"}, "red", ReasonSplit, ""},
		{weightFlag, map[string]any{"targetingKey": "jon@company.com", "tier": "basic"}, "blue", ReasonSplit, ""},
		{weightFlag, map[string]any{"targetingKey": "user1", "tier": "premium"}, "red", ReasonSplit, ""},
		{weightFlag, map[string]any{"targetingKey": "user1", "tier": "basic"}, "blue", ReasonSplit, ""},
	} {
		var value any
		if tc.want != "" {
			value = tc.want
		}
		check(t, fmt.Sprintf("%s %v", tc.f.Key(), tc.ctx), tc.f.Evaluate(tc.ctx), tc.want, value, tc.reason, tc.code)
	}

	asCondition := `{"state":"ENABLED","variants":{"big":"hundreds","small":"ones","fallback":"zero"},"defaultVariant":"fallback",
		"targeting":{"if":[{"fractional":[[false,%d],[true,%d]]},"big","small"]}}`
	ctx := map[string]any{"targetingKey": "some-targeting-key"}
	// A fractional that only picks a branch is a condition, not the
	// assignment: TARGETING_MATCH.
	check(t, "as condition", mustParse(t, "c", fmt.Sprintf(asCondition, 0, 100)).Evaluate(ctx), "big", "hundreds", ReasonTargetingMatch, "")
	check(t, "as condition, false", mustParse(t, "c", fmt.Sprintf(asCondition, 100, 0)).Evaluate(ctx), "small", "ones", ReasonTargetingMatch, "")

	// A nested expression that fails fails the whole rule, as in flagd.
	for name, variant := range map[string]string{
		"unknown operator":  `{"no_such_op":[1]}`,
		"failing operation": `{"in":["a",5]}`,
	} {
		broken := mustParse(t, "k", `{"state":"ENABLED","variants":{"a":"a"},"defaultVariant":"a",
			"targeting":{"fractional":[[`+variant+`,1]]}}`)
		check(t, "nested "+name, broken.Evaluate(ctx), "", nil, ReasonError, ErrorParse)
	}
}

// Assignments over many keys agree with the independent reference, for
// weights that do and do not sum to 100, zero weights and a single variant.
func TestFractionalMatchesReference(t *testing.T) {
	for _, ws := range [][]weighted{
		{{"a", 50}, {"b", 50}},
		{{"a", 1}, {"b", 3}},
		{{"a", 10}, {"b", 20}, {"c", 70}},
		{{"a", 33}, {"b", 33}, {"c", 33}},
		{{"a", 0}, {"b", 5}, {"c", 0}, {"d", 2}},
		{{"only", 7}},
		{{"a", math.MaxInt32 - 1}, {"b", 1}},
		{{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}, {"e", 1}, {"f", 1}, {"g", 1}, {"h", 1}, {"i", 1}, {"j", 1}},
	} {
		f := fractionalFlag(t, "ratio-flag", nil, ws)
		for i := 0; i < 2000; i++ {
			key := fmt.Sprintf("user-%d", i)
			want := refPick("ratio-flag"+key, ws)
			if got := f.Evaluate(map[string]any{"targetingKey": key}); got.Variant != want || got.Reason != ReasonSplit {
				t.Fatalf("weights %v, key %q: got %+v, want %q", ws, key, got, want)
			}
		}
	}
}

func TestFractionalDistribution(t *testing.T) {
	f := fractionalFlag(t, "split", nil, []weighted{{"a", 1}, {"b", 3}, {"never", 0}})
	counts := map[string]int{}
	const n = 20000
	for i := 0; i < n; i++ {
		counts[f.Evaluate(map[string]any{"targetingKey": fmt.Sprint(i)}).Variant]++
	}
	if share := float64(counts["a"]) / n; math.Abs(share-0.25) > 0.02 {
		t.Errorf("weight 1 of 4: share %.3f, want about 0.25 (%v)", share, counts)
	}
	if counts["a"]+counts["b"] != n {
		t.Errorf("counts %v: want only a and b", counts)
	}
}

func TestFractionalBucketingValue(t *testing.T) {
	ws := []weighted{{"a", 50}, {"b", 50}}

	custom := fractionalFlag(t, "k", "fixed-seed", ws)
	want := refPick("fixed-seed", ws)
	for _, tk := range []string{"x", "y", "z"} {
		check(t, "custom bucketing string", custom.Evaluate(map[string]any{"targetingKey": tk}), want, want, ReasonSplit, "")
	}

	byEmail := fractionalFlag(t, "k", map[string]any{"var": "email"}, ws)
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		want := refPick(email, ws)
		check(t, "bucketing expression", byEmail.Evaluate(map[string]any{"email": email, "targetingKey": "ignored"}), want, want, ReasonSplit, "")
		// A null bucketing value falls back to flagKey + targetingKey.
		want = refPick("k"+email, ws)
		check(t, "null bucketing value", byEmail.Evaluate(map[string]any{"targetingKey": email}), want, want, ReasonSplit, "")
	}
	check(t, "no bucketing value, no targeting key", byEmail.Evaluate(nil), "fallback", "fallback", ReasonDefault, "")

	shorthand := fractionalFlag(t, "k", nil, ws)
	check(t, "shorthand, no targeting key", shorthand.Evaluate(nil), "fallback", "fallback", ReasonDefault, "")
	check(t, "shorthand, numeric targeting key", shorthand.Evaluate(map[string]any{"targetingKey": 7}), "fallback", "fallback", ReasonDefault, "")
	want = refPick("k", ws)
	check(t, "shorthand, empty targeting key", shorthand.Evaluate(map[string]any{"targetingKey": ""}), want, want, ReasonSplit, "")

	byNumber := fractionalFlag(t, "k", map[string]any{"var": "age"}, ws)
	check(t, "numeric bucketing value", byNumber.Evaluate(map[string]any{"age": 42, "targetingKey": "t"}), "fallback", "fallback", ReasonDefault, "")
}

func TestFractionalInvalidArguments(t *testing.T) {
	ctx := map[string]any{"targetingKey": "user-1"}
	for name, args := range map[string]string{
		"no arguments":           `[]`,
		"bucketing value only":   `["seed"]`,
		"all weights zero":       `[["a",0],["b",0]]`,
		"negative weight":        `[["a",-50],["b",100]]`,
		"fractional weight":      `[["a",2.5],["b",1]]`,
		"string weight":          `[["a","10"],["b",1]]`,
		"weight above int32":     `[["a",2147483648]]`,
		"total above int32":      `[["a",2147483647],["b",1]]`,
		"empty entry":            `[[],["a",1]]`,
		"entry not an array":     `["seed","a"]`,
		"object variant":         `[[{"x":1,"y":2},1]]`,
		"array variant":          `[[["a"],1]]`,
		"arguments not an array": `"a"`,
	} {
		f := mustParse(t, "k", `{"state":"ENABLED","variants":{"a":"a","b":"b","fallback":"fallback"},"defaultVariant":"fallback",
			"targeting":{"fractional":`+args+`}}`)
		check(t, name, f.Evaluate(ctx), "fallback", "fallback", ReasonDefault, "")
	}

	// An absent or null weight is 1; a null variant is a valid (null) result.
	f := mustParse(t, "k", `{"state":"ENABLED","variants":{"a":"a","fallback":"fallback"},"defaultVariant":"fallback",
		"targeting":{"fractional":[["a",null],["b",0]]}}`)
	check(t, "null weight", f.Evaluate(ctx), "a", "a", ReasonSplit, "")
	f = mustParse(t, "k", `{"state":"ENABLED","variants":{"a":"a","fallback":"fallback"},"defaultVariant":"fallback",
		"targeting":{"fractional":[[null,1]]}}`)
	check(t, "null variant", f.Evaluate(ctx), "fallback", "fallback", ReasonDefault, "")
}
