package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// cmdline is one command's flag set with its help text.
//
// Invariant: every mistake on the command line (an unknown flag, a bad
// value, a missing or unexpected argument) ends the command with exit 1
// and a message naming the mistake; -h and --help print the command's
// help to stdout and exit 0.
type cmdline struct {
	name     string
	synopsis string // after "usage: ringmaster "
	fs       *flag.FlagSet
	stdout   io.Writer
	stderr   io.Writer
}

// newCmdline starts the flag set of command name; synopsis is its usage
// line without the "ringmaster " prefix.
func newCmdline(name, synopsis string, stdout, stderr io.Writer) *cmdline {
	fs := flag.NewFlagSet("ringmaster "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse prints the mistake itself, prefixed
	c := &cmdline{name: name, synopsis: synopsis, fs: fs, stdout: stdout, stderr: stderr}
	fs.Usage = func() {}
	return c
}

// help writes the command's usage, summary and flags.
func (c *cmdline) help(w io.Writer) {
	fmt.Fprintf(w, "usage: ringmaster %s\n\n%s\n\nflags:\n", c.synopsis, summaryOf(c.name))
	c.fs.SetOutput(w)
	c.fs.PrintDefaults()
	c.fs.SetOutput(io.Discard)
}

// parse parses args: flags may come before, between and after positional
// arguments (as in git and kubectl), "--" ends the flags. It returns the
// positional arguments, which must number between minArgs and maxArgs
// (maxArgs < 0: any). When ok is false the command must return code: 0
// after -h, 1 after a mistake (already reported).
func (c *cmdline) parse(args []string, minArgs, maxArgs int) (positional []string, code int, ok bool) {
	for {
		err := c.fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			c.help(c.stdout)
			return nil, exitOK, false
		}
		if err != nil {
			fmt.Fprintf(c.stderr, "ringmaster %s: %v\nRun 'ringmaster %s -h' for its flags.\n", c.name, err, c.name)
			return nil, exitUsage, false
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	switch {
	case maxArgs == 0 && len(positional) > 0:
		return nil, c.usageError("unexpected argument(s): %s", quoteAll(positional)), false
	case maxArgs > 0 && len(positional) > maxArgs:
		return nil, c.usageError("unexpected argument(s): %s", quoteAll(positional[maxArgs:])), false
	case len(positional) < minArgs:
		return nil, c.usageError("missing argument(s)"), false
	}
	return positional, exitOK, true
}

// usageError reports a command-line mistake with the usage line and
// returns the exit code.
func (c *cmdline) usageError(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "ringmaster %s: %s\nusage: ringmaster %s\nRun 'ringmaster %s -h' for its flags.\n", c.name, fmt.Sprintf(format, args...), c.synopsis, c.name)
	return exitUsage
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, " ")
}

// oneOf checks that value is one of allowed, naming the flag otherwise.
func oneOf(flagName, value string, allowed ...string) error {
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	return fmt.Errorf("%s %q: want %s", flagName, value, strings.Join(allowed, ", "))
}

// summaryOf is the one-line summary of the named command.
func summaryOf(name string) string {
	c, _ := lookup(name)
	return c.summary
}
