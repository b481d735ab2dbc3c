package policies

import (
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"strings"
	gosync "sync"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/decls"
	"github.com/google/cel-go/common/functions"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
)

// CEL charges the cost of a function call after the call returns, and a
// call cannot be interrupted. Most calls do work in proportion to what
// their arguments already cost to build, but a few can do far more in one
// call: join or format a list of a thousand references to one large
// string, replace every byte of a string with that string, compare two
// sets pairwise, match a large text against a regex with many states. The
// calls below are checked before they run and refused (the rule is then
// stopped, as if its budget were spent) when one call would exceed these
// bounds, so that no single call runs for long or allocates much.
const (
	// maxCallBytes bounds the bytes a call builds (a string, or the text of
	// a formatted value).
	maxCallBytes = 16 << 20
	// maxCallElems bounds the elements of a list a call builds.
	maxCallElems = 1 << 20
	// maxCallWork bounds the pairwise comparisons of a set or distinct
	// operation, and the text length times regex program size of a match.
	maxCallWork = 10_000_000
	// maxPatternBytes bounds a regular expression's source.
	maxPatternBytes = 4096
)

// callTooBig is a call the guards refused; its message says what the
// call would have done and the bound.
type callTooBig struct{ msg string }

func (e *callTooBig) Error() string { return e.msg }

// refuse is the error value of a refused call.
func refuse(format string, args ...any) ref.Val {
	return types.WrapErr(&callTooBig{msg: fmt.Sprintf(format, args...)})
}

// fnName renders a function's name for a message.
func fnName(fn string) string {
	if fn == "_+_" {
		return "+"
	}
	return fn
}

// checks are the guards, by function name. Each returns nil to let the
// call run, or the error value to return instead.
var checks = map[string]func(fn string, args []ref.Val) ref.Val{
	"_+_":             checkAdd,
	"join":            checkJoin,
	"replace":         checkReplace,
	"format":          checkFormat,
	"flatten":         checkFlatten,
	"distinct":        checkDistinct,
	"sets.contains":   checkPairs,
	"sets.equivalent": checkPairs,
	"sets.intersects": checkPairs,
}

// guardDecorator returns the program option that puts the guards in front
// of the calls of env's functions they cover, and replaces regex matching
// with a cached, bounded implementation.
func guardDecorator(env *cel.Env) (cel.ProgramOption, error) {
	bindings := map[string]map[string]*functions.Overload{}
	fns := env.Functions()
	for name := range checks {
		fn, ok := fns[name]
		if !ok {
			continue
		}
		bs, err := fn.Bindings()
		if err != nil {
			return nil, fmt.Errorf("bindings of %s: %w", name, err)
		}
		byID := map[string]*functions.Overload{}
		for _, b := range bs {
			byID[b.Operator] = b
		}
		bindings[name] = byID
	}
	return cel.CustomDecoratorV2(func(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
		call, ok := i.(interpreter.InterpretableCall)
		if !ok {
			return i, nil
		}
		name, id := call.Function(), call.OverloadID()
		if name == "matches" {
			return interpreter.NewCall(call.ID(), name, id, call.Args(), matches), nil
		}
		check, ok := checks[name]
		if !ok {
			return i, nil
		}
		impl := bindings[name][id]
		if impl == nil {
			impl = bindings[name][name]
		}
		if impl == nil || impl.NonStrict {
			return i, nil
		}
		return interpreter.NewCall(call.ID(), name, id, call.Args(), func(args ...ref.Val) ref.Val {
			if refused := check(name, args); refused != nil {
				return refused
			}
			return invoke(name, impl, args)
		}), nil
	}), nil
}

// invoke calls a binding as the planner would have.
func invoke(name string, impl *functions.Overload, args []ref.Val) ref.Val {
	if impl.OperandTrait != 0 && !args[0].Type().HasTrait(impl.OperandTrait) {
		return decls.MaybeNoSuchOverload(name, args...)
	}
	switch {
	case len(args) == 1 && impl.Unary != nil:
		return impl.Unary(args[0])
	case len(args) == 2 && impl.Binary != nil:
		return impl.Binary(args[0], args[1])
	case impl.Function != nil:
		return impl.Function(args...)
	}
	return decls.MaybeNoSuchOverload(name, args...)
}

// byteSize is the length of a string or bytes value, and whether it is one.
func byteSize(v ref.Val) (uint64, bool) {
	switch v := v.(type) {
	case types.String:
		return uint64(len(v)), true
	case types.Bytes:
		return uint64(len(v)), true
	}
	return 0, false
}

func checkAdd(fn string, args []ref.Val) ref.Val {
	if len(args) != 2 {
		return nil
	}
	a, ok1 := byteSize(args[0])
	b, ok2 := byteSize(args[1])
	if ok1 && ok2 && a+b > maxCallBytes {
		return refuse("+ would build %s bytes; one call may build at most %s", grouped(a+b), grouped(maxCallBytes))
	}
	return nil
}

func checkJoin(fn string, args []ref.Val) ref.Val {
	l, ok := args[0].(traits.Lister)
	if !ok {
		return nil
	}
	var sep uint64
	if len(args) > 1 {
		sep, _ = byteSize(args[1])
	}
	var n uint64
	for it := l.Iterator(); it.HasNext() == types.True; {
		s, _ := byteSize(it.Next())
		n += s + sep
		if n > maxCallBytes {
			return refuse("%s would build more than %s bytes, the most one call may build", fnName(fn), grouped(maxCallBytes))
		}
	}
	return nil
}

func checkReplace(fn string, args []ref.Val) ref.Val {
	if len(args) < 3 {
		return nil
	}
	s, ok1 := args[0].(types.String)
	old, ok2 := args[1].(types.String)
	repl, ok3 := args[2].(types.String)
	if !ok1 || !ok2 || !ok3 || len(repl) <= len(old) {
		return nil
	}
	count := uint64(strings.Count(string(s), string(old)))
	if len(args) > 3 {
		if n, ok := args[3].(types.Int); ok && n >= 0 {
			count = min(count, uint64(n))
		}
	}
	size := uint64(len(s)) + count*uint64(len(repl)-len(old))
	if size > maxCallBytes {
		return refuse("%s would build %s bytes; one call may build at most %s", fnName(fn), grouped(size), grouped(maxCallBytes))
	}
	return nil
}

func checkFormat(fn string, args []ref.Val) ref.Val {
	var size uint64
	for _, a := range args {
		size += textSize(a, maxCallBytes-size)
		if size > maxCallBytes {
			return refuse("%s would build more than %s bytes, the most one call may build", fnName(fn), grouped(maxCallBytes))
		}
	}
	return nil
}

// textSize estimates the bytes of v's text, stopping once it passes limit.
func textSize(v ref.Val, limit uint64) uint64 {
	if n, ok := byteSize(v); ok {
		return n
	}
	var size uint64
	switch v := v.(type) {
	case traits.Mapper:
		for it := v.Iterator(); it.HasNext() == types.True && size <= limit; {
			k := it.Next()
			size += 2 + textSize(k, limit-size)
			if size <= limit {
				size += textSize(v.Get(k), limit-size)
			}
		}
		return size
	case traits.Lister:
		for it := v.Iterator(); it.HasNext() == types.True && size <= limit; {
			size += 2 + textSize(it.Next(), limit-size)
		}
		return size
	}
	return 24
}

func checkFlatten(fn string, args []ref.Val) ref.Val {
	depth := int64(1)
	if len(args) > 1 {
		if d, ok := args[1].(types.Int); ok {
			depth = int64(d)
		}
	}
	if n := flatCount(args[0], depth, maxCallElems); n > maxCallElems {
		return refuse("%s would build a list of more than %s elements, the most one call may build", fnName(fn), grouped(maxCallElems))
	}
	return nil
}

// flatCount counts the elements of v flattened depth levels, stopping once
// it passes limit.
func flatCount(v ref.Val, depth int64, limit uint64) uint64 {
	l, ok := v.(traits.Lister)
	if !ok {
		return 1
	}
	var n uint64
	for it := l.Iterator(); it.HasNext() == types.True && n <= limit; {
		e := it.Next()
		if _, isList := e.(traits.Lister); isList && depth > 0 {
			n += flatCount(e, depth-1, limit-n)
		} else {
			n++
		}
	}
	return n
}

// listSize is the length of a list value.
func listSize(v ref.Val) uint64 {
	if l, ok := v.(traits.Lister); ok {
		if n, ok := l.Size().(types.Int); ok && n > 0 {
			return uint64(n)
		}
	}
	return 0
}

func checkDistinct(fn string, args []ref.Val) ref.Val {
	n := listSize(args[0])
	if work := satMul(n, n); work > maxCallWork {
		return refuse("%s would compare %s pairs of elements; one call may compare at most %s", fnName(fn), grouped(work), grouped(maxCallWork))
	}
	return nil
}

func checkPairs(fn string, args []ref.Val) ref.Val {
	if len(args) != 2 {
		return nil
	}
	if work := satMul(listSize(args[0]), listSize(args[1])); work > maxCallWork {
		return refuse("%s would compare %s pairs of elements; one call may compare at most %s", fnName(fn), grouped(work), grouped(maxCallWork))
	}
	return nil
}

func satMul(a, b uint64) uint64 {
	if a != 0 && b > math.MaxUint64/a {
		return math.MaxUint64
	}
	return a * b
}

// matches implements both `matches` overloads: it compiles each pattern
// once (up to a bounded cache) and refuses a pattern longer than
// maxPatternBytes, or a match whose text length times program size passes
// maxCallWork (Go's regexp is linear in the text, with a factor up to the
// program's size).
func matches(args ...ref.Val) ref.Val {
	if len(args) != 2 {
		return decls.MaybeNoSuchOverload("matches", args...)
	}
	s, ok1 := args[0].(types.String)
	p, ok2 := args[1].(types.String)
	if !ok1 || !ok2 {
		return decls.MaybeNoSuchOverload("matches", args...)
	}
	if len(p) > maxPatternBytes {
		return refuse("matches would compile a pattern of %s bytes; one call may compile at most %s", grouped(uint64(len(p))), grouped(maxPatternBytes))
	}
	re, insts, err := regexes.compile(string(p))
	if err != nil {
		return types.WrapErr(err)
	}
	if work := satMul(uint64(len(s)), uint64(insts)); work > maxCallWork {
		return refuse("matches would run a pattern of %d instructions over %s bytes (%s steps); one call may take at most %s",
			insts, grouped(uint64(len(s))), grouped(work), grouped(maxCallWork))
	}
	return types.Bool(re.MatchString(string(s)))
}

// regexCache holds compiled patterns, shared by every Engine.
type regexCache struct {
	mu    gosync.Mutex
	m     map[string]cachedRegex
	insts int // of the programs in m
}

type cachedRegex struct {
	re    *regexp.Regexp
	insts int
}

// maxCachedInsts bounds the regex cache by the total size of its programs
// (a few megabytes); once full, patterns are compiled on every call.
const maxCachedInsts = 200_000

var regexes = &regexCache{m: map[string]cachedRegex{}}

// compile returns pattern compiled, and the size of its program.
func (c *regexCache) compile(pattern string) (*regexp.Regexp, int, error) {
	c.mu.Lock()
	hit, ok := c.m[pattern]
	c.mu.Unlock()
	if ok {
		return hit.re, hit.insts, nil
	}
	if !utf8.ValidString(pattern) {
		return nil, 0, fmt.Errorf("invalid pattern: not UTF-8")
	}
	parsed, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, 0, err
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return nil, 0, err
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, 0, err
	}
	insts := len(prog.Inst)
	c.mu.Lock()
	if _, ok := c.m[pattern]; !ok && c.insts+insts <= maxCachedInsts {
		c.m[pattern] = cachedRegex{re: re, insts: insts}
		c.insts += insts
	}
	c.mu.Unlock()
	return re, insts, nil
}

// sizeCosts charges calls that CEL dispatches at run time (their argument
// types were dyn when checked) by size, as CEL charges the same calls when
// their types are known: without it `resource.text + resource.text` costs
// 1 whatever the text's length.
type sizeCosts struct{}

// CallCost implements interpreter.ActualCostEstimator.
func (sizeCosts) CallCost(function, overloadID string, args []ref.Val, _ ref.Val) *uint64 {
	if overloadID != "" || len(args) != 2 {
		return nil
	}
	a, ok1 := byteSize(args[0])
	b, ok2 := byteSize(args[1])
	if !ok1 || !ok2 {
		return nil
	}
	var n uint64
	switch function {
	case "_+_":
		n = a + b
	case "_<_", "_<=_", "_>_", "_>=_":
		n = min(a, b)
	default:
		return nil
	}
	c := uint64(math.Ceil(float64(n) * 0.1))
	c = max(c, 1)
	return &c
}
