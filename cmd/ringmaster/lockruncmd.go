package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strconv"
	"syscall"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
)

// lockRunGrace is how long a command told to stop (SIGTERM) has before
// it is killed.
const lockRunGrace = 10 * time.Second

// runLockRun holds the named lock of an environment while a command runs
// (lock run): the recipe apply uses, for anyone's jobs.
func runLockRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCmdline("lock run", "lock run --env ENV NAME [--timeout D] -- COMMAND ARGS...", stdout, stderr)
	var rf repoFlags
	var cf clusterFlags
	rf.register(c.fs, true)
	timeout := c.fs.Duration("timeout", 0, "give up waiting for the lock after this long (0: wait as long as it takes)")
	grace := c.fs.Duration("grace", lockRunGrace, "how long the command has to stop after SIGTERM before it is killed")
	cf.register(c.fs, useZK)
	flagArgs, command := splitCommand(args)
	pos, code, ok := c.parse(flagArgs, 1, 1)
	if !ok {
		return code
	}
	name := pos[0]
	switch {
	case len(command) == 0:
		return c.usageError("give the command after --")
	case state.CheckSegment(name) != nil:
		return c.usageError("lock name %q: %v", name, state.CheckSegment(name))
	case path.Join(state.LocksDir, name) == state.ApplyLock:
		return c.usageError("the lock %q is apply's: choose another name", name)
	case *grace <= 0 || *timeout < 0:
		return c.usageError("--grace must be positive and --timeout not negative")
	}
	t, z, code, ok := c.envZK(ctx, rf, &cf)
	if !ok {
		return code
	}
	defer z.Close()
	dir := path.Join(t.Root(), state.LocksDir, name)
	lctx := ctx
	if *timeout > 0 {
		var cancel context.CancelFunc
		lctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	lock, err := z.Lock(lctx, dir, holderInfo(append([]string{"lock", "run"}, args...)))
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster lock run: %v\n", err)
		return exitError
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = lock.Unlock(uctx)
	}()
	code, _ = runHeld(ctx, lock, command, *grace, stdout, stderr)
	return code
}

// runHeld runs command while lock is held: with the fencing token (the
// lock node's sequence number) in RINGMASTER_FENCING_TOKEN and the node in
// RINGMASTER_LOCK. When the lock is lost or ctx ends it stops the command
// (SIGTERM, then SIGKILL after grace). It returns the exit code (0: the
// command succeeded) and whether the lock was lost. The command dies with
// this process (a parent killed leaves no orphan holding what it held).
func runHeld(ctx context.Context, lock *zk.Lock, command []string, grace time.Duration, stdout, stderr io.Writer) (int, bool) {
	token, err := lock.Token()
	if err != nil {
		fmt.Fprintf(stderr, "ringmaster: %v\n", err)
		return exitError, false
	}
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	cmd.Env = append(os.Environ(), "RINGMASTER_FENCING_TOKEN="+strconv.FormatInt(token, 10), "RINGMASTER_LOCK="+lock.Path())
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "ringmaster: start %s: %v\n", command[0], err)
		return exitError, false
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return commandResult(command[0], err, stderr), false
	case <-lock.Lost():
		fmt.Fprintf(stderr, "ringmaster: lock %s lost (%v): stopping %s\n", lock.Path(), lock.Err(), command[0])
		stopCommand(cmd, done, grace)
		return exitError, true
	case <-ctx.Done():
		fmt.Fprintf(stderr, "ringmaster: interrupted: stopping %s\n", command[0])
		stopCommand(cmd, done, grace)
		return exitError, false
	}
}

// splitCommand splits a recipe's arguments at the first "--": its own
// before, the command it runs after (nil when there is no "--").
func splitCommand(args []string) (own, command []string) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:]
		}
	}
	return args, nil
}

// stopCommand sends cmd SIGTERM and, after grace, SIGKILL; it returns once
// the command has ended.
func stopCommand(cmd *exec.Cmd, done <-chan error, grace time.Duration) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// commandResult is lock run's exit code for the command's end: 0 when it
// succeeded, 1 (saying how it ended) otherwise.
func commandResult(name string, err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		fmt.Fprintf(stderr, "ringmaster lock run: %s exited with status %d\n", name, exit.ExitCode())
	} else {
		fmt.Fprintf(stderr, "ringmaster lock run: %s: %v\n", name, err)
	}
	return exitError
}
