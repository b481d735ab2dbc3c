package flagd

import (
	"math"

	"github.com/twmb/murmur3"
)

// maxTotalWeight bounds each fractional weight and their sum, as in flagd.
const maxTotalWeight = math.MaxInt32

// bucket is one parsed [variant, weight] entry of fractional.
type bucket struct {
	variant any
	weight  uint64
}

// fractional implements the fractional operator (see the package comment).
// values holds its arguments, already evaluated by jsonlogic one level deep;
// data is the evaluation data, with $flagd set.
func fractional(values, data any) any {
	args, ok := values.([]any)
	if !ok || len(args) == 0 {
		return nil
	}
	dataMap, _ := data.(map[string]any)

	bucketBy, ok := args[0].(string)
	if ok {
		args = args[1:]
	} else {
		if args[0] == nil { // a bucketing expression that evaluated to null
			args = args[1:]
		}
		targetingKey, ok := dataMap[targetingKeyKey].(string)
		if !ok {
			return nil
		}
		bucketBy = flagKeyOf(dataMap) + targetingKey
	}
	if len(args) == 0 {
		return nil
	}

	var stack [8]bucket
	buckets := stack[:0]
	var total uint64
	for _, arg := range args {
		b, ok := parseBucket(arg, data)
		if !ok {
			return nil
		}
		total += b.weight
		buckets = append(buckets, b)
	}
	if total == 0 || total > maxTotalWeight {
		return nil
	}

	n := bucketIndex(murmur3.StringSum32(bucketBy), total)
	var end uint64
	for _, b := range buckets {
		end += b.weight
		if n < end {
			return b.variant
		}
	}
	return nil // unreachable: n < total
}

// bucketIndex maps a 32-bit hash onto [0, total) with integer arithmetic:
// floor(hash * total / 2^32).
func bucketIndex(hash uint32, total uint64) uint64 {
	return (uint64(hash) * total) >> 32
}

// parseBucket parses one [variant, weight?] entry. A variant or weight
// given as a JsonLogic expression is evaluated first, as flagd's jsonlogic
// does for nested arguments.
func parseBucket(arg, data any) (bucket, bool) {
	entry, ok := arg.([]any)
	if !ok || len(entry) == 0 {
		return bucket{}, false
	}
	b := bucket{variant: evalNested(entry[0], data), weight: 1}
	switch b.variant.(type) {
	case string, bool, float64, nil:
	default:
		return bucket{}, false
	}
	if len(entry) < 2 {
		return b, true
	}
	switch w := evalNested(entry[1], data).(type) {
	case nil: // weight 1
	case float64:
		if w < 0 || w > maxTotalWeight || w != math.Trunc(w) {
			return bucket{}, false
		}
		b.weight = uint64(w)
	default:
		return bucket{}, false
	}
	return b, true
}

// evalNested evaluates v when it is a JsonLogic expression (an object) and
// returns other values unchanged. An expression that fails to evaluate fails
// the whole rule, as it does in flagd, by panicking with the error:
// jsonlogic turns that panic back into the error of the enclosing apply.
func evalNested(v, data any) any {
	if _, ok := v.(map[string]any); !ok {
		return v
	}
	out, err := apply(v, data)
	if err != nil {
		panic(err)
	}
	return out
}

// flagKeyOf returns $flagd.flagKey from the evaluation data, "" if unset.
func flagKeyOf(data map[string]any) string {
	props, _ := data[flagdKey].(map[string]any)
	key, _ := props["flagKey"].(string)
	return key
}
