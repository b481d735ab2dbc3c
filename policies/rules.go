package policies

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Match values of a state.Rule: what its expression runs on. They are
// state.MatchResource and state.MatchChange, named here for callers of
// this package.
const (
	// MatchResource runs the expression once per resource of the desired
	// state, with the variables `resource` and `env`.
	MatchResource = state.MatchResource
	// MatchChange runs the expression once per change, with the variables
	// `change` and `env`.
	MatchChange = state.MatchChange
)

// RuleError is one problem with one user rule.
//
// Invariant: Rule is the rule's name (possibly empty when the name is the
// problem); Err is never nil.
type RuleError struct {
	Rule   string
	Origin state.Origin
	Err    error
}

// Error renders "file:line: rule NAME: problem".
func (e *RuleError) Error() string {
	prefix := ""
	if o := e.Origin.String(); o != "" {
		prefix = o + ": "
	}
	return fmt.Sprintf("%srule %q: %v", prefix, e.Rule, e.Err)
}

// Unwrap returns the underlying problem.
func (e *RuleError) Unwrap() error { return e.Err }

// CompileError holds every problem Compile found, in rule order.
//
// Invariant: Problems is non-empty.
type CompileError struct{ Problems []*RuleError }

// Error lists the problems, one a line.
func (e *CompileError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return fmt.Sprintf("invalid policy rules (%d problems):\n%s", len(lines), strings.Join(lines, "\n"))
}

// Unwrap returns the problems, for errors.Is and errors.As.
func (e *CompileError) Unwrap() []error {
	out := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = p
	}
	return out
}

// Sentinel errors a RuleError wraps, for callers that classify problems.
var (
	// ErrInvalidRule marks a problem with a rule's fields (name, severity,
	// match, kinds, duplicate names).
	ErrInvalidRule = errors.New("invalid rule")
	// ErrExpression marks a CEL expression that does not parse or type-check,
	// or does not return bool.
	ErrExpression = errors.New("invalid expression")
)

// Engine evaluates the built-in guardrails and a set of compiled user rules.
// A nil *Engine evaluates the built-in guardrails only. An Engine is
// immutable after Compile and safe for concurrent use.
type Engine struct {
	rules         []*compiled // declaration order
	resourceRules []*compiled
	changeRules   []*compiled
	adapter       types.Adapter
	limits        Limits // defaults filled in
}

// compiled is a user rule ready to evaluate.
type compiled struct {
	idx     int // position in Engine.rules
	rule    state.Rule
	code    string
	prg     cel.Program
	kinds   map[string]bool // nil: every kind
	message []messagePart
}

// messagePart is literal text, or a placeholder when prg is set.
type messagePart struct {
	text string
	prg  cel.Program
}

// celEnv is a CEL environment with the program options every program of it
// takes.
type celEnv struct {
	*cel.Env
	prgOpts []cel.ProgramOption
}

// newEnv builds the CEL environment for one match kind. Variables are
// dynamic maps; numbers compare across int and double. Programs stop at
// limits.evalCap() cost units, look at their context every interruptEvery
// comprehension iterations, and run the call guards of guard.go.
func newEnv(match string, limits Limits) (*celEnv, error) {
	mapType := cel.MapType(cel.StringType, cel.DynType)
	opts := []cel.EnvOption{
		cel.Variable("env", mapType),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Lists(),
		ext.Sets(),
	}
	if match == MatchChange {
		opts = append(opts, cel.Variable("change", mapType))
	} else {
		opts = append(opts, cel.Variable("resource", mapType))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("create cel environment: %w", err)
	}
	guards, err := guardDecorator(env)
	if err != nil {
		return nil, fmt.Errorf("create cel environment: %w", err)
	}
	// Not cel.OptOptimize: it would precompile constant regexes into
	// matchers that bypass the bounded `matches` of guard.go.
	return &celEnv{Env: env, prgOpts: []cel.ProgramOption{
		guards,
		cel.CostLimit(limits.evalCap()),
		cel.CostTracking(sizeCosts{}),
		cel.InterruptCheckFrequency(interruptEvery),
	}}, nil
}

// Compile checks the user rules and compiles each once. It reports every
// problem at once (as a *CompileError of *RuleError, each naming the rule
// and its Origin) and then also returns an Engine of the built-in
// guardrails and the rules that did compile, so that a caller can report
// their findings in the same run; such an Engine is not the policy in
// force and must not gate an apply. Compile(nil) returns an Engine
// with the built-in guardrails only. An empty Severity means Deny and an
// empty Match means MatchResource. Options set the Limits of evaluation
// (WithLimits).
func Compile(rules []state.Rule, opts ...Option) (*Engine, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	limits := o.limits.withDefaults()
	envs := map[string]*celEnv{}
	for _, m := range []string{MatchResource, MatchChange} {
		env, err := newEnv(m, limits)
		if err != nil {
			return nil, err
		}
		envs[m] = env
	}
	e := &Engine{adapter: envs[MatchResource].CELTypeAdapter(), limits: limits}
	var problems []*RuleError
	report := func(r state.Rule, sentinel error, format string, args ...any) {
		problems = append(problems, &RuleError{Rule: r.Name, Origin: r.Origin,
			Err: fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))})
	}
	seen := map[string]state.Origin{}
	for _, r := range rules {
		bad := len(problems)
		switch {
		case r.Name == "":
			report(r, ErrInvalidRule, "name is empty")
		case strings.ContainsAny(r.Name, " \t\n"):
			report(r, ErrInvalidRule, "name must not contain white space")
		default:
			if first, dup := seen[r.Name]; dup {
				where := ""
				if first.String() != "" {
					where = " (first at " + first.String() + ")"
				}
				report(r, ErrInvalidRule, "name is used by another rule%s", where)
			}
			seen[r.Name] = r.Origin
		}
		if r.Severity == "" {
			r.Severity = Deny
		}
		if !r.Severity.Valid() {
			report(r, ErrInvalidRule, "severity %q is not %q or %q", r.Severity, Deny, Warn)
		}
		if r.Match == "" {
			r.Match = MatchResource
		}
		env, ok := envs[r.Match]
		if !ok {
			report(r, ErrInvalidRule, "match %q is not %q or %q", r.Match, MatchResource, MatchChange)
			env = envs[MatchResource]
		}
		var kinds map[string]bool
		for _, k := range r.Kinds {
			if !knownKinds[k] {
				report(r, ErrInvalidRule, "kind %q is unknown (known: %s)", k, strings.Join(state.SortedKeys(knownKinds), ", "))
				continue
			}
			if kinds == nil {
				kinds = map[string]bool{}
			}
			kinds[k] = true
		}
		if kinds[ResourceZnode] {
			kinds[ResourceConfigEntry] = true
		}
		c := &compiled{idx: len(e.rules), rule: r, code: UserCodePrefix + r.Name, kinds: kinds}
		if strings.TrimSpace(r.Expression) == "" {
			report(r, ErrExpression, "expression is empty")
		} else if prg, errs := compileExpr(env, r.Expression, true); len(errs) > 0 {
			for _, err := range errs {
				report(r, ErrExpression, "%s", err)
			}
		} else {
			c.prg = prg
		}
		parts, errs := compileMessage(env, r.Message)
		for _, err := range errs {
			report(r, ErrExpression, "in message: %s", err)
		}
		c.message = parts
		if len(problems) > bad {
			continue
		}
		e.rules = append(e.rules, c)
		if r.Match == MatchChange {
			e.changeRules = append(e.changeRules, c)
		} else {
			e.resourceRules = append(e.resourceRules, c)
		}
	}
	if len(problems) > 0 {
		return e, &CompileError{Problems: problems}
	}
	return e, nil
}

// compileExpr parses, type-checks and plans one expression. With wantBool,
// the result type must be bool or dyn (a dyn result is checked when
// evaluated).
func compileExpr(env *celEnv, expr string, wantBool bool) (cel.Program, []string) {
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		var errs []string
		for _, e := range iss.Errors() {
			errs = append(errs, fmt.Sprintf("%d:%d: %s", e.Location.Line(), e.Location.Column()+1, e.Message))
		}
		return nil, errs
	}
	if wantBool {
		if t := ast.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
			return nil, []string{fmt.Sprintf("returns %s, want bool", t)}
		}
	}
	prg, err := env.Program(ast, env.prgOpts...)
	if err != nil {
		return nil, []string{err.Error()}
	}
	return prg, nil
}

// compileMessage splits a message into literal text and {{ expr }}
// placeholders, compiling each placeholder.
func compileMessage(env *celEnv, msg string) ([]messagePart, []string) {
	var parts []messagePart
	var errs []string
	for {
		i := strings.Index(msg, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(msg[i+2:], "}}")
		if j < 0 {
			errs = append(errs, fmt.Sprintf("placeholder at %q has no closing }}", msg[i:]))
			break
		}
		if i > 0 {
			parts = append(parts, messagePart{text: msg[:i]})
		}
		expr := strings.TrimSpace(msg[i+2 : i+2+j])
		prg, perrs := compileExpr(env, expr, false)
		for _, e := range perrs {
			errs = append(errs, fmt.Sprintf("placeholder {{%s}}: %s", expr, e))
		}
		parts = append(parts, messagePart{text: msg[i : i+2+j+2], prg: prg})
		msg = msg[i+2+j+2:]
	}
	if msg != "" {
		parts = append(parts, messagePart{text: msg})
	}
	return parts, errs
}

// Evaluate runs the built-in guardrails and the compiled user rules over a
// change set: resource checks on every object of cs.To (the desired state),
// change checks on every change of cs.Changes. For validation without a
// live side, pass diff.Compute of an empty state to the desired one.
//
// The result is sorted deny first, then by Object, Code and Message, without
// duplicates. A user rule that fails to evaluate yields a Deny finding; it
// never panics. A nil cs yields no findings; a nil cs.To is an empty state.
//
// The user rules run within the Engine's Limits: a rule that spends its
// budget, or one call the guards refuse, is stopped and yields one Deny
// finding (Object RuleID(name)) while the other rules go on; when the rules
// together spend the total budget or the time limit passes, every rule
// stops and each that had objects left yields one. When ctx ends, Evaluate
// returns promptly (within interruptEvery comprehension iterations and one
// bounded call, and at most abandonAfter) with no findings and an error
// that wraps ctx.Err() (and its cause).
func (e *Engine) Evaluate(ctx context.Context, cs *diff.ChangeSet) ([]Finding, error) {
	if ctx.Err() != nil {
		return nil, stopError(ctx)
	}
	if cs == nil {
		return nil, nil
	}
	to := cs.To
	if to == nil {
		to = state.New("")
	}
	c := &collector{}
	checkResources(to, c)
	checkChanges(cs, to, c)
	if e != nil && len(e.rules) > 0 {
		fs, err := e.evalUser(ctx, cs, to)
		if err != nil {
			return nil, err
		}
		c.fs = append(c.fs, fs...)
	}
	return sortFindings(c.fs), nil
}

// evalUser runs the user rules in a goroutine, so that Evaluate can return
// when ctx ends or the time limit passes even while a CEL call is running.
func (e *Engine) evalUser(ctx context.Context, cs *diff.ChangeSet, to *state.State) ([]Finding, error) {
	rctx, cancel := context.WithTimeoutCause(ctx, e.limits.Time, errTimeLimit)
	defer cancel()
	r := &run{e: e, ctx: ctx, rctx: rctx, limits: e.limits, rules: make([]ruleRun, len(e.rules))}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				r.mu.Lock()
				r.panicked = fmt.Errorf("policy evaluation panicked: %v", p)
				r.mu.Unlock()
			}
		}()
		r.work(cs, to)
	}()
	select {
	case <-done:
	case <-rctx.Done():
		t := time.NewTimer(abandonAfter)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
	}
	if ctx.Err() != nil {
		r.finish()
		return nil, stopError(ctx)
	}
	return r.finish()
}

// work evaluates every rule on every object it applies to, in object
// order, as admit allows.
func (r *run) work(cs *diff.ChangeSet, to *state.State) {
	e := r.e
	envVal := e.adapter.NativeToValue(envValue(to))
	objs := &objects{adapter: e.adapter, byKey: map[any]*object{}}
	if len(e.resourceRules) > 0 {
		for _, res := range resources(to) {
			var vars map[string]any
			for _, rule := range e.resourceRules {
				if rule.kinds != nil && !rule.kinds[res.kind] {
					continue
				}
				ok, quit := r.admit(rule)
				if quit {
					return
				}
				if !ok {
					continue
				}
				if vars == nil {
					vars = map[string]any{"resource": objs.get(res.shape, res.src), "env": envVal}
				}
				r.evaluate(rule, vars, res.id, res.origin)
			}
		}
	}
	if len(e.changeRules) > 0 {
		for _, ch := range cs.Changes {
			var vars map[string]any
			before, after, manifestKind := objs.sides(ch)
			for _, rule := range e.changeRules {
				if rule.kinds != nil && !rule.kinds[ch.ObjectKind()] && !rule.kinds[manifestKind] {
					continue
				}
				ok, quit := r.admit(rule)
				if quit {
					return
				}
				if !ok {
					continue
				}
				if vars == nil {
					obj := newObject(changeShape, &change{ch: ch, before: before, after: after}, e.adapter)
					vars = map[string]any{"change": obj, "env": envVal}
				}
				r.evaluate(rule, vars, ch.ID(), ch.Origin())
			}
		}
	}
}

// eval runs a program, turning panics and error values into errors, and
// returns what it cost in CEL cost units.
func eval(ctx context.Context, prg cel.Program, vars map[string]any) (out ref.Val, cost uint64, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("evaluation panicked: %v", p)
		}
	}()
	out, det, err := prg.ContextEval(ctx, vars)
	if det != nil {
		if c := det.ActualCost(); c != nil {
			cost = *c
		}
	}
	if err != nil {
		return nil, cost, err
	}
	if types.IsError(out) {
		return nil, cost, fmt.Errorf("%v", out)
	}
	return out, cost, nil
}

// render fills a failed rule's message; an empty message gets a default.
// It returns what the placeholders cost, counting a unit per ten bytes of
// their text; each placeholder's text is clipped to maxPlaceholder bytes.
func (c *compiled) render(ctx context.Context, vars map[string]any, object string) (string, uint64) {
	if len(c.message) == 0 {
		return fmt.Sprintf("%s violates rule %s", object, c.rule.Name), 0
	}
	var b strings.Builder
	var total uint64
	for _, p := range c.message {
		if p.prg == nil {
			b.WriteString(p.text)
			continue
		}
		v, cost, err := eval(ctx, p.prg, vars)
		total = satAdd(total, cost)
		if err != nil {
			fmt.Fprintf(&b, "<%s: %s>", strings.TrimSuffix(strings.TrimPrefix(p.text, "{{"), "}}"), clip(err.Error(), maxErrorText))
			continue
		}
		text := formatValue(v)
		total = satAdd(total, uint64(len(text)/10))
		b.WriteString(clip(text, maxPlaceholder))
	}
	return b.String(), total
}

// formatValue renders a CEL value for a message: strings bare, everything
// else as JSON when it encodes, else with fmt.
func formatValue(v ref.Val) string {
	switch v := v.(type) {
	case types.String:
		return string(v)
	case types.Null:
		return "null"
	}
	if b, err := json.Marshal(nativeOf(v)); err == nil {
		return string(b)
	}
	return fmt.Sprint(v.Value())
}

// Rules returns the user rules the Engine holds, in declaration order, each
// with its defaults filled in (Severity, Match).
func (e *Engine) Rules() []state.Rule {
	if e == nil {
		return nil
	}
	var out []state.Rule
	for _, c := range e.rules {
		out = append(out, c.rule)
	}
	return out
}
