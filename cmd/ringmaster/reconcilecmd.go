package main

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/livestore"
	"github.com/ringmaster-io/ringmaster/internal/state"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// runReconcile asks the controller leading the environment to reconcile
// now (a request under requests/) and, with --wait, waits for its answer.
func runReconcile(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("reconcile", "reconcile --env ENV [--wait] [--timeout 5m] [--reason TEXT]", stdout, stderr)
	var rf repoFlags
	var cf clusterFlags
	rf.register(c.fs, true)
	cf.register(c.fs, useZK)
	wait := c.fs.Bool("wait", false, "wait for the controller's answer and exit with its result")
	timeout := c.fs.Duration("timeout", 5*time.Minute, "with --wait, how long to wait for the answer")
	reason := c.fs.String("reason", "", "why, for status")
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	switch {
	case *timeout <= 0:
		return c.usageError("--timeout must be positive")
	}
	t, z, code, ok := c.envZK(ctx, rf, &cf)
	if !ok {
		return code
	}
	defer z.Close()
	info := holderInfo(append([]string{"reconcile"}, args...))
	by := fmt.Sprintf("%s@%s pid %d", info.User, info.Host, info.PID)
	req, err := rmsync.RequestReconcile(ctx, livestore.Tree{Client: z}, t.Root(), by, *reason, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster reconcile: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "requested: %s\n", req.ID)
	if !*wait {
		return exitOK
	}
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	p := path.Join(t.Root(), state.RequestsDir, req.ID)
	data, err := z.AwaitData(wctx, p, func(data []byte, exists bool) bool {
		if !exists {
			return true
		}
		r, err := rmsync.DecodeRequest(req.ID, data)
		return err == nil && r.Handled()
	})
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster reconcile: no answer within %v (is a controller running for %s? `ringmaster status` shows the last one): %v\n", *timeout, rf.env, err)
		return exitError
	}
	if data == nil {
		fmt.Fprintf(stderr, "ringmaster reconcile: the request %s was removed before it was answered\n", req.ID)
		return exitError
	}
	r, err := rmsync.DecodeRequest(req.ID, data)
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster reconcile: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "%s: %s (revision %s, generation %d, by %s at %s)\n", r.Result, r.Message, orDash(r.Revision), r.Generation, r.HandledBy, r.HandledAt.Format(time.RFC3339))
	switch r.Result {
	case "applied", "no_change", "dry_run", "drift_reported":
		return exitOK
	}
	return exitError
}

// runSuspend stops the controller from applying to the environment, with
// who and why, until resumed or until --for has passed.
func runSuspend(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("suspend", "suspend --env ENV --reason TEXT [--for 2h]", stdout, stderr)
	var rf repoFlags
	var cf clusterFlags
	rf.register(c.fs, true)
	cf.register(c.fs, useZK)
	reason := c.fs.String("reason", "", "why the environment is suspended (required)")
	forD := c.fs.Duration("for", 0, "end the suspension by itself after this long (default: until resume)")
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	switch {
	case strings.TrimSpace(*reason) == "":
		return c.usageError("--reason is required: say why")
	case *forD < 0:
		return c.usageError("--for must not be negative")
	}
	t, z, code, ok := c.envZK(ctx, rf, &cf)
	if !ok {
		return code
	}
	defer z.Close()
	info := holderInfo(append([]string{"suspend"}, args...))
	now := time.Now().UTC()
	s := rmsync.Suspension{By: fmt.Sprintf("%s@%s", info.User, info.Host), Reason: *reason, Since: now}
	if *forD > 0 {
		s.Until = now.Add(*forD)
	}
	if err := rmsync.Suspend(ctx, livestore.Tree{Client: z}, t.Root(), s); err != nil {
		fmt.Fprintf(stderr, "ringmaster suspend: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "suspended %s %s\n", rf.env, s.String())
	return exitOK
}

// runResume ends the environment's suspension.
func runResume(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("resume", "resume --env ENV", stdout, stderr)
	var rf repoFlags
	var cf clusterFlags
	rf.register(c.fs, true)
	cf.register(c.fs, useZK)
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	t, z, code, ok := c.envZK(ctx, rf, &cf)
	if !ok {
		return code
	}
	defer z.Close()
	s, err := rmsync.Resume(ctx, livestore.Tree{Client: z}, t.Root())
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster resume: %v\n", err)
		return exitError
	}
	if s == nil {
		fmt.Fprintf(stdout, "%s was not suspended\n", rf.env)
		return exitOK
	}
	fmt.Fprintf(stdout, "resumed %s (it was suspended %s)\n", rf.env, s.String())
	return exitOK
}
