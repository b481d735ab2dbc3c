package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	rmsync "github.com/ringmaster-io/ringmaster/sync"

	"github.com/ringmaster-io/ringmaster/agent"
	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/reposource"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/policies"
	"github.com/ringmaster-io/ringmaster/render"
)

// runDiff shows the change of an environment between two revisions, with
// policy findings. Exit codes: 0 no changes (or changes without
// --detailed-exitcode), 2 changes with --detailed-exitcode, 1 error or a
// policy deny.
func runDiff(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("diff", "diff --env ENV [--from REF] [--to REF] [-o text|json|markdown] [--detailed-exitcode]", stdout, stderr)
	var rf repoFlags
	var cf clusterFlags
	rf.register(c.fs, false)
	from := c.fs.String("from", "", "older revision: branch, tag or commit (e.g. origin/main); without it, diff against the live cluster")
	to := c.fs.String("to", "", "newer revision (default: the directory as it is on disk)")
	output := c.fs.String("o", "text", "output: text, json or markdown")
	detailed := c.fs.Bool("detailed-exitcode", false, "exit 0 when there are no changes, 2 when there are, 1 on error")
	withAgents := c.fs.Bool("agents", false, "live diff: add the node settings that node agents report running otherwise than the manifests say (RM-DRIFT)")
	color := c.fs.String("color", "auto", "colour text output: auto, always or never")
	maxBytes := c.fs.Int("max-bytes", 60000, "markdown: cap on the output size, at least 1024 (PR comments have a limit)")
	cf.register(c.fs, useZK|useCassandra) // the live diff (no --from) only
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	if rf.env == "" {
		return c.usageError("--env is required")
	}
	encode, ok := map[string]diff.Encoder{
		"text": diff.EncodeText, "json": diff.EncodeJSON, "markdown": diff.EncodeMarkdown,
	}[*output]
	if !ok {
		return c.usageError("-o %q: want text, json or markdown", *output)
	}
	if err := oneOf("--color", *color, "auto", "always", "never"); err != nil {
		return c.usageError("%v", err)
	}
	if *maxBytes < 1024 {
		return c.usageError("--max-bytes %d: want at least 1024", *maxBytes)
	}
	if err := cf.check(); err != nil {
		return c.usageError("%v", err)
	}
	if *withAgents && *from != "" {
		return c.usageError("--agents is for the live diff (what the nodes run): not with --from")
	}
	if *from == "" {
		rf.ref = *to
		return liveDiff(ctx, rf, &cf, encode, diff.EncodeOptions{MaxBytes: *maxBytes, Color: useColor(*color, stdout)}, *detailed, *withAgents, stdout, stderr)
	}
	src, err := openSource(ctx, rf)
	if err != nil {
		printProblems(stderr, err)
		return exitError
	}
	older, err := src.Revision(ctx, *from)
	var fromState *state.State
	switch {
	case isMissingRepo(err):
		// The repository was not a ringmaster repository yet: everything is new.
	case err != nil:
		fmt.Fprintf(stderr, "ringmaster diff: --from %s:\n", *from)
		printProblems(stderr, err)
		return exitError
	default:
		t, err := older.Target(ctx, rf.env)
		if err != nil && !errors.Is(err, render.ErrUnknownEnvironment) {
			fmt.Fprintf(stderr, "ringmaster diff: --from %s does not render:\n", *from)
			printProblems(stderr, err)
			return exitError
		}
		if t != nil && err == nil {
			fromState = t.Desired
		}
	}
	newer, err := src.Revision(ctx, *to)
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster diff: --to %s:\n", refLabel(*to))
		printProblems(stderr, err)
		return exitError
	}
	ev, err := checkRevision(ctx, newer, rf.env, fromState)
	if err != nil {
		printProblems(stderr, err)
		return exitError
	}
	title := fmt.Sprintf("%s: %s → %s", rf.env, revisionLabel(older, *from), newer.Snapshot.Revision)
	opts := diff.EncodeOptions{Title: title, Annotations: annotations(ev.Findings), MaxBytes: *maxBytes, Color: useColor(*color, stdout)}
	return finishDiff(rf.env, encode, ev.Changes, opts, ev.Findings, *detailed, stdout, stderr)
}

// finishDiff prints a change set and maps it to diff's exit code: 1 on an
// encoding error or a policy deny (the findings go to stderr), 2 for
// changes with --detailed-exitcode, else 0.
func finishDiff(env string, encode diff.Encoder, cs *diff.ChangeSet, opts diff.EncodeOptions, findings []policies.Finding, detailed bool, stdout, stderr io.Writer) int {
	if err := encode(stdout, cs, opts); err != nil {
		fmt.Fprintf(stderr, "ringmaster diff: %v\n", err)
		return exitError
	}
	if policies.Denied(findings) {
		printFindings(stderr, env, findings)
		fmt.Fprintln(stderr, "ringmaster diff: denied by policy")
		return exitError
	}
	if detailed && !cs.Empty() {
		return exitChanges
	}
	return exitOK
}

// revisionLabel names the --from revision in a diff's title.
func revisionLabel(r *reposource.Revision, ref string) string {
	if r == nil || r.Snapshot == nil {
		return ref + " (no ringmaster repository)"
	}
	return r.Snapshot.Revision
}

func refLabel(ref string) string {
	if ref == "" {
		return "working tree"
	}
	return ref
}

// useColor decides ANSI colour: always, never, or auto (stdout is a
// terminal and NO_COLOR is unset).
func useColor(mode string, w io.Writer) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// liveDiff is `diff --env ENV` without --from: desired against live.
func liveDiff(ctx context.Context, rf repoFlags, cf *clusterFlags, encode diff.Encoder, opts diff.EncodeOptions, detailed, withAgents bool, stdout, stderr io.Writer) int {
	target, d, live, ok := connectAndRead(ctx, "diff", rf, cf, stderr)
	if !ok {
		return exitError
	}
	defer d.Close()
	ev, err := rmsync.Evaluate(ctx, live, target)
	if err != nil {
		printProblems(stderr, err)
		return exitError
	}
	opts.Title = fmt.Sprintf("%s: live (%s) → %s", rf.env, target.Root(), target.Revision)
	var nodeDrift map[string][]diff.Annotation
	if withAgents {
		members, err := agent.ReadMembers(ctx, d.ZK, target.Root())
		if err != nil {
			fmt.Fprintf(stderr, "ringmaster diff: %v\n", err)
			return exitError
		}
		nodeDrift = agentDrift(members)
	}
	opts.Annotations = mergeAnnotations(annotations(ev.Findings), ev.Drift, skippedAnnotations(ev.Skipped), nodeDrift)
	code := finishDiff(rf.env, encode, ev.Changes, opts, ev.Findings, detailed, stdout, stderr)
	if code == exitOK && detailed && len(nodeDrift) > 0 {
		return exitChanges // the nodes differ from the manifests
	}
	return code
}

// agentDrift are the node settings that agents report not running as the
// manifests say (changed by hand, or refused), keyed
// setting/<node>/<name>: RM-DRIFT findings that name no change.
func agentDrift(members []agent.Member) map[string][]diff.Annotation {
	out := map[string][]diff.Annotation{}
	for _, m := range members {
		for name, r := range m.Results {
			if r.Result != agent.Drifted && r.Result != agent.Failed {
				continue
			}
			id := fmt.Sprintf("setting/%s/%s", m.Node, name)
			out[id] = append(out[id], diff.Annotation{Code: rmsync.CodeDrift, Severity: diff.SeverityInfo,
				Message: fmt.Sprintf("node %s (%s/%s), reported by its agent: %s %s: %s", m.Node, m.Datacenter, m.Rack, name, r.Result, r.Message)})
		}
	}
	return out
}
