package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path"
	"strings"
	"text/tabwriter"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/internal/livestore"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// runRepairJobs lists, shows or cancels an environment's repair jobs.
func runRepairJobs(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) int {
	synopsis := map[string]string{"list": "repair list --env ENV", "show": "repair show --env ENV ID", "cancel": "repair cancel --env ENV --reason TEXT ID"}[verb]
	c := newCmdline("repair "+verb, synopsis, stdout, stderr)
	var rf repoFlags
	var cf clusterFlags
	rf.register(c.fs, true)
	reason := ""
	if verb == "cancel" {
		c.fs.StringVar(&reason, "reason", "", "why the job is cancelled (required)")
	}
	cf.register(c.fs, useZK)
	want := 1
	if verb == "list" {
		want = 0
	}
	pos, code, ok := c.parse(args, want, want)
	if !ok {
		return code
	}
	if verb == "cancel" && strings.TrimSpace(reason) == "" {
		return c.usageError("--reason is required: say why the job's work is not to be done")
	}
	t, z, code, ok := c.envZK(ctx, rf, &cf)
	if !ok {
		return code
	}
	defer z.Close()
	jobs, versions, err := rmsync.ReadRepairJobs(ctx, livestore.Tree{Client: z}, t.Root())
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster repair %s: %v\n", verb, err)
		return exitError
	}
	if verb == "list" {
		if len(jobs) == 0 {
			fmt.Fprintf(stdout, "No repair jobs in %s.\n", rf.env)
			return exitOK
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tKEYSPACE\tCHANGE\tSTATE\tNODES DONE\tCREATED")
		for _, j := range jobs {
			done, total := j.Progress()
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", j.ID, j.Kind, j.Keyspace, j.Change, j.State, done, total, j.CreatedAt.UTC().Format(time.RFC3339))
		}
		_ = tw.Flush()
		return exitOK
	}
	var job *rmsync.RepairJob
	for _, j := range jobs {
		if j.ID == pos[0] {
			job = j
		}
	}
	if job == nil {
		ids := make([]string, len(jobs))
		for i, j := range jobs {
			ids[i] = j.ID
		}
		fmt.Fprintf(stderr, "ringmaster repair %s: no repair job %q in %s (jobs: %s)\n", verb, pos[0], rf.env, orNone(ids))
		return exitError
	}
	if verb == "show" {
		printRepairJob(stdout, job)
		return exitOK
	}
	if !job.Unfinished() {
		fmt.Fprintf(stderr, "ringmaster repair cancel: job %s is %s already: nothing to cancel\n", job.ID, job.State)
		return exitError
	}
	info := holderInfo(append([]string{"repair", "cancel"}, args...))
	job.State = rmsync.RepairCancelled
	job.Message = fmt.Sprintf("cancelled by %s@%s: %s", info.User, info.Host, reason)
	job.UpdatedAt = time.Now().UTC()
	raw, err := json.Marshal(job)
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster repair cancel: %v\n", err)
		return exitError
	}
	p := path.Join(t.Root(), state.RepairsDir, job.ID)
	if _, err := z.Conn().Set(p, raw, versions[job.ID]); err != nil {
		if errors.Is(err, gozk.ErrBadVersion) {
			err = fmt.Errorf("the job changed meanwhile (an agent recorded progress): look again with repair show %s", job.ID)
		}
		fmt.Fprintf(stderr, "ringmaster repair cancel: %s: %v\n", p, err)
		return exitError
	}
	fmt.Fprintf(stdout, "Cancelled repair job %s: %s\n", job.ID, job.Summary())
	return exitOK
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// printRepairJob prints a job and each node's part.
func printRepairJob(w io.Writer, j *rmsync.RepairJob) {
	fmt.Fprintf(w, "job:        %s\nkind:       %s of keyspace %s\nchange:     %s (revision %s, generation %d)\nstate:      %s\ncreated:    %s\nupdated:    %s\n",
		j.ID, j.Kind, j.Keyspace, j.Change, j.Revision, j.Generation, j.State, j.CreatedAt.UTC().Format(time.RFC3339), j.UpdatedAt.UTC().Format(time.RFC3339))
	if j.Message != "" {
		fmt.Fprintf(w, "message:    %s\n", j.Message)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nNODE\tDATACENTER\tSTATE\tTRIES\tSTARTED\tDURATION\tTOKEN\tBY\tMESSAGE")
	for _, p := range j.Parts {
		started, took := "-", "-"
		if !p.StartedAt.IsZero() {
			started = p.StartedAt.UTC().Format(time.RFC3339)
		}
		if p.DurationMs > 0 {
			took = (time.Duration(p.DurationMs) * time.Millisecond).String()
		}
		msg := p.Message
		if !p.NextAttemptAt.IsZero() && p.State == rmsync.RepairPending {
			msg = fmt.Sprintf("next try at %s: %s", p.NextAttemptAt.UTC().Format(time.RFC3339), msg)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\n", p.Address, p.Datacenter, p.State, p.Attempts, started, took, p.Token, orDash(p.By), orDash(msg))
	}
	_ = tw.Flush()
}

// runRepairRun repairs a keyspace by hand, one node after the other,
// under the environment's repair lock (the one agents take for jobs).
func runRepairRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("repair run", "repair run --env ENV --keyspace K (--jmx HOST:PORT | --nodetool CMD)... [--cleanup]", stdout, stderr)
	var rf repoFlags
	var cf clusterFlags
	rf.register(c.fs, true)
	keyspace := c.fs.String("keyspace", "", "the keyspace to repair (required)")
	var tools [][]string // one nodetool command line per node, in order
	c.fs.Func("jmx", "a node's JMX address HOST:PORT: runs nodetool -h HOST -p PORT (repeat for each node, in order)", func(v string) error {
		host, port, ok := strings.Cut(v, ":")
		if !ok || host == "" || port == "" {
			return fmt.Errorf("%q: want HOST:PORT", v)
		}
		tools = append(tools, []string{"nodetool", "-h", host, "-p", port})
		return nil
	})
	c.fs.Func("nodetool", "a nodetool command line that reaches one node, space-separated (repeat for each node, in order)", func(v string) error {
		if len(strings.Fields(v)) == 0 {
			return errors.New("empty command")
		}
		tools = append(tools, strings.Fields(v))
		return nil
	})
	cleanup := c.fs.Bool("cleanup", false, "run nodetool cleanup instead of a full repair (after a replication decrease)")
	cf.register(c.fs, useZK|useApply)
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	switch {
	case *keyspace == "":
		return c.usageError("--keyspace is required")
	case len(tools) == 0:
		return c.usageError("--jmx or --nodetool is required: the nodes to repair, as nodetool reaches them")
	}
	t, z, code, ok := c.envZK(ctx, rf, &cf)
	if !ok {
		return code
	}
	defer z.Close()
	info := holderInfo(append([]string{"repair", "run"}, args...))
	lctx, cancel := context.WithTimeout(ctx, cf.lockTimeout)
	dir := path.Join(t.Root(), state.RepairLock)
	lock, err := z.Lock(lctx, dir, info)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster repair run: the repair lock %s: %v\n", dir, err)
		return exitError
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = lock.Unlock(uctx)
	}()
	token, _ := lock.Token()
	fmt.Fprintf(stdout, "Repair lock %s held (fencing token %d).\n", dir, token)
	verb := []string{"repair", "-full", "-pr", *keyspace}
	if *cleanup {
		verb = []string{"cleanup", *keyspace}
	}
	for _, tool := range tools {
		node := strings.Join(tool, " ")
		start := time.Now()
		if err := runUnderLock(ctx, lock, tool[0], append(tool[1:], verb...)); err != nil {
			fmt.Fprintf(stderr, "ringmaster repair run: %s by %s: %v\n", strings.Join(verb, " "), node, err)
			return exitError
		}
		fmt.Fprintf(stdout, "  %s by %s: done in %s\n", strings.Join(verb, " "), node, time.Since(start).Round(time.Millisecond))
	}
	fmt.Fprintf(stdout, "Repaired %s on %d node(s).\n", *keyspace, len(tools))
	return exitOK
}

// runUnderLock runs a command, stopping it if the lock is lost.
func runUnderLock(ctx context.Context, lock *zk.Lock, name string, argv []string) error {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lock.Lost():
			cancel()
		case <-cctx.Done():
		}
	}()
	cmd := exec.CommandContext(cctx, name, argv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if lock.Err() != nil {
			return fmt.Errorf("the repair lock was lost (%v): stopped", lock.Err())
		}
		msg := strings.TrimSpace(string(out))
		if len(msg) > 600 {
			msg = msg[len(msg)-600:]
		}
		return fmt.Errorf("%w: %s", err, msg)
	}
	return nil
}
