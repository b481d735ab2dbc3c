package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	gosync "sync"
	"text/tabwriter"
	"time"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/livestore"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
	"github.com/ringmaster-io/ringmaster/policies"
	"github.com/ringmaster-io/ringmaster/render"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

func init() {
	commands["plan"] = command{"compute the change set against the live cluster and save it (-out)", runPlan}
	commands["apply"] = command{"apply a saved plan, or plan, confirm and apply in one go", runApply}
	commands["status"] = command{"show the last applied and attempted revisions and the lock holder", runStatus}
	commands["lock"] = command{"lock list | lock release ID: inspect or free the apply lock", runLock}
}

// loadTarget renders the environment at the repository flags into a sync
// target, with the connection flags applied.
func loadTarget(ctx context.Context, rf repoFlags, cf *clusterFlags) (*rmsync.Target, error) {
	src, err := openSource(ctx, rf)
	if err != nil {
		return nil, err
	}
	target, err := src.Target(ctx, rf.ref, rf.env)
	if err != nil {
		return nil, err
	}
	cf.resolve(&target.Desired.Cluster)
	return target, nil
}

// connectAndRead renders the target, connects to its cluster and reads
// the live state. On failure it has printed why (prefixed with the command
// name) and the drivers are closed; otherwise the caller closes them.
func connectAndRead(ctx context.Context, name string, rf repoFlags, cf *clusterFlags, stderr io.Writer) (*rmsync.Target, *livestore.Drivers, *rmsync.Live, bool) {
	target, err := loadTarget(ctx, rf, cf)
	if err != nil {
		printProblems(stderr, err)
		return nil, nil, nil, false
	}
	d, err := cf.connect(ctx, target.Desired.Cluster)
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster %s: %v\n", name, err)
		return nil, nil, nil, false
	}
	live, err := rmsync.ReadLive(ctx, d.Tree(), d.Schema(), target.Desired.Environment, target.Root())
	if err != nil {
		d.Close()
		fmt.Fprintf(stderr, "ringmaster %s: %v\n", name, err)
		return nil, nil, nil, false
	}
	return target, d, live, true
}

// liveDiff is `diff --env ENV` without --from: desired against live.
func liveDiff(ctx context.Context, rf repoFlags, cf *clusterFlags, encode diff.Encoder, opts diff.EncodeOptions, detailed bool, stdout, stderr io.Writer) int {
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
	opts.Annotations = mergeAnnotations(annotations(ev.Findings), ev.Drift, skippedAnnotations(ev.Skipped))
	return finishDiff(rf.env, encode, ev.Changes, opts, ev.Findings, detailed, stdout, stderr)
}

func skippedAnnotations(skipped map[string]string) map[string][]diff.Annotation {
	out := map[string][]diff.Annotation{}
	for id, why := range skipped {
		out[id] = []diff.Annotation{{Code: "RM-SKIP", Severity: diff.SeverityInfo, Message: why}}
	}
	return out
}

func mergeAnnotations(ms ...map[string][]diff.Annotation) map[string][]diff.Annotation {
	out := map[string][]diff.Annotation{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = append(out[k], v...)
		}
	}
	return out
}

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

func printPlan(w io.Writer, env string, target *rmsync.Target, ev *rmsync.Evaluation) {
	opts := diff.EncodeOptions{
		Title:       fmt.Sprintf("%s: live (%s) → %s", env, target.Root(), target.Revision),
		Annotations: mergeAnnotations(annotations(ev.Findings), ev.Drift, skippedAnnotations(ev.Skipped)),
		Color:       useColor("auto", w),
	}
	_ = diff.EncodeText(w, ev.Changes, opts)
}

// runApply applies a plan file, or plans and applies in one go.
func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("apply", "apply [PLAN-FILE] | apply --env ENV [--repo DIR|URL] [--ref REF] [--auto-approve]", stdout, stderr)
	var rf repoFlags
	var cf clusterFlags
	rf.register(c.fs, true)
	auto := c.fs.Bool("auto-approve", false, "apply without asking (for scripts)")
	cf.register(c.fs, useZK|useCassandra|useApply)
	pos, code, ok := c.parse(args, 0, 1)
	if !ok {
		return code
	}
	if err := cf.check(); err != nil {
		return c.usageError("%v", err)
	}
	var target *rmsync.Target
	var plan *rmsync.Plan
	var d *livestore.Drivers
	var prefetched *rmsync.Live // the state the shown plan was computed from
	switch len(pos) {
	case 1:
		if rf.env != "" || rf.ref != "" {
			return c.usageError("a plan file carries its environment and revision: give the file alone, or --env without a file")
		}
		p, err := rmsync.LoadPlan(pos[0])
		if err != nil {
			fmt.Fprintf(stderr, "ringmaster apply: %v\n", err)
			return exitError
		}
		plan, target = p, &p.Target
		cf.resolve(&target.Desired.Cluster)
		if d, err = cf.connect(ctx, target.Desired.Cluster); err != nil {
			fmt.Fprintf(stderr, "ringmaster apply: %v\n", err)
			return exitError
		}
	case 0:
		if rf.env == "" {
			return c.usageError("give a plan file, or --env to plan and apply in one go")
		}
		t, drv, live, ok := connectAndRead(ctx, "apply", rf, &cf, stderr)
		if !ok {
			return exitError
		}
		target, d, prefetched = t, drv, live
		p, ev, err := rmsync.NewPlan(ctx, live, target, d.Schema())
		if err != nil {
			d.Close()
			printProblems(stderr, err)
			return exitError
		}
		printPlan(stdout, rf.env, target, ev)
		// What applies is exactly what was shown: a change in between makes
		// the plan stale. A deny goes on to Apply, which records it.
		if !ev.Changes.Empty() && !*auto && !policies.Denied(ev.Findings) && !confirm(stdout) {
			d.Close()
			fmt.Fprintln(stderr, "ringmaster apply: cancelled (answer yes, or pass --auto-approve)")
			return exitError
		}
		plan = p
	}
	defer d.Close()

	info := holderInfo(append([]string{"apply"}, args...))
	progress := func(format string, a ...any) {
		fmt.Fprintf(stdout, "  "+format+"\n", a...)
	}
	applier := &rmsync.Applier{
		Tree:       d.Tree(),
		Schema:     d.Schema(),
		Locker:     timeoutLocker{l: d.Locker(info), timeout: cf.lockTimeout, every: lockWaitReport, progress: progress},
		Progress:   progress,
		Holder:     fmt.Sprintf("%s@%s pid %d", info.User, info.Host, info.PID),
		Prefetched: prefetched,
	}
	fmt.Fprintln(stdout)
	outcome, err := applier.Apply(ctx, target, plan)
	if outcome != nil {
		printResults(stdout, outcome)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster apply: %v\n", err)
		if outcome != nil && !outcome.StatusRecorded {
			fmt.Fprintf(stderr, "ringmaster apply: the status could not be recorded (%v); the apply's in-progress record stays as its trace: check `ringmaster status`\n", outcome.StatusError)
		}
		return exitError
	}
	if outcome.AlreadyApplied != "" {
		fmt.Fprintf(stdout, "\nAlready applied: live matches %s. Nothing to do.\n", outcome.AlreadyApplied)
		return exitOK
	}
	fmt.Fprintf(stdout, "\nApply complete: generation %d, revision %s.\n", outcome.Generation, target.Revision)
	if len(outcome.Status.RepairRequired) > 0 {
		fmt.Fprintf(stdout, "Repair required (replication changed): %s\n", strings.Join(outcome.Status.RepairRequired, ", "))
	}
	return exitOK
}

// lockWaitReport is how often a waiting apply says whom it waits for.
const lockWaitReport = 5 * time.Second

// timeoutLocker bounds the wait for the lock and, while it waits, says
// whom it waits for: after a second, then every `every`.
type timeoutLocker struct {
	l        livestore.Locker
	timeout  time.Duration
	every    time.Duration
	progress func(format string, args ...any)
}

func (t timeoutLocker) Lock(ctx context.Context, dir string) (rmsync.Lock, error) {
	lctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	done := make(chan struct{})
	var wg gosync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t.reportWait(lctx, dir, done)
	}()
	lk, err := t.l.Lock(lctx, dir)
	close(done)
	wg.Wait()
	return lk, err
}

// reportWait prints the holder of the lock until done closes.
func (t timeoutLocker) reportWait(ctx context.Context, dir string, done <-chan struct{}) {
	start := time.Now()
	timer := time.NewTimer(time.Second)
	defer timer.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		locks, err := t.l.Client.Locks(ctx, dir)
		if err == nil && len(locks) > 0 && locks[0].ID != "" {
			h := locks[0].Holder
			t.progress("waiting %s for the apply lock, held by %s@%s pid %d (%q) since %s, lock id %s",
				time.Since(start).Round(time.Second), h.User, h.Host, h.PID, h.Command, timeText(h.Since), locks[0].ID)
		}
		timer.Reset(t.every)
	}
}

func confirm(w io.Writer) bool {
	fmt.Fprint(w, "\nDo you want to apply these changes? Only 'yes' will be accepted: ")
	flush(w)
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false
	}
	return strings.TrimSpace(line) == "yes"
}

func printResults(w io.Writer, o *rmsync.Outcome) {
	if len(o.Results) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tACTION\tOBJECT\tNOTE")
	for _, r := range o.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Result, r.Action, r.ID, firstLineOf(r.Message))
	}
	tw.Flush()
}

func firstLineOf(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// envCluster resolves an environment's ZooKeeper connection and root for
// status and lock: from the repository when it has the environment, with
// flags over it.
func envCluster(ctx context.Context, rf repoFlags, cf *clusterFlags) (*rmsync.Target, error) {
	t, err := loadTarget(ctx, rf, cf)
	if err == nil {
		return t, nil
	}
	if cf.zkServers != "" && cf.zkRoot != "" {
		t := &rmsync.Target{Desired: newStateFor(rf.env)}
		cf.resolve(&t.Desired.Cluster)
		return t, nil
	}
	return nil, err
}

// runStatus prints the environment's status, generation and lock holders.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("status", "status --env ENV [--repo DIR|URL] [--json]", stdout, stderr)
	var rf repoFlags
	var cf clusterFlags
	rf.register(c.fs, true)
	asJSON := c.fs.Bool("json", false, "print the status as JSON")
	cf.register(c.fs, useZK)
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	if rf.env == "" {
		return c.usageError("--env is required")
	}
	if err := cf.check(); err != nil {
		return c.usageError("%v", err)
	}
	t, z, ok := connectEnvZK(ctx, "status", rf, &cf, stderr)
	if !ok {
		return exitError
	}
	defer z.Close()
	root := t.Root()
	live, err := rmsync.ReadLive(ctx, livestore.Tree{Client: z}, nil, rf.env, root)
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster status: %v\n", err)
		return exitError
	}
	locks, err := z.Locks(ctx, path.Join(root, state.ApplyLock))
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster status: %v\n", err)
		return exitError
	}
	st := live.Meta.Status
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"status": st, "generation": live.Meta.Generation, "lastAttemptWithoutLock": live.Meta.LastAttempt, "locks": locks,
			"inProgress": live.Meta.InProgress, "inProgressState": inProgressState(live.Meta.InProgress, locks)})
		return exitOK
	}
	fmt.Fprintf(stdout, "environment:        %s (root %s)\n", rf.env, root)
	if st.LastAttemptedRevision == "" {
		fmt.Fprintln(stdout, "never applied")
	}
	fmt.Fprintf(stdout, "generation:         %d (revision %s, at %s)\n", live.Meta.Generation.Generation, orDash(live.Meta.Generation.Revision), timeText(live.Meta.Generation.AppliedAt))
	by := ""
	if st.LastAppliedBy != "" {
		by = " by " + st.LastAppliedBy
	}
	fmt.Fprintf(stdout, "last applied:       %s at %s%s\n", orDash(st.LastAppliedRevision), timeText(st.LastAppliedAt), by)
	switch inProgressState(live.Meta.InProgress, locks) {
	case "running":
		fmt.Fprintf(stdout, "apply in progress:  %s (%s)\n", live.Meta.InProgress, live.Meta.InProgress.Summary())
	case "interrupted":
		fmt.Fprintf(stdout, "interrupted apply:  %s (%s) did not finish: killed, or it lost its lock; the next apply records it and completes or corrects its changes\n", live.Meta.InProgress, live.Meta.InProgress.Summary())
	}
	fmt.Fprintf(stdout, "last attempted:     %s at %s\n", orDash(st.LastAttemptedRevision), timeText(st.LastAttemptedAt))
	for _, c := range st.Conditions {
		fmt.Fprintf(stdout, "condition %s:      %s (%s) since %s: %s\n", c.Type, c.Status, c.Reason, timeText(c.LastTransitionTime), c.Message)
	}
	if len(st.RepairRequired) > 0 {
		fmt.Fprintf(stdout, "repair required:    %s\n", strings.Join(st.RepairRequired, ", "))
	}
	if la := live.Meta.LastAttempt; !la.At.IsZero() && la.At.After(st.LastAttemptedAt) {
		fmt.Fprintf(stdout, "lock not taken:     %s at %s (%s): %s\n", orDash(la.Revision), timeText(la.At), la.Result, firstLineOf(la.Message))
	}
	if len(locks) == 0 {
		fmt.Fprintln(stdout, "lock:               free")
	}
	for i, l := range locks {
		role := "holder"
		if i > 0 {
			role = "waiting"
		}
		fmt.Fprintf(stdout, "lock %s:        %s@%s pid %d %q since %s (id %s)\n", role, l.Holder.User, l.Holder.Host, l.Holder.PID, l.Holder.Command, timeText(l.Holder.Since), l.ID)
	}
	if len(st.Results) > 0 {
		fmt.Fprintln(stdout, "\nlast run:")
		printResults(stdout, &rmsync.Outcome{Results: st.Results})
		if st.ResultsOmitted > 0 {
			fmt.Fprintf(stdout, "  … and %d more applied, skipped or not attempted\n", st.ResultsOmitted)
		}
	}
	if len(st.History) > 0 {
		fmt.Fprintln(stdout, "\nhistory:")
		for _, h := range st.History {
			fmt.Fprintf(stdout, "  %s  %-12s %-28s %d change(s) %s\n", timeText(h.At), h.Result, h.Revision, h.Changes, firstLineOf(h.Message))
		}
	}
	return exitOK
}

// inProgressState says what an in-progress record means: "running" while
// its lock is held, "interrupted" when it is not, "" without a record.
func inProgressState(p *rmsync.InProgress, locks []zk.LockEntry) string {
	if p == nil {
		return ""
	}
	if len(locks) > 0 && locks[0].ID == p.LockID {
		return "running"
	}
	return "interrupted"
}

// connectEnvZK resolves the environment's ZooKeeper and connects to it,
// for the commands that need only ZooKeeper. On failure it has printed
// why.
func connectEnvZK(ctx context.Context, name string, rf repoFlags, cf *clusterFlags, stderr io.Writer) (*rmsync.Target, *zk.Client, bool) {
	t, err := envCluster(ctx, rf, cf)
	if err != nil {
		printProblems(stderr, err)
		return nil, nil, false
	}
	z, err := cf.connectZK(ctx, t.Desired.Cluster)
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster %s: %v\n", name, err)
		return nil, nil, false
	}
	return t, z, true
}

// newStateFor is an empty state of env with the default root.
func newStateFor(env string) *state.State {
	st := state.New(env)
	st.Cluster.ZooKeeperRoot = render.DefaultRoot(env)
	return st
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// runLock lists or releases the environment's apply lock.
func runLock(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("lock", "lock list --env ENV | lock release --env ENV ID", stdout, stderr)
	var rf repoFlags
	var cf clusterFlags
	rf.register(c.fs, true)
	cf.register(c.fs, useZK)
	pos, code, ok := c.parse(args, 1, 2)
	if !ok {
		return code
	}
	verb, rest := pos[0], pos[1:]
	switch {
	case verb != "list" && verb != "release":
		return c.usageError("unknown verb %q: want list or release", verb)
	case verb == "release" && len(rest) != 1:
		return c.usageError("lock release needs the lock id (see lock list)")
	case verb == "list" && len(rest) != 0:
		return c.usageError("unexpected argument(s): %s", quoteAll(rest))
	case rf.env == "":
		return c.usageError("--env is required")
	}
	if err := cf.check(); err != nil {
		return c.usageError("%v", err)
	}
	t, z, ok := connectEnvZK(ctx, "lock", rf, &cf, stderr)
	if !ok {
		return exitError
	}
	defer z.Close()
	dir := path.Join(t.Root(), state.ApplyLock)
	if verb == "release" {
		if err := z.ReleaseLock(ctx, dir, rest[0]); err != nil {
			fmt.Fprintf(stderr, "ringmaster lock release: %v\n", err)
			return exitError
		}
		fmt.Fprintf(stdout, "released %s/%s\n", dir, rest[0])
		return exitOK
	}
	locks, err := z.Locks(ctx, dir)
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster lock list: %v\n", err)
		return exitError
	}
	printLocks(stdout, dir, locks)
	return exitOK
}

func printLocks(w io.Writer, dir string, locks []zk.LockEntry) {
	if len(locks) == 0 {
		fmt.Fprintf(w, "%s: free\n", dir)
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tID\tHOLDER\tPID\tCOMMAND\tSINCE")
	for i, l := range locks {
		role := "holder"
		if i > 0 {
			role = "waiting"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s@%s\t%d\t%s\t%s\n", role, l.ID, l.Holder.User, l.Holder.Host, l.Holder.PID, l.Holder.Command, timeText(l.Holder.Since))
	}
	tw.Flush()
}
