package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// slowRule is a CEL expression that does about fifteen million operations
// on every object: 0.27 s each under the old per-evaluation limit, 30 s for
// the examples.
const slowRule = "[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, " +
	"[1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, [1,2,3,4,5,6,7,8,9,10].all(f, a+b+c+d+e+f > 0))))))"

// repoWithSlowPolicy is a Git copy of the examples with a Policy of n slow
// rules (slow-0 …), each on every resource, in policies/slow.yaml.
func repoWithSlowPolicy(t *testing.T, n int) string {
	t.Helper()
	dir, commit := gitRepo(t)
	var b strings.Builder
	b.WriteString("apiVersion: ringmaster.io/v1\nkind: Policy\nmetadata:\n  name: slow\nspec:\n  rules:\n")
	for i := range n {
		fmt.Fprintf(&b, "    - name: slow-%d\n      expression: %q\n      message: too slow\n", i, slowRule)
	}
	if err := os.WriteFile(filepath.Join(dir, "policies/slow.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	commit("a slow policy")
	return dir
}

// TestValidateSlowPolicyIsOneFinding: a rule too slow for its budget is
// stopped and reported once per environment, naming the rule, its file:line
// and the budget; validate exits 1 instead of stalling.
func TestValidateSlowPolicyIsOneFinding(t *testing.T) {
	dir := repoWithSlowPolicy(t, 1)
	code, _, stderr := cli(t, "validate", "--repo", dir)
	if code != exitError {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
	}
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, "RM-USR:slow/slow-0") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("%d findings of the slow rule, want one per environment (3):\n%s", len(lines), stderr)
	}
	for _, l := range lines {
		if !strings.Contains(l, "policies/slow.yaml:7") || !strings.Contains(l, "deny") ||
			!strings.Contains(l, "budget") && !strings.Contains(l, "time limit") {
			t.Errorf("finding does not name the rule's file:line and its limit: %s", l)
		}
	}
}

// validateUntil runs validate on dir under ctx. It fails the test if the
// command is still running after a minute: before the policy evaluation
// looked at its context, these runs took several minutes (a slow rule cost
// 0.27 s per object).
func validateUntil(t *testing.T, ctx context.Context, dir string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"validate", "--repo", dir}, &out, &errb) }()
	select {
	case code = <-done:
	case <-time.After(time.Minute):
		t.Fatal("validate did not stop when its context ended")
	}
	return code, out.String(), errb.String()
}

// TestValidateStopsWhenCancelled: validate with slow policies stops when
// its context ends (a signal, a deadline) with exit 1 and a message that
// says why, instead of running every rule to its end.
func TestValidateStopsWhenCancelled(t *testing.T) {
	// Fifty slow rules: each environment's evaluation spends its whole
	// budget, and took minutes before budgets.
	dir := repoWithSlowPolicy(t, 50)
	t.Run("interrupt", func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		timer := time.AfterFunc(300*time.Millisecond, func() { cancel(errors.New("interrupt signal received")) })
		defer timer.Stop()
		code, stdout, stderr := validateUntil(t, ctx, dir)
		if code != exitError || !strings.Contains(stderr, "interrupt signal received") {
			t.Errorf("exit %d, want 1 with a message naming the interrupt; stderr:\n%s", code, stderr)
		}
		if strings.Contains(stdout, "valid") {
			t.Errorf("an interrupted validate reported success: %s", stdout)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		code, _, stderr := validateUntil(t, ctx, dir)
		if code != exitError || !strings.Contains(stderr, "deadline exceeded") {
			t.Errorf("exit %d, want 1 with a message naming the deadline; stderr:\n%s", code, stderr)
		}
	})
	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		code, _, stderr := validateUntil(t, ctx, dir)
		if code != exitError || !strings.Contains(stderr, "context canceled") {
			t.Errorf("exit %d, want 1 with a message; stderr:\n%s", code, stderr)
		}
	})
}
