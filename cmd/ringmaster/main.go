// Command ringmaster keeps the coordination-level configuration of a
// Cassandra estate in Git and makes the live cluster match it.
//
// main only parses flags, wires packages together and maps outcomes to exit
// codes: 0 success (or no changes), 1 any error (usage errors and policy
// denies included); diff --detailed-exitcode returns 2 when there are
// changes, and nothing else ever returns 2.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"
)

// version is set at build time with -ldflags "-X main.version=...";
// otherwise it comes from the module's build information.
var version = ""

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 1 // a usage error is an error: never the "changes" code
	exitChanges = 2 // diff --detailed-exitcode only
)

// errInterrupted is the cause of the command context's cancellation when a
// signal arrives.
var errInterrupted = errors.New("interrupted by a signal")

func main() {
	tuneGC()
	os.Exit(runMain(os.Args[1:]))
}

// Garbage collection of the command, unless GOGC or GOMEMLIMIT is set.
// A command builds the desired and the live state, keeps both until it
// exits, and lives seconds: with Go's default (a collection each time the
// heap doubles) a third of a 10,000-object apply went to collecting, on
// machines where ZooKeeper wants the same cores. The heap may grow to five
// times what is live, and collections come sooner as it nears a soft
// limit, so that 100,000 objects stay well under 1 GiB.
const (
	gcPercent   = 400
	gcSoftLimit = 768 << 20
)

func tuneGC() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(gcPercent)
	debug.SetMemoryLimit(gcSoftLimit)
}

// runMain runs one command line as a process: the first SIGINT or SIGTERM
// cancels the command's context (commands stop between steps and exit 1
// saying so); a command that has not returned within its grace after the
// signal, or a second signal, ends the process with exit 1 at once.
func runMain(args []string) int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	grace := graceFor(args)
	out := newOutput(os.Stdout, os.Stderr)
	defer out.Close()
	stderr := out.Stderr()
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, out.Stdout(), stderr) }()
	select {
	case code := <-done:
		return code
	case sig := <-sigs:
		fmt.Fprintf(stderr, "ringmaster: %v: stopping (a second signal stops at once)\n", sig)
		cancel(fmt.Errorf("%w (%v)", errInterrupted, sig))
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case code := <-done:
		if code == exitOK && isDaemon(args) {
			// A signal is how a daemon is asked to stop.
			return exitOK
		}
		if code == exitOK || code == exitChanges {
			// The work had finished as the signal came: still, it was
			// interrupted, and a script must not read it as a success.
			fmt.Fprintln(stderr, "ringmaster: interrupted")
		}
		return exitError
	case sig := <-sigs:
		fmt.Fprintf(stderr, "ringmaster: %v again: stopped at once\n", sig)
	case <-timer.C:
		fmt.Fprintf(stderr, "ringmaster: interrupted: did not stop within %v, stopped at once\n", grace)
	}
	return exitError
}

// graceFor is how long the command line's command may take to stop after a
// signal (see command.grace).
func graceFor(args []string) time.Duration {
	if len(args) > 0 {
		if c, ok := lookup(args[0]); ok && c.grace > 0 {
			return c.grace
		}
	}
	return time.Second
}

// isDaemon tells whether the command line runs a daemon (see
// command.daemon).
func isDaemon(args []string) bool {
	if len(args) == 0 {
		return false
	}
	c, ok := lookup(args[0])
	return ok && c.daemon
}

// controllerGrace is how long the controller may take to stop after a
// signal: its current apply records status (within 10 s), then it
// releases its lock and leadership.
const controllerGrace = 20 * time.Second

// command is one subcommand: it parses its own flags from args.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
	// grace is how long it may take to stop after a signal (0: a second):
	// apply records its status first.
	grace time.Duration
	// daemon commands run until a signal asks them to stop, which is
	// then a success (exit 0), not an interruption.
	daemon bool
}

// commandTable is every subcommand, one file each, in the order usage
// lists them. It is filled in init: a command's help reads the table, a
// reference Go's initialization order forbids in the declaration itself.
var commandTable []command

func init() {
	commandTable = []command{
		{name: "validate", summary: "check manifests and policies (every environment, or --env)", run: runValidate},
		{name: "render", summary: "print an environment's target: znodes with their bytes, and CQL", run: runRender},
		{name: "diff", summary: "show the change between two revisions (--from, --to), or against the live cluster", run: runDiff},
		{name: "plan", summary: "compute the change set against the live cluster and save it (-out)", run: runPlan},
		{name: "apply", summary: "apply a saved plan, or plan, confirm and apply in one go", run: runApply, grace: 15 * time.Second},
		{name: "status", summary: "show the last applied and attempted revisions and the lock holder", run: runStatus},
		{name: "lock", summary: "lock list | lock release ID: inspect or free the apply lock; lock run NAME -- COMMAND: hold a lock while a command runs", run: runLock, grace: lockRunGrace + 5*time.Second},
		{name: "repair", summary: "repair ack KEYSPACE...: record that a required repair was done (who and why)", run: runRepair},
		{name: "controller", summary: "run the reconcile daemon: follow a branch and keep environments equal to it", run: runController, grace: controllerGrace, daemon: true},
		{name: "reconcile", summary: "ask the controller to reconcile an environment now (--wait for its answer)", run: runReconcile},
		{name: "suspend", summary: "stop the controller from applying to an environment, with a reason (--for to end by itself)", run: runSuspend},
		{name: "resume", summary: "end an environment's suspension", run: runResume},
		{name: "agent", summary: "run the node agent of one Cassandra node: apply its NodeSettings at every generation", run: runAgent, grace: agentGrace, daemon: true},
		{name: "backup", summary: "write an environment's managed znodes (with ACLs) and keyspaces' schema to one archive", run: runBackup},
		{name: "restore", summary: "make an environment what a backup captured, under the apply lock (--dry-run shows the change)", run: runRestore, grace: 15 * time.Second},
		{name: "elect", summary: "elect run NAME -- COMMAND: run a command only while elected, campaigning again after a loss; elect show NAME: the leader and candidates", run: runElect, grace: lockRunGrace + 5*time.Second},
		{name: "acl", summary: "acl show: the ZooKeeper ACL policy and the znodes whose ACL drifted; acl digest USER: a digest id for the policy", run: runACL},
		{name: "members", summary: "list the node agents, nodes without one, and agents whose node is down", run: runMembers},
	}
}

// lookup finds a command by name.
func lookup(name string) (command, bool) {
	for _, c := range commandTable {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "version", "--version", "-version":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "ringmaster version: unexpected argument(s): %s\n", quoteAll(args[1:]))
			return exitUsage
		}
		fmt.Fprintf(stdout, "ringmaster %s\n", versionString())
		return exitOK
	case "help", "-h", "--help":
		switch len(args) {
		case 1:
			usage(stdout)
			return exitOK
		case 2:
			if cmd, ok := lookup(args[1]); ok {
				return cmd.run(ctx, []string{"-h"}, stdout, stderr)
			}
			if args[1] == "version" || args[1] == "help" {
				usage(stdout)
				return exitOK
			}
			fmt.Fprintf(stderr, "ringmaster help: unknown command %q\n", args[1])
			usage(stderr)
			return exitUsage
		}
		fmt.Fprintf(stderr, "ringmaster help: unexpected argument(s): %s\n", quoteAll(args[2:]))
		return exitUsage
	}
	cmd, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(stderr, "ringmaster: unknown command %q\n", args[0])
		usage(stderr)
		return exitUsage
	}
	code := cmd.run(ctx, args[1:], stdout, stderr)
	if code != exitError && ctx.Err() != nil && !isDaemon(args) {
		fmt.Fprintf(stderr, "ringmaster %s: %v\n", args[0], context.Cause(ctx))
		return exitError
	}
	return code
}

func usage(w io.Writer) {
	fmt.Fprint(w, "usage: ringmaster <command> [flags]\n\ncommands:\n")
	for _, c := range commandTable {
		fmt.Fprintf(w, "  %-9s  %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "  version    print the version\n  help       show this help, or a command's (help CMD)\n\nRun 'ringmaster <command> -h' for a command's flags.\n")
}

// versionString is the build's version: the ldflags value, else the module
// version and VCS revision recorded by the Go toolchain, else "dev".
func versionString() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "dev"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " (" + s.Value[:12] + ")"
		}
	}
	return v
}
