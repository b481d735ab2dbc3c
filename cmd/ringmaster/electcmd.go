package main

import (
	"context"
	"fmt"
	"io"
	"path"
	"text/tabwriter"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// runElect is `elect run` (run a command only while elected, campaigning
// again after a loss) and `elect show` (the leader and the candidates).
func runElect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("elect", "elect run --env ENV NAME [--id ID] -- COMMAND ARGS... | elect show --env ENV NAME", stdout, stderr)
	var rf repoFlags
	var cf clusterFlags
	rf.register(c.fs, true)
	id := c.fs.String("id", "", "this candidate's name in `elect show` (default: host and pid)")
	grace := c.fs.Duration("grace", lockRunGrace, "how long the command has to stop after SIGTERM before it is killed")
	cf.register(c.fs, useZK)
	flagArgs, command := splitCommand(args)
	pos, code, ok := c.parse(flagArgs, 2, 2)
	if !ok {
		return code
	}
	verb, name := pos[0], pos[1]
	switch {
	case verb != "run" && verb != "show":
		return c.usageError("unknown verb %q: want run or show", verb)
	case state.CheckSegment(name) != nil:
		return c.usageError("election name %q: %v", name, state.CheckSegment(name))
	case path.Join(state.ElectionDir, name) == state.ControllerElection:
		return c.usageError("the election %q is the controller's: choose another name", name)
	case verb == "run" && len(command) == 0:
		return c.usageError("give the command after --")
	case verb == "show" && len(command) > 0:
		return c.usageError("elect show takes no command")
	case *grace <= 0:
		return c.usageError("--grace must be positive")
	}
	t, z, code, ok := c.envZK(ctx, rf, &cf)
	if !ok {
		return code
	}
	defer func() { z.Close() }() // the last session made
	dir := path.Join(t.Root(), state.ElectionDir, name)
	if verb == "show" {
		candidates, err := z.Locks(ctx, dir)
		if err != nil {
			fmt.Fprintf(stderr, "ringmaster elect show: %v\n", err)
			return exitError
		}
		if len(candidates) == 0 {
			fmt.Fprintf(stdout, "%s: no candidate\n", dir)
			return exitOK
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ROLE\tCANDIDATE\tHOST\tPID\tSINCE")
		for i, l := range candidates {
			role := "leader"
			if i > 0 {
				role = "candidate"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", role, l.Holder.User, l.Holder.Host, l.Holder.PID, timeText(l.Holder.Since))
		}
		tw.Flush()
		return exitOK
	}
	holder := holderInfo(append([]string{"elect"}, args...))
	if *id != "" {
		holder.User = *id
	}
	for {
		if z.Healthy() != nil && ctx.Err() == nil {
			// The session expired (leadership went with it): a new one
			// campaigns.
			z.Close()
			fmt.Fprintln(stderr, "ringmaster elect run: the ZooKeeper session ended: connecting again")
			if _, z, ok = connectEnvZK(ctx, "elect run", rf, &cf, stderr); !ok {
				return exitError
			}
		}
		lead, err := z.Lock(ctx, dir, holder)
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintln(stderr, "ringmaster elect run: interrupted while campaigning")
				return exitError
			}
			if z.Healthy() != nil {
				continue // campaign again with a new session
			}
			fmt.Fprintf(stderr, "ringmaster elect run: campaign: %v\n", err)
			return exitError
		}
		fmt.Fprintf(stderr, "ringmaster elect run: elected (%s): running %s\n", lead.ID(), command[0])
		code, lost := runHeld(ctx, lead, command, *grace, stdout, stderr)
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = lead.Unlock(uctx)
		cancel()
		if !lost || ctx.Err() != nil {
			return code
		}
		fmt.Fprintln(stderr, "ringmaster elect run: leadership lost: campaigning again")
	}
}
