package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/livestore"
	"github.com/ringmaster-io/ringmaster/policies"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// runPlan computes the change set against the live cluster and saves it.
func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("plan", "plan --env ENV -out FILE [--repo DIR|URL] [--ref REF]", stdout, stderr)
	var rf repoFlags
	var cf clusterFlags
	rf.register(c.fs, true)
	out := c.fs.String("out", "", "write the plan to this file")
	cf.register(c.fs, useZK|useCassandra)
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	switch {
	case rf.env == "" && *out == "":
		return c.usageError("--env and -out are required")
	case rf.env == "":
		return c.usageError("--env is required")
	case *out == "":
		return c.usageError("-out is required: the file to write the plan to")
	}
	if err := cf.check(); err != nil {
		return c.usageError("%v", err)
	}
	target, d, live, ok := connectAndRead(ctx, "plan", rf, &cf, stderr)
	if !ok {
		return exitError
	}
	defer d.Close()
	plan, ev, err := rmsync.NewPlan(ctx, live, target, d.Schema())
	if err != nil {
		printProblems(stderr, err)
		return exitError
	}
	printPlan(stdout, rf.env, target, ev)
	if !printACLDrift(ctx, stdout, stderr, "plan", d, target) {
		return exitError
	}
	if policies.Denied(ev.Findings) {
		printFindings(stderr, rf.env, ev.Findings)
		fmt.Fprintln(stderr, "ringmaster plan: denied by policy; no plan written")
		return exitError
	}
	if err := plan.Save(*out); err != nil {
		fmt.Fprintf(stderr, "ringmaster plan: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "\nPlan saved to %s. Apply it with: ringmaster apply %s\n", *out, *out)
	return exitOK
}

// printACLDrift says, under an ACL policy, how many znodes' ACLs differ
// from it (apply repairs them); false when they could not be read.
func printACLDrift(ctx context.Context, stdout, stderr io.Writer, cmd string, d *livestore.Drivers, target *rmsync.Target) bool {
	pol := target.Desired.Cluster.ACL
	if pol == nil {
		return true
	}
	drift, err := d.ACLs().Drift(ctx, target.Root(), pol)
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster %s: ACLs: %v\n", cmd, err)
		return false
	}
	if len(drift) > 0 {
		fmt.Fprintf(stdout, "\nACLs: %d znode(s) differ from the policy (acl show lists them); apply repairs them.\n", len(drift))
	}
	return true
}

func printPlan(w io.Writer, env string, target *rmsync.Target, ev *rmsync.Evaluation) {
	opts := diff.EncodeOptions{
		Title:       fmt.Sprintf("%s: live (%s) → %s", env, target.Root(), target.Revision),
		Annotations: mergeAnnotations(annotations(ev.Findings), ev.Drift, skippedAnnotations(ev.Skipped)),
		Color:       useColor("auto", w),
	}
	_ = diff.EncodeText(w, ev.Changes, opts)
}
