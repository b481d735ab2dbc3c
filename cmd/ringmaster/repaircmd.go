package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/ringmaster-io/ringmaster/internal/livestore"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// runRepair records repairs by hand: `repair ack --env ENV KEYSPACE...
// --reason TEXT` removes the keyspaces from status's repair-required list,
// under the apply lock, with who and why in history.
func runRepair(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	switch verb, rest := findVerb(args, "cleanup"); verb {
	case "list", "show", "cancel":
		return runRepairJobs(ctx, verb, rest, stdout, stderr)
	case "run":
		return runRepairRun(ctx, rest, stdout, stderr)
	}
	c := newCmdline("repair", "repair ack --env ENV --reason TEXT KEYSPACE... | repair list|show ID|cancel ID --env ENV | repair run --env ENV --keyspace K --jmx HOST:PORT...", stdout, stderr)
	var rf repoFlags
	var cf clusterFlags
	rf.register(c.fs, true)
	reason := c.fs.String("reason", "", "why the repair need ends: the repair that ran, or why none is needed (required)")
	cf.register(c.fs, useZK|useApply)
	pos, code, ok := c.parse(args, 2, -1)
	if !ok {
		return code
	}
	switch {
	case pos[0] != "ack":
		return c.usageError("unknown verb %q: want ack, list, show, cancel or run", pos[0])
	case strings.TrimSpace(*reason) == "":
		return c.usageError("--reason is required: say which repair ran, or why none is needed")
	}
	t, z, code, ok := c.envZK(ctx, rf, &cf)
	if !ok {
		return code
	}
	defer z.Close()
	info := holderInfo(append([]string{"repair"}, args...))
	who := fmt.Sprintf("%s@%s", info.User, info.Host)
	progress := func(format string, a ...any) { fmt.Fprintf(stdout, "  "+format+"\n", a...) }
	a := &rmsync.Applier{Tree: livestore.Tree{Client: z}, Locker: timeoutLocker{l: livestore.Locker{Client: z, Holder: info}, timeout: cf.lockTimeout, every: lockWaitReport, progress: progress}}
	if err := a.AcknowledgeRepair(ctx, rf.env, t.Root(), pos[1:], who, *reason); err != nil {
		fmt.Fprintf(stderr, "ringmaster repair ack: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "recorded: the repair of %s is done (%s: %s)\n", strings.Join(pos[1:], ", "), who, *reason)
	return exitOK
}

// findVerb finds the verb of a command line whose verbs have flags of their
// own (repair, acl), flags before it or after it, and returns the line
// without it. Flags take a value (the next argument, or after "=") but for
// -h, --help, --json and the boolean flags named.
func findVerb(args []string, booleans ...string) (verb string, rest []string) {
	boolean := map[string]bool{"h": true, "help": true, "json": true}
	for _, b := range booleans {
		boolean[b] = true
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, "-") {
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && !boolean[name] {
				i++ // its value
			}
			continue
		}
		return a, append(append([]string(nil), args[:i]...), args[i+1:]...)
	}
	return "", args
}
