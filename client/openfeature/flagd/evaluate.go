package flagd

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/diegoholiveira/jsonlogic/v3"
)

// Reason is an OpenFeature resolution reason.
type Reason string

const (
	ReasonStatic         Reason = "STATIC"
	ReasonTargetingMatch Reason = "TARGETING_MATCH"
	// ReasonSplit: the variant is the one fractional assigned (OpenFeature's
	// "pseudorandom assignment"; flagd itself says TARGETING_MATCH).
	ReasonSplit    Reason = "SPLIT"
	ReasonDefault  Reason = "DEFAULT"
	ReasonDisabled Reason = "DISABLED"
	ReasonError    Reason = "ERROR"
)

// ErrorCode is an OpenFeature error code; "" means no error.
type ErrorCode string

const (
	ErrorFlagNotFound ErrorCode = "FLAG_NOT_FOUND"
	// ErrorTypeMismatch is never set by Evaluate: the provider sets it when
	// a typed accessor such as Result.BoolValue reports a mismatch.
	ErrorTypeMismatch ErrorCode = "TYPE_MISMATCH"
	ErrorParse        ErrorCode = "PARSE_ERROR"
	ErrorGeneral      ErrorCode = "GENERAL"
)

// Result is the outcome of one evaluation.
type Result struct {
	// Variant is the resolved variant, "" when none was resolved: for an
	// error, for DISABLED, and for DEFAULT on a flag without defaultVariant.
	Variant string
	// Value is the resolved variant's value (bool, string, float64 or
	// map[string]any), nil when Variant is "". It is shared with the Flag:
	// do not modify it.
	Value        any
	Reason       Reason
	ErrorCode    ErrorCode
	ErrorMessage string
	// Metadata is the flag's metadata, shared with the Flag: do not modify
	// it. It is set for every evaluation of an existing flag, errors
	// included.
	Metadata map[string]any
}

// HasValue reports whether the evaluation resolved a variant. When it did
// not, the caller uses its code default with the Result's Reason (and
// ErrorCode, if any).
func (r Result) HasValue() bool { return r.Variant != "" && r.ErrorCode == "" }

// BoolValue returns the resolved value as a bool; ok is false when there is
// no value or it is not a boolean (TYPE_MISMATCH).
func (r Result) BoolValue() (v, ok bool) {
	if !r.HasValue() {
		return false, false
	}
	v, ok = r.Value.(bool)
	return v, ok
}

// StringValue returns the resolved value as a string; ok is false when there
// is no value or it is not a string (TYPE_MISMATCH).
func (r Result) StringValue() (v string, ok bool) {
	if !r.HasValue() {
		return "", false
	}
	v, ok = r.Value.(string)
	return v, ok
}

// FloatValue returns the resolved value as a float64; ok is false when there
// is no value or it is not a number (TYPE_MISMATCH).
func (r Result) FloatValue() (v float64, ok bool) {
	if !r.HasValue() {
		return 0, false
	}
	v, ok = r.Value.(float64)
	return v, ok
}

// IntValue returns the resolved value as an int64, truncating a fractional
// number toward zero as flagd's Go evaluator does; ok is false when there is
// no value, it is not a number, or it lies outside the int64 range
// (TYPE_MISMATCH).
func (r Result) IntValue() (v int64, ok bool) {
	f, ok := r.FloatValue()
	if !ok || !isInt64(f) {
		return 0, false
	}
	return int64(f), true
}

// ObjectValue returns the resolved value as an object; ok is false when there
// is no value or it is not an object (TYPE_MISMATCH). The map is shared with
// the Flag: do not modify it.
func (r Result) ObjectValue() (v map[string]any, ok bool) {
	if !r.HasValue() {
		return nil, false
	}
	v, ok = r.Value.(map[string]any)
	return v, ok
}

// Evaluate resolves the flag for the evaluation context ctx, which is not
// modified. A nil *Flag resolves to FLAG_NOT_FOUND.
func (f *Flag) Evaluate(ctx map[string]any) Result {
	return f.evaluate(ctx, time.Now)
}

// evaluate is Evaluate with the clock for $flagd.timestamp supplied. The
// clock is read only when the flag has targeting.
func (f *Flag) evaluate(ctx map[string]any, now func() time.Time) Result {
	if f == nil {
		return Result{Reason: ReasonError, ErrorCode: ErrorFlagNotFound, ErrorMessage: "flag not found"}
	}
	if f.disabled {
		return Result{Reason: ReasonDisabled, Metadata: f.metadata}
	}
	if f.targeting == nil {
		return f.byDefault(ReasonStatic)
	}

	if f.ruleErr != nil {
		return f.failed(ErrorParse, fmt.Errorf("targeting: %w", f.ruleErr))
	}
	data, err := f.targetingData(ctx, now())
	if err != nil {
		return f.failed(ErrorGeneral, fmt.Errorf("evaluation context: %w", err))
	}
	out, split, err := resolveRule(f.targeting, data)
	if err != nil {
		return f.failed(ErrorParse, fmt.Errorf("targeting: %w", err))
	}

	var name string
	switch v := out.(type) {
	case nil:
		return f.byDefault(ReasonDefault)
	case string:
		name = v
	case bool:
		name = "false"
		if v {
			name = "true"
		}
	default:
		return f.failed(ErrorGeneral, fmt.Errorf("targeting returned %s, not a variant name", jsonType(out)))
	}
	value, ok := f.variants[name]
	if !ok {
		return f.failed(ErrorGeneral, fmt.Errorf("targeting returned %q, which is not a variant", name))
	}
	if split {
		return f.resolved(name, value, ReasonSplit)
	}
	return f.resolved(name, value, ReasonTargetingMatch)
}

// byDefault resolves to defaultVariant with reason or, for a flag without
// one, to no value with reason DEFAULT: the caller's code default applies.
func (f *Flag) byDefault(reason Reason) Result {
	if f.defaultVariant == "" {
		return Result{Reason: ReasonDefault, Metadata: f.metadata}
	}
	return f.resolved(f.defaultVariant, f.defaultValue, reason)
}

func (f *Flag) resolved(variant string, value any, reason Reason) Result {
	return Result{Variant: variant, Value: value, Reason: reason, Metadata: f.metadata}
}

func (f *Flag) failed(code ErrorCode, err error) Result {
	return Result{
		Reason:       ReasonError,
		ErrorCode:    code,
		ErrorMessage: fmt.Sprintf("flag %q: %v", f.key, err),
		Metadata:     f.metadata,
	}
}

// resolveRule runs the rule and tells whether its result is a fractional
// assignment (reason SPLIT): the rule is a fractional, or an if whose
// chosen branch is one, at any depth of ifs. An if is resolved branch by
// branch here (each condition with JsonLogic's truthiness), so that the
// branch taken is known and no other branch runs.
func resolveRule(rule, data any) (out any, split bool, err error) {
	if m, ok := rule.(map[string]any); ok && len(m) == 1 {
		if args, ok := m["if"].([]any); ok && len(args) >= 2 {
			for i := 0; i+1 < len(args); i += 2 {
				cond, err := applyRule(args[i], data)
				if err != nil {
					return nil, false, err
				}
				if truthy(cond) {
					return resolveRule(args[i+1], data)
				}
			}
			if len(args)%2 == 1 {
				return resolveRule(args[len(args)-1], data)
			}
			return nil, false, nil
		}
		if _, ok := m["fractional"]; ok {
			out, err := applyRule(rule, data)
			return out, out != nil, err
		}
	}
	out, err = applyRule(rule, data)
	return out, false, err
}

// truthy is the truthiness of the JsonLogic library's if: a boolean is
// itself, a number is true unless 0, a string, array or object is true
// unless empty, anything else (null) is false.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0
	case int:
		return x != 0
	case int64:
		return x != 0
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return false
}

// applyRule runs the JsonLogic rule. The library turns panics into errors
// only when the panic value is an error; anything else is caught here so a
// bad rule can never take the caller down.
func applyRule(rule, data any) (out any, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("jsonlogic panic: %v", p)
		}
	}()
	return apply(rule, data)
}

// apply runs a decoded rule on decoded data. ApplyInterface is deprecated
// in favour of Apply, but Apply decodes the rule and the data from JSON on
// every call, which is what Parse exists to avoid; v3.5.1 has no other
// entry point for decoded values.
func apply(rule, data any) (any, error) {
	//lint:ignore SA1019 the only jsonlogic v3.5.1 API for pre-decoded rules
	return jsonlogic.ApplyInterface(rule, data)
}

// targetingData returns the data a rule runs on: a copy of ctx holding only
// JSON values (numbers as float64), as flagd's JSON encoding of the context
// produces, with the $flagd properties set.
func (f *Flag) targetingData(ctx map[string]any, now time.Time) (map[string]any, error) {
	data := make(map[string]any, len(ctx)+1)
	for k, v := range ctx {
		nv, _, err := normalize(v)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", k, err)
		}
		data[k] = nv
	}
	data[flagdKey] = f.flagdProperties(now.Unix())
	return data, nil
}

// flagdProps is the $flagd object for one second of evaluations.
type flagdProps struct {
	unix  int64
	props map[string]any
}

// flagdProperties returns the $flagd object {"flagKey", "timestamp"} for the
// unix second, reusing the previous one within the same second. Rules only
// read it, so evaluations share it.
func (f *Flag) flagdProperties(unix int64) map[string]any {
	if p := f.flagd.Load(); p != nil && p.unix == unix {
		return p.props
	}
	p := &flagdProps{unix: unix, props: map[string]any{
		"flagKey":   f.key,
		"timestamp": float64(unix),
	}}
	f.flagd.Store(p)
	return p.props
}

// Names in the evaluation data, as flagd spells them.
const (
	flagdKey        = "$flagd"
	targetingKeyKey = "targetingKey"
)

var errNotFinite = errors.New("number is not finite")

// normalize converts v to the value JSON encoding and decoding would give
// (nil, bool, string, float64, []any, map[string]any). changed reports
// whether the result differs from v; maps and slices are copied only when
// something inside them changes.
func normalize(v any) (out any, changed bool, err error) {
	switch x := v.(type) {
	case nil, bool, string:
		return v, false, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false, errNotFinite
		}
		return v, false, nil
	case float32:
		return normalize(float64(x))
	case int:
		return float64(x), true, nil
	case int8:
		return float64(x), true, nil
	case int16:
		return float64(x), true, nil
	case int32:
		return float64(x), true, nil
	case int64:
		return float64(x), true, nil
	case uint:
		return float64(x), true, nil
	case uint8:
		return float64(x), true, nil
	case uint16:
		return float64(x), true, nil
	case uint32:
		return float64(x), true, nil
	case uint64:
		return float64(x), true, nil
	case map[string]any:
		return normalizeMap(x)
	case []any:
		return normalizeSlice(x)
	}
	// Anything else (json.Number, time.Time, typed maps and slices,
	// structs) goes through JSON, exactly as flagd treats the context.
	out, err = roundTrip(v)
	return out, err == nil, err
}

func roundTrip(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func normalizeMap(m map[string]any) (any, bool, error) {
	var cp map[string]any
	for k, v := range m {
		nv, changed, err := normalize(v)
		if err != nil {
			return nil, false, fmt.Errorf("%q: %w", k, err)
		}
		if changed && cp == nil {
			cp = make(map[string]any, len(m))
			for k2, v2 := range m {
				cp[k2] = v2
			}
		}
		if cp != nil {
			cp[k] = nv
		}
	}
	if cp == nil {
		return m, false, nil
	}
	return cp, true, nil
}

func normalizeSlice(s []any) (any, bool, error) {
	var cp []any
	for i, v := range s {
		nv, changed, err := normalize(v)
		if err != nil {
			return nil, false, fmt.Errorf("[%d]: %w", i, err)
		}
		if changed && cp == nil {
			cp = append([]any(nil), s...)
		}
		if cp != nil {
			cp[i] = nv
		}
	}
	if cp == nil {
		return s, false, nil
	}
	return cp, true, nil
}
