package main

import (
	"context"
	"fmt"
	"io"
	"path"
	"text/tabwriter"

	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
)

// runLock lists or releases the environment's apply lock.
func runLock(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "run" {
		return runLockRun(ctx, args[1:], stdout, stderr)
	}
	c := newCmdline("lock", "lock list --env ENV [--name NAME] | lock release --env ENV [--name NAME] ID | lock run --env ENV NAME -- COMMAND...", stdout, stderr)
	var rf repoFlags
	var cf clusterFlags
	rf.register(c.fs, true)
	name := c.fs.String("name", "apply", "which lock: apply's, or one that lock run takes")
	cf.register(c.fs, useZK)
	pos, code, ok := c.parse(args, 1, 2)
	if !ok {
		return code
	}
	verb, rest := pos[0], pos[1:]
	switch {
	case verb != "list" && verb != "release":
		return c.usageError("unknown verb %q: want list, release or run", verb)
	case verb == "release" && len(rest) != 1:
		return c.usageError("lock release needs the lock id (see lock list)")
	case verb == "list" && len(rest) != 0:
		return c.usageError("unexpected argument(s): %s", quoteAll(rest))
	case state.CheckSegment(*name) != nil:
		return c.usageError("--name %q: %v", *name, state.CheckSegment(*name))
	}
	t, z, code, ok := c.envZK(ctx, rf, &cf)
	if !ok {
		return code
	}
	defer z.Close()
	dir := path.Join(t.Root(), state.LocksDir, *name)
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
