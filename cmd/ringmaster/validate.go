package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ringmaster-io/ringmaster/policies"
)

// runValidate checks every environment (or --env): manifests, rendering and
// policies. Exit 1 on any error or deny, 0 otherwise (warnings print).
func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate", stderr)
	var rf repoFlags
	rf.register(fs, true)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	src, rev, err := openRevision(ctx, rf.repo, rf.ref)
	if err != nil {
		printProblems(stderr, err)
		return exitError
	}
	envs := rev.repo.Environments
	if rf.env != "" {
		envs = []string{rf.env}
	}
	failed := false
	var denies, warns int
	for _, env := range envs {
		ev, _, err := renderAndCheck(rev.repo, env, nil)
		if err != nil {
			printProblems(stderr, err)
			failed = true
			continue
		}
		printFindings(stderr, env, ev.findings)
		for _, f := range ev.findings {
			if f.Severity == policies.Deny {
				denies++
			} else {
				warns++
			}
		}
	}
	if failed || denies > 0 {
		fmt.Fprintf(stderr, "validate: %s at %s: failed (%d denied, %d warnings)\n", src.Location(), rev.snapshot.Revision, denies, warns)
		return exitError
	}
	fmt.Fprintf(stdout, "validate: %s at %s: %d environment(s) valid (%d warnings)\n", src.Location(), rev.snapshot.Revision, len(envs), warns)
	return exitOK
}
