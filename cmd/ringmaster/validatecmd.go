package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ringmaster-io/ringmaster/policies"
	"github.com/ringmaster-io/ringmaster/render"
)

// runValidate checks every environment (or --env): manifests, rendering and
// policies, reporting every problem of every kind in one run, each once,
// and one summary line that counts errors, denies and warnings. Exit 1 on
// any error or deny, 0 otherwise (warnings print).
func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("validate", "validate [--repo DIR|URL] [--ref REF] [--env ENV]", stdout, stderr)
	var rf repoFlags
	rf.register(c.fs, true)
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	src, rev, err := openRevision(ctx, rf)
	if rev == nil || rev.Repo == nil {
		printProblems(stderr, err)
		if n := len(render.Problems(err)); n > 0 {
			fmt.Fprintf(stderr, "validate: failed: %d error(s)\n", n)
		}
		return exitError
	}
	r := &validateReport{w: stderr, seen: map[string]bool{}}
	r.problems(err)
	envs := rev.Repo.Environments
	if rf.env != "" {
		envs = []string{rf.env}
	}
	for _, env := range envs {
		ev, err := checkRevision(ctx, rev, env, nil)
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "ringmaster validate: stopped: %v\n", context.Cause(ctx))
			return exitError
		}
		r.problems(err)
		if ev != nil {
			r.findings(env, ev.Findings)
		}
	}
	where := fmt.Sprintf("%s at %s", src.Location(), rev.Snapshot.Revision)
	if r.errors > 0 || r.denies > 0 {
		fmt.Fprintf(stderr, "validate: %s: failed: %d error(s), %d denied, %d warning(s) in %d environment(s)\n", where, r.errors, r.denies, r.warns, len(envs))
		return exitError
	}
	fmt.Fprintf(stdout, "validate: %s: %d environment(s) valid: 0 errors, 0 denied, %d warning(s)\n", where, len(envs), r.warns)
	return exitOK
}

// validateReport prints problems and findings once each (an error in a
// base file is the same in every environment) and counts them.
type validateReport struct {
	w                     io.Writer
	seen                  map[string]bool
	errors, denies, warns int
}

// problems prints each problem of err not printed before.
func (r *validateReport) problems(err error) {
	if err == nil {
		return
	}
	for _, l := range problemLines(err) {
		if r.seen[l] {
			continue
		}
		r.seen[l] = true
		r.errors++
		fmt.Fprintln(r.w, l)
	}
}

// findings prints env's findings; a finding that every environment shares
// is printed for each, since its message names the environment.
func (r *validateReport) findings(env string, fs []policies.Finding) {
	for _, f := range fs {
		if f.Severity == policies.Deny {
			r.denies++
		} else {
			r.warns++
		}
	}
	printFindings(r.w, env, fs)
}

// problemLines splits an error into the lines it prints: each located
// problem from render, each rule problem from policies, each part of a
// joined error, or the message.
func problemLines(err error) []string {
	var list problemList
	if errors.As(err, &list) {
		var out []string
		for _, e := range list {
			out = append(out, problemLines(e)...)
		}
		return out
	}
	if ps := render.Problems(err); len(ps) > 0 {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.Error()
		}
		return out
	}
	var ce *policies.CompileError
	if errors.As(err, &ce) {
		out := make([]string, len(ce.Problems))
		for i, p := range ce.Problems {
			out[i] = p.Error()
		}
		return out
	}
	return []string{"ringmaster: " + err.Error()}
}

// problemList is several independent errors of one run (render problems
// and rule problems), printed one after the other.
type problemList []error

// joinProblems returns the non-nil errors as one problemList, or nil.
func joinProblems(errs ...error) error {
	var out problemList
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (l problemList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap returns the errors, for errors.Is and errors.As.
func (l problemList) Unwrap() []error { return l }
