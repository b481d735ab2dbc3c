package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	gosync "sync"
	"text/tabwriter"
	"time"

	"github.com/ringmaster-io/ringmaster/agent"
	"github.com/ringmaster-io/ringmaster/internal/livestore"
	"github.com/ringmaster-io/ringmaster/policies"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// runApply applies a plan file, or plans and applies in one go.
func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("apply", "apply [PLAN-FILE] | apply --env ENV [--repo DIR|URL] [--ref REF] [--auto-approve]", stdout, stderr)
	var rf repoFlags
	var cf clusterFlags
	rf.register(c.fs, true)
	auto := c.fs.Bool("auto-approve", false, "apply without asking (for scripts)")
	wait := c.fs.Bool("wait", false, "when node settings changed in an environment with a staged rollout, drive it stage by stage until every agent applied them (exit 1 if it halts)")
	waitFor := c.fs.Duration("wait-timeout", 30*time.Minute, "bound of --wait")
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
	var prefetched *rmsync.Live         // the state the shown plan was computed from
	var prefetchedEv *rmsync.Evaluation // and its evaluation
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
		if !printACLDrift(ctx, stdout, stderr, "apply", d, target) {
			d.Close()
			return exitError
		}
		// What applies is exactly what was shown: a change in between makes
		// the plan stale. A deny goes on to Apply, which records it.
		if !ev.Changes.Empty() && !*auto && !policies.Denied(ev.Findings) && !confirm(stdout) {
			d.Close()
			fmt.Fprintln(stderr, "ringmaster apply: cancelled (answer yes, or pass --auto-approve)")
			return exitError
		}
		plan, prefetchedEv = p, ev
	}
	defer d.Close()

	info := holderInfo(append([]string{"apply"}, args...))
	progress := func(format string, a ...any) {
		fmt.Fprintf(stdout, "  "+format+"\n", a...)
	}
	applier := &rmsync.Applier{
		Tree:                 d.Tree(),
		Schema:               d.Schema(),
		ACLs:                 d.ACLs(),
		Locker:               timeoutLocker{l: d.Locker(info), timeout: cf.lockTimeout, every: lockWaitReport, progress: progress},
		Progress:             progress,
		Holder:               fmt.Sprintf("%s@%s pid %d", info.User, info.Host, info.PID),
		Prefetched:           prefetched,
		PrefetchedEvaluation: prefetchedEv,
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
	if n := len(outcome.ACLRepaired); n > 0 {
		fmt.Fprintf(stdout, "ACLs repaired: %d znode(s) had drifted from the policy (see acl show).\n", n)
	}
	for _, j := range outcome.RepairJobs {
		fmt.Fprintf(stdout, "Repair job %s: %s of %s (%s) on %d node(s), one at a time by the node agents (repair show %s).\n", j.ID, j.Kind, j.Keyspace, j.Change, len(j.Parts), j.ID)
	}
	if len(outcome.Status.RepairRequired) > 0 {
		fmt.Fprintf(stdout, "Repair required (replication changed): %s\n", strings.Join(outcome.Status.RepairRequired, ", "))
	}
	if *wait {
		return driveRollout(ctx, d, target.Root(), outcome.Generation, *waitFor, stdout, stderr)
	}
	return exitOK
}

// driveRollout drives the staged rollout of generation gen, when the apply
// started one, until it is done (0) or halted, or the bound passes (1).
func driveRollout(ctx context.Context, d *livestore.Drivers, root string, gen int64, bound time.Duration, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	r, err := agent.Drive(ctx, d.ZK, root, func(r *rmsync.RolloutRecord, p []agent.StageProgress) {
		if r.Generation == gen {
			fmt.Fprintf(stdout, "  rollout %s — %s\n", r, agent.DescribeProgress(p))
		}
	})
	switch {
	case r == nil || r.Generation != gen:
		return exitOK // no rollout of this apply (no settings changed, or none configured)
	case err != nil:
		fmt.Fprintf(stderr, "ringmaster apply: rollout: %v\n", err)
		return exitError
	case r.State == rmsync.RolloutHalted:
		fmt.Fprintf(stderr, "ringmaster apply: rollout halted: %s\n", r.Message)
		return exitError
	}
	fmt.Fprintf(stdout, "Rollout complete: %s.\n", r)
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
