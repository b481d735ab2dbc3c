package sync

import (
	"context"
	"errors"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/policies"
)

// Source renders an environment of the configuration repository at a
// revision into a Target: the desired state, the policy rules in force,
// the commit. The CLI and the controller read the repository through it.
//
// Contract: ref "" is the source's default revision (a folder as it is on
// disk, or the followed branch's head). Problems located in the manifests
// (file:line) come back joined in the error, all of them, with the Target
// of what did render when there is one: it may be checked, to report
// every problem in one run, and must never be applied.
type Source interface {
	Target(ctx context.Context, ref, env string) (*Target, error)
}

// Check evaluates the change from `from` (nil: an empty cluster) to
// target, as validate and a diff between two revisions do: the changes and
// the policy findings. It goes as far as it can: rules that do not compile
// are reported in the error (a *policies.CompileError) while the others
// are still evaluated, so that one run reports everything. With an error
// the Evaluation, when not nil, must not be applied.
func Check(ctx context.Context, from *state.State, target *Target) (*Evaluation, error) {
	if from == nil {
		from = state.New(target.Desired.Environment)
		from.Cluster = target.Desired.Cluster
	}
	ev, compileErr, err := evaluate(ctx, from, target, diff.Options{})
	if err != nil {
		return nil, err
	}
	return ev, compileErr
}

// evaluate is the evaluation Check and Evaluate share: the change from
// `from` to target and the findings of every rule that compiled; a rule
// that did not is reported in compileErr.
func evaluate(ctx context.Context, from *state.State, target *Target, opts diff.Options) (ev *Evaluation, compileErr, err error) {
	engine, compileErr := policies.Compile(target.Rules)
	var ce *policies.CompileError
	if compileErr != nil && !errors.As(compileErr, &ce) {
		return nil, nil, compileErr
	}
	cs := diff.Compute(from, target.Desired, opts)
	ev = &Evaluation{Changes: cs, Drift: map[string][]diff.Annotation{}, Skipped: map[string]string{}}
	if engine != nil {
		if ev.Findings, err = engine.Evaluate(ctx, cs); err != nil {
			return nil, nil, err
		}
	}
	return ev, compileErr, nil
}
