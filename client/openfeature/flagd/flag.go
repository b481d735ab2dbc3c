package flagd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/diegoholiveira/jsonlogic/v3"
)

// ErrInvalidFlag is wrapped by every error Parse returns.
var ErrInvalidFlag = errors.New("invalid flagd flag definition")

// Kind is the JSON type shared by a flag's variant values.
type Kind uint8

const (
	// KindUnknown is the zero Kind; Flag.Kind never returns it for a
	// parsed flag.
	KindUnknown Kind = iota
	KindBool
	KindString
	// KindInt: every variant is a number with an integral value that fits
	// an int64.
	KindInt
	// KindFloat: every variant is a number, at least one of them not
	// integral (or beyond the int64 range).
	KindFloat
	KindObject
)

var kindNames = [...]string{"unknown", "bool", "string", "int", "float", "object"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Flag is one compiled flag definition. It is immutable and safe for
// concurrent use.
type Flag struct {
	key      string
	disabled bool
	kind     Kind
	variants map[string]any
	// defaultVariant is "" when the definition has none (absent or null);
	// defaultValue is then nil.
	defaultVariant string
	defaultValue   any
	// targeting is the decoded JsonLogic rule, nil when the flag has none.
	// ruleErr, when set, names an operator the rule uses that jsonlogic does
	// not know; every evaluation of the rule then fails with it.
	targeting any
	ruleErr   error
	metadata  map[string]any
	// flagd caches the $flagd evaluation property (see flagdProperties).
	flagd atomic.Pointer[flagdProps]
}

// flagJSON is the wire shape of one flag definition.
type flagJSON struct {
	State          *string         `json:"state"`
	Variants       map[string]any  `json:"variants"`
	DefaultVariant json.RawMessage `json:"defaultVariant"`
	Targeting      json.RawMessage `json:"targeting"`
	Metadata       map[string]any  `json:"metadata"`
}

// Parse compiles the flag definition data for the flag key. The targeting
// rule is decoded here, once. Errors wrap ErrInvalidFlag.
func Parse(key string, data []byte) (*Flag, error) {
	registerOperators()

	var raw flagJSON
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrInvalidFlag, key, err)
	}
	f := &Flag{key: key, variants: raw.Variants}
	if err := f.setState(raw.State); err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrInvalidFlag, key, err)
	}
	if err := f.setVariants(raw.DefaultVariant); err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrInvalidFlag, key, err)
	}
	if err := f.setTargeting(raw.Targeting); err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrInvalidFlag, key, err)
	}
	if err := f.setMetadata(raw.Metadata); err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrInvalidFlag, key, err)
	}
	return f, nil
}

func (f *Flag) setState(state *string) error {
	switch {
	case state == nil:
		return errors.New("state is missing")
	case *state == "DISABLED":
		f.disabled = true
	case *state != "ENABLED":
		return fmt.Errorf("state %q is neither ENABLED nor DISABLED", *state)
	}
	return nil
}

func (f *Flag) setVariants(defaultVariant json.RawMessage) error {
	if len(f.variants) == 0 {
		return errors.New("variants are missing or empty")
	}
	for name, v := range f.variants {
		k := kindOf(v)
		if k == KindUnknown {
			return fmt.Errorf("variant %q: a value must be a boolean, string, number or object, not %s", name, jsonType(v))
		}
		switch {
		case f.kind == KindUnknown || f.kind == k:
			f.kind = k
		case (f.kind == KindInt && k == KindFloat) || (f.kind == KindFloat && k == KindInt):
			f.kind = KindFloat
		default:
			return fmt.Errorf("variants mix %s and %s values", f.kind, k)
		}
	}

	if len(defaultVariant) == 0 || bytes.Equal(defaultVariant, []byte("null")) {
		return nil // no default: the caller's code default applies
	}
	if err := json.Unmarshal(defaultVariant, &f.defaultVariant); err != nil {
		return fmt.Errorf("defaultVariant must be a string or null: %w", err)
	}
	v, ok := f.variants[f.defaultVariant]
	if !ok {
		return fmt.Errorf("defaultVariant %q is not a variant", f.defaultVariant)
	}
	f.defaultValue = v
	return nil
}

func (f *Flag) setTargeting(targeting json.RawMessage) error {
	if len(targeting) == 0 || bytes.Equal(targeting, []byte("null")) {
		return nil
	}
	var rule any
	if err := json.Unmarshal(targeting, &rule); err != nil {
		return fmt.Errorf("targeting: %w", err)
	}
	m, ok := rule.(map[string]any)
	if !ok {
		return fmt.Errorf("targeting must be a JSON object, not %s", jsonType(rule))
	}
	if len(m) > 0 { // flagd treats {} as no targeting
		f.targeting = m
		f.ruleErr = checkOperators(m)
	}
	return nil
}

// checkOperators reports the first operator in rule that jsonlogic does not
// know. jsonlogic v3.5.1 does not fail on every unknown operator (given one
// argument it answers the argument's truthiness), while the jsonlogic flagd
// uses does, so flagd reports PARSE_ERROR for such a rule: finding them here
// keeps that behaviour. Like jsonlogic, it treats an object with more than
// one key as a literal, not an operation.
func checkOperators(rule any) error {
	switch x := rule.(type) {
	case map[string]any:
		if len(x) != 1 {
			return nil
		}
		for op, args := range x {
			// The validator accepts {op: []} exactly when op is a built-in or
			// registered operator.
			if !jsonlogic.ValidateJsonLogic(map[string]any{op: []any{}}) {
				return fmt.Errorf("unknown operator %q", op)
			}
			return checkOperators(args)
		}
	case []any:
		for _, v := range x {
			if err := checkOperators(v); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *Flag) setMetadata(metadata map[string]any) error {
	for name, v := range metadata {
		switch v.(type) {
		case nil:
			delete(metadata, name) // flagd drops null metadata values
		case bool, string, float64:
		default:
			return fmt.Errorf("metadata %q: a value must be a boolean, string or number, not %s", name, jsonType(v))
		}
	}
	if len(metadata) > 0 {
		f.metadata = metadata
	}
	return nil
}

// Key returns the flag key given to Parse.
func (f *Flag) Key() string { return f.key }

// Kind returns the JSON type of the flag's variant values. flagd checks a
// caller's requested type against the resolved value: a bool or string
// request needs KindBool or KindString, an object request KindObject, and a
// float request accepts KindInt and KindFloat. An int request is answered by
// flagd's Go evaluator for both numeric kinds, truncating a float toward
// zero (see Result.IntValue).
func (f *Flag) Kind() Kind { return f.kind }

func kindOf(v any) Kind {
	switch x := v.(type) {
	case bool:
		return KindBool
	case string:
		return KindString
	case float64:
		if isInt64(x) && x == math.Trunc(x) {
			return KindInt
		}
		return KindFloat
	case map[string]any:
		return KindObject
	}
	return KindUnknown
}

// isInt64 reports whether x lies within the int64 range (2^63 itself is
// exactly representable as a float64 but is not an int64).
func isInt64(x float64) bool {
	return x >= math.MinInt64 && x < math.MaxInt64
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case float64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
