package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/ringmaster-io/ringmaster/agent"
	"github.com/ringmaster-io/ringmaster/internal/livestore"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
	"github.com/ringmaster-io/ringmaster/render"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

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
	t, z, code, ok := c.envZK(ctx, rf, &cf)
	if !ok {
		return code
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
	leaders, err := z.Locks(ctx, path.Join(root, state.ControllerElection))
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster status: %v\n", err)
		return exitError
	}
	requests, err := rmsync.ReadRequests(ctx, livestore.Tree{Client: z}, root)
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster status: %v\n", err)
		return exitError
	}
	members, err := agent.ReadMembers(ctx, z, root)
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster status: %v\n", err)
		return exitError
	}
	converged, behind := agent.Convergence(members, live.Meta.Generation.Generation)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"status": st, "generation": live.Meta.Generation, "lastAttemptWithoutLock": live.Meta.LastAttempt, "locks": locks,
			"inProgress": live.Meta.InProgress, "inProgressState": inProgressState(live.Meta.InProgress, locks),
			"suspension": live.Meta.Suspension, "controllers": leaders, "requests": requests,
			"agents": map[string]any{"total": len(members), "converged": converged, "behind": behind}, "rollout": live.Meta.Rollout,
			"repairs": live.Meta.Repairs})
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
	// Repair jobs: every unfinished one, and the last that ended.
	var ended *rmsync.RepairJob
	for _, j := range live.Meta.Repairs {
		if j.Unfinished() {
			fmt.Fprintf(stdout, "repair job:         %s: %s\n", j.ID, j.Summary())
		} else {
			ended = j
		}
	}
	if ended != nil {
		fmt.Fprintf(stdout, "last repair job:    %s: %s (at %s)\n", ended.ID, ended.Summary(), timeText(ended.UpdatedAt))
	}
	if la := live.Meta.LastAttempt; !la.At.IsZero() && la.At.After(st.LastAttemptedAt) {
		fmt.Fprintf(stdout, "lock not taken:     %s at %s (%s): %s\n", orDash(la.Revision), timeText(la.At), la.Result, firstLineOf(la.Message))
	}
	if s := live.Meta.Suspension; s != nil {
		what := "suspended:"
		if s.Expired(time.Now()) {
			what = "suspension over:"
		}
		fmt.Fprintf(stdout, "%-19s %s\n", what, s)
	}
	if r := live.Meta.Rollout; r != nil {
		fmt.Fprintf(stdout, "rollout:            %s — %s\n", r, agent.DescribeProgress(agent.Progress(r, members)))
	}
	if len(members) > 0 {
		fmt.Fprintf(stdout, "agents:             %d/%d converged at generation %d\n", converged, len(members), live.Meta.Generation.Generation)
		for _, b := range behind {
			fmt.Fprintf(stdout, "agent behind:       %s\n", b)
		}
	}
	for i, l := range leaders {
		role := "controller leader:"
		if i > 0 {
			role = "controller standby:"
		}
		fmt.Fprintf(stdout, "%-19s %s@%s pid %d since %s\n", role, l.Holder.User, l.Holder.Host, l.Holder.PID, timeText(l.Holder.Since))
	}
	var lastHandled *rmsync.Request
	for _, r := range requests {
		if r.Handled() {
			lastHandled = r
			continue
		}
		fmt.Fprintf(stdout, "pending request:    %s by %s at %s\n", r.ID, r.By, timeText(r.At))
	}
	if r := lastHandled; r != nil {
		fmt.Fprintf(stdout, "last request:       %s by %s: %s, %s (at %s)\n", r.ID, r.By, r.Result, firstLineOf(r.Message), timeText(r.HandledAt))
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

// envZK checks --env and the connection flags (a usage error otherwise)
// and connects to the environment's ZooKeeper. When ok is false it has
// printed why, and code is the exit code.
func (c *cmdline) envZK(ctx context.Context, rf repoFlags, cf *clusterFlags) (*rmsync.Target, *zk.Client, int, bool) {
	if rf.env == "" {
		return nil, nil, c.usageError("--env is required"), false
	}
	if err := cf.check(); err != nil {
		return nil, nil, c.usageError("%v", err), false
	}
	t, z, ok := connectEnvZK(ctx, c.name, rf, cf, c.stderr)
	if !ok {
		return nil, nil, exitError, false
	}
	return t, z, exitOK, true
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
