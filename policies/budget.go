package policies

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Limits bound the work of the user rules in one Evaluate call, so that no
// rule set and no input can stall validate, diff, plan or apply. CEL cost
// units are cel-go's measure of work: about one per operation, list element
// visited or ten bytes of a string scanned or built.
//
// A rule that uses up RuleCost is stopped and reported by one deny finding;
// the other rules go on. When the rules together use up TotalCost, or Time
// has passed, every rule is stopped and each rule that had objects left
// gets one deny finding. The cost limits are deterministic: the same input
// gives the same findings on every machine. Time is a backstop for work
// CEL's cost model underrates; it is measured on the wall clock.
//
// A zero field takes its default (DefaultRuleCost, DefaultTotalCost,
// DefaultTime).
type Limits struct {
	// RuleCost is what one rule may spend over one Evaluate call: on every
	// object it runs on, message placeholders included. It also caps a single
	// evaluation, so a rule stops within twice its budget.
	RuleCost uint64
	// TotalCost is what the user rules may spend together over one Evaluate
	// call.
	TotalCost uint64
	// Time bounds the wall time of the user rules in one Evaluate call.
	Time time.Duration
	// Raise, when set, tells the user how to raise the limits (for example
	// "raise it with --policy-budget"); it ends the message of every
	// finding a spent limit produces.
	Raise string
}

// Default limits. Cost is measured with cel-go's cost model, charging
// evalBaseCost more for every evaluation, so a million trivial
// evaluations are bounded too. On the project's two-core machine a
// million units of comprehensions take 0.15 to 0.25 s, and the
// 10,000-object benchmark with four rules spends about 200,000 units in
// 75 ms. A command evaluates once per environment, so the defaults keep
// one evaluation to about half a second.
const (
	DefaultRuleCost  uint64        = 1_000_000
	DefaultTotalCost uint64        = 2_000_000
	DefaultTime      time.Duration = 500 * time.Millisecond
)

// evalBaseCost is charged for every evaluation on top of its CEL cost: the
// fixed work of setting one up (about a microsecond), which CEL does not
// count.
const evalBaseCost = 5

// interruptEvery is how many comprehension iterations CEL runs between
// looks at the context.
const interruptEvery = 64

// abandonAfter is how long Evaluate waits, once its context is done or its
// time is up, for the evaluating goroutine to notice before it returns
// without it. The goroutine stops at its next check; a single CEL call
// cannot be interrupted, but each is bounded (see guard.go).
const abandonAfter = 100 * time.Millisecond

// withDefaults fills in zero fields.
func (l Limits) withDefaults() Limits {
	if l.RuleCost == 0 {
		l.RuleCost = DefaultRuleCost
	}
	if l.TotalCost == 0 {
		l.TotalCost = DefaultTotalCost
	}
	if l.Time <= 0 {
		l.Time = DefaultTime
	}
	return l
}

// evalCap is the cost limit of a single evaluation.
func (l Limits) evalCap() uint64 { return min(l.RuleCost, l.TotalCost) }

// Option configures Compile.
type Option func(*options)

type options struct{ limits Limits }

// WithLimits sets the limits of every Evaluate call of the Engine; zero
// fields keep their defaults.
func WithLimits(l Limits) Option {
	return func(o *options) { o.limits = l }
}

// RuleID is the object ID of a finding about a user rule as a whole (a
// spent budget): "rule/<name>".
func RuleID(name string) string { return "rule/" + name }

// errTimeLimit is the cause of an evaluation run's own deadline.
var errTimeLimit = errors.New("policy evaluation time limit")

// stopReason says why a whole run stopped evaluating.
type stopReason int

const (
	running stopReason = iota
	stopTotalCost
	stopTime
)

// ruleRun is what one rule did in one run.
type ruleRun struct {
	spent     uint64
	took      time.Duration
	checked   int    // objects fully evaluated
	unchecked int    // objects it applied to but was not evaluated on
	stopped   bool   // stopped by its own budget or a refused call
	at        string // object it was stopped on, or after
	cut       bool   // stopped during its evaluation on at
	why       string // what stopped it, when not its budget
}

// run is one Evaluate call's evaluation of the user rules. The evaluating
// goroutine and Evaluate share it under mu.
type run struct {
	e      *Engine
	ctx    context.Context // the caller's
	rctx   context.Context // ctx plus the time limit
	limits Limits

	mu        gosync.Mutex
	spent     uint64
	stop      stopReason
	abandoned bool  // Evaluate returned: the goroutine must quit
	panicked  error // the goroutine panicked
	rules     []ruleRun
	fs        []Finding
}

// stopError is the error Evaluate returns when its context ends.
func stopError(ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("policy evaluation stopped: %w: %w", err, cause)
	}
	return fmt.Errorf("policy evaluation stopped: %w", err)
}

// admit tells whether rule should be evaluated on the next object, and
// counts the object as unchecked when it should not. quit is true when the
// goroutine must return at once.
func (r *run) admit(rule *compiled) (ok, quit bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.abandoned || r.ctx.Err() != nil {
		return false, true
	}
	if r.stop == running && r.rctx.Err() != nil {
		r.stop = stopTime
	}
	st := &r.rules[rule.idx]
	if st.stopped || r.stop != running {
		st.unchecked++
		return false, false
	}
	return true, false
}

// charge books the cost and time of one evaluation and stops the rule or
// the run when a budget is spent. It must be called with mu held.
func (r *run) charge(rule *compiled, cost uint64, took time.Duration, object string) {
	st := &r.rules[rule.idx]
	st.spent = satAdd(st.spent, cost)
	st.took += took
	r.spent = satAdd(r.spent, cost)
	if st.spent >= r.limits.RuleCost && !st.stopped {
		st.stopped, st.at = true, object
	}
	if r.spent >= r.limits.TotalCost && r.stop == running {
		r.stop = stopTotalCost
	}
}

// evaluate runs one rule on one object and records the outcome.
func (r *run) evaluate(rule *compiled, vars map[string]any, object string, origin state.Origin) {
	start := time.Now()
	out, cost, err := eval(r.rctx, rule.prg, vars)
	cost = satAdd(cost, evalBaseCost)
	var f *Finding
	var why string
	switch {
	case r.rctx.Err() != nil && errors.Is(err, interpreter.InterruptError{}):
		// Interrupted: the object is not checked; admit stops the run.
		r.mu.Lock()
		defer r.mu.Unlock()
		if !r.abandoned {
			r.charge(rule, cost, time.Since(start), object)
			r.rules[rule.idx].unchecked++
		}
		return
	case tooCostly(err, &why):
		r.mu.Lock()
		defer r.mu.Unlock()
		if !r.abandoned {
			r.charge(rule, cost, time.Since(start), object)
			st := &r.rules[rule.idx]
			st.stopped, st.at, st.cut, st.why = true, object, true, why
			st.unchecked++
		}
		return
	}
	if err == nil {
		b, ok := out.(types.Bool)
		switch {
		case !ok:
			err = fmt.Errorf("expression returned %s, want bool", out.Type().TypeName())
		case b == types.False:
			msg, mcost := rule.render(r.rctx, vars, object)
			cost = satAdd(cost, mcost)
			f = &Finding{Code: rule.code, Rule: rule.rule.Name, Severity: rule.rule.Severity, Object: object, Origin: origin, Message: msg}
		}
	}
	if err != nil {
		f = &Finding{
			Code: rule.code, Rule: rule.rule.Name, Severity: Deny, Object: object, Origin: rule.rule.Origin,
			Message: fmt.Sprintf("rule %s%s failed to evaluate on %s: %s", rule.rule.Name, where(rule.rule.Origin), object, clip(err.Error(), maxErrorText)),
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.abandoned {
		return
	}
	r.charge(rule, cost, time.Since(start), object)
	r.rules[rule.idx].checked++
	if f != nil {
		r.fs = append(r.fs, *f)
	}
}

// tooCostly tells whether err means the evaluation was stopped for its
// cost (CEL's cost limit, or a call guard.go refused), and sets why to the
// refused call's explanation in the latter case.
func tooCostly(err error, why *string) bool {
	if err == nil {
		return false
	}
	var big *callTooBig
	if errors.As(err, &big) {
		*why = big.Error()
		return true
	}
	var cancelled interpreter.EvalCancelledError
	return errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded
}

// finish ends the run (the goroutine, if still going, must quit) and
// returns its findings: those of the rules, and one for each rule a limit
// kept from some of its objects.
func (r *run) finish() ([]Finding, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.abandoned = true
	if r.panicked != nil {
		return nil, r.panicked
	}
	if r.stop == running && r.rctx.Err() != nil && r.ctx.Err() == nil {
		// The time limit passed while the goroutine was inside one
		// evaluation and did not come back in time.
		r.stop = stopTime
	}
	fs := r.fs
	for _, rule := range r.e.rules {
		st := r.rules[rule.idx]
		if st.unchecked == 0 {
			continue
		}
		var msg string
		if st.stopped {
			msg = r.ruleStopMessage(rule, st)
		} else {
			msg = r.runStopMessage(rule, st)
		}
		if r.limits.Raise != "" {
			msg += "; " + r.limits.Raise
		}
		fs = append(fs, Finding{
			Code: rule.code, Rule: rule.rule.Name, Severity: Deny,
			Object: RuleID(rule.rule.Name), Origin: rule.rule.Origin, Message: msg,
		})
	}
	return fs, nil
}

// ruleStopMessage explains a rule its own budget or a refused call
// stopped.
func (r *run) ruleStopMessage(rule *compiled, st ruleRun) string {
	name := rule.rule.Name + where(rule.rule.Origin)
	checked := fmt.Sprintf("it was checked on %d of %d objects", st.checked, st.checked+st.unchecked)
	if st.why != "" {
		return fmt.Sprintf("rule %s was stopped on %s: %s; %s; make it cheaper", name, st.at, st.why, checked)
	}
	on := "on"
	if !st.cut {
		on = "after"
	}
	return fmt.Sprintf("rule %s was stopped %s %s: it used up its budget of %s CEL cost units for one evaluation run; %s; make it cheaper or narrow it with kinds",
		name, on, st.at, grouped(r.limits.RuleCost), checked)
}

// runStopMessage explains a rule the run's total budget or time limit
// stopped, naming the rules that spent the most.
func (r *run) runStopMessage(rule *compiled, st ruleRun) string {
	name := rule.rule.Name + where(rule.rule.Origin)
	order := slices.Clone(r.e.rules)
	var limit, most string
	if r.stop == stopTotalCost {
		limit = fmt.Sprintf("the user rules together used up the budget of one evaluation run, %s CEL cost units", grouped(r.limits.TotalCost))
		slices.SortStableFunc(order, func(a, b *compiled) int { return cmpDesc(r.rules[a.idx].spent, r.rules[b.idx].spent) })
		most = "most: " + topRules(order, func(c *compiled) string { return grouped(r.rules[c.idx].spent) })
	} else {
		limit = fmt.Sprintf("the user rules reached the time limit of one evaluation run, %s", r.limits.Time)
		slices.SortStableFunc(order, func(a, b *compiled) int { return cmpDesc(r.rules[a.idx].took, r.rules[b.idx].took) })
		most = "longest: " + topRules(order, func(c *compiled) string { return r.rules[c.idx].took.Round(time.Millisecond).String() })
	}
	return fmt.Sprintf("rule %s was checked on %d of %d objects only: %s (%s)", name, st.checked, st.checked+st.unchecked, limit, most)
}

// topRules lists the first three rules of order with a measure each.
func topRules(order []*compiled, measure func(*compiled) string) string {
	var parts []string
	for _, c := range order[:min(3, len(order))] {
		parts = append(parts, c.rule.Name+" "+measure(c))
	}
	return strings.Join(parts, ", ")
}

func cmpDesc[T int64 | uint64 | time.Duration](a, b T) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// where renders " (file:line)" for a known origin.
func where(o state.Origin) string {
	if s := o.String(); s != "" {
		return " (" + s + ")"
	}
	return ""
}

// grouped renders n with thousands separators: 1,000,000.
func grouped(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// satAdd adds without wrapping around.
func satAdd(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}

// Limits on the text a finding carries from an evaluation, so that a rule
// failing on ten thousand large objects cannot fill memory with messages.
const (
	maxErrorText   = 300
	maxPlaceholder = 300
)

// clip shortens s to at most n bytes (on a rune boundary), saying how long
// it was.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:cut], len(s))
}
