// Command ringmaster keeps the coordination-level configuration of a
// Cassandra estate in Git and makes the live cluster match it.
//
// main only parses flags, wires packages together and maps outcomes to exit
// codes: 0 success (or no changes), 1 error or policy deny, 2 usage error;
// diff --detailed-exitcode returns 2 when there are changes.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...";
// otherwise it comes from the module's build information.
var version = ""

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2
	exitChanges = 2 // diff --detailed-exitcode
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand: it parses its own flags from args.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

func init() {
	commands["validate"] = command{"check manifests and policies (every environment, or --env)", runValidate}
	commands["render"] = command{"print an environment's target: znodes with their bytes, and CQL", runRender}
	commands["diff"] = command{"show the change between two revisions (--from, --to), or against the live cluster", runDiff}
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "ringmaster %s\n", versionString())
		return exitOK
	case "help", "-h", "--help":
		usage(stdout)
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "ringmaster: unknown command %q\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return cmd.run(ctx, args[1:], stdout, stderr)
}

// commandOrder is the order usage lists the commands in.
var commandOrder = []string{"validate", "render", "diff", "plan", "apply", "status", "lock"}

func usage(w io.Writer) {
	fmt.Fprint(w, "usage: ringmaster <command> [flags]\n\ncommands:\n")
	for _, name := range commandOrder {
		fmt.Fprintf(w, "  %-9s  %s\n", name, commands[name].summary)
	}
	fmt.Fprint(w, "  version    print the version\n  help       show this help\n\nRun 'ringmaster <command> -h' for a command's flags.\n")
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
