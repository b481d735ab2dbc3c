package flagd

import (
	"strings"
	"sync"

	"github.com/diegoholiveira/jsonlogic/v3"
	"golang.org/x/mod/semver"
)

// Custom operator names, as flagd defines them. None is a jsonlogic
// built-in. jsonlogic's registry is global: anything else in the binary that
// registers these names (flagd's own evaluator, say) replaces these
// implementations, or is replaced by them, whichever registers last.
const (
	opFractional = "fractional"
	opSemVer     = "sem_ver"
	opStartsWith = "starts_with"
	opEndsWith   = "ends_with"
)

var registerOnce sync.Once

// registerOperators adds the custom operators to jsonlogic's global
// registry, once. jsonlogic's registry is a plain map, so this runs before
// the first Flag exists and therefore before any evaluation reads it.
func registerOperators() {
	registerOnce.Do(func() {
		jsonlogic.AddOperator(opFractional, fractional)
		jsonlogic.AddOperator(opSemVer, semVer)
		jsonlogic.AddOperator(opStartsWith, func(values, _ any) any {
			return compareStrings(values, strings.HasPrefix)
		})
		jsonlogic.AddOperator(opEndsWith, func(values, _ any) any {
			return compareStrings(values, strings.HasSuffix)
		})
	})
}

// compareStrings implements starts_with and ends_with: exactly two string
// arguments, else null.
func compareStrings(values any, match func(s, affix string) bool) any {
	args, ok := values.([]any)
	if !ok || len(args) != 2 {
		return nil
	}
	s, ok := args[0].(string)
	if !ok {
		return nil
	}
	affix, ok := args[1].(string)
	if !ok {
		return nil
	}
	return match(s, affix)
}

// semVer implements sem_ver: [version, operator, version], else null.
func semVer(values, _ any) any {
	args, ok := values.([]any)
	if !ok || len(args) != 3 {
		return nil
	}
	a, ok := canonicalVersion(args[0])
	if !ok {
		return nil
	}
	op, ok := args[1].(string)
	if !ok {
		return nil
	}
	b, ok := canonicalVersion(args[2])
	if !ok {
		return nil
	}
	switch op {
	case "=":
		return semver.Compare(a, b) == 0
	case "!=":
		return semver.Compare(a, b) != 0
	case "<":
		return semver.Compare(a, b) < 0
	case "<=":
		return semver.Compare(a, b) <= 0
	case ">":
		return semver.Compare(a, b) > 0
	case ">=":
		return semver.Compare(a, b) >= 0
	case "^":
		return semver.Major(a) == semver.Major(b)
	case "~":
		return semver.MajorMinor(a) == semver.MajorMinor(b)
	}
	return nil
}

// canonicalVersion returns v with the "v" prefix golang.org/x/mod/semver
// requires: "1.2.3", "v1.2.3" and "V1.2.3" are all "v1.2.3". ok is false
// when v is not a string or not a valid version.
func canonicalVersion(v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		return "", false
	}
	switch {
	case strings.HasPrefix(s, "v"):
	case strings.HasPrefix(s, "V"):
		s = "v" + s[1:]
	default:
		s = "v" + s
	}
	return s, semver.IsValid(s)
}
