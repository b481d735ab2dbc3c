package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/itest"
)

// The whole-command benchmarks time what a user runs: the ringmaster
// process from start to exit (render, connect, read, diff, plan output,
// lock, writes, status), side by side with the floor of the same sync
// written directly with go-zookeeper (internal/baresync) and, when
// RINGMASTER_BENCH_KAZOO names a Python with kazoo and PyYAML (make bench
// sets one up), a careful kazoo script (internal/baresync/kazoo_sync.py).
// Each round runs every program once, interleaved, so that the machine's
// noise falls on all of them alike; the medians of the rounds are reported
// as metrics, which internal/benchreport compares.

// BenchmarkCommand10k is issue 13's workload: 10,000 ConfigEntries of
// ~110-byte values in 100 files, with the kazoo peer.
func BenchmarkCommand10k(b *testing.B) { benchCommands(b, 10000, true) }

// BenchmarkCommand100k is the same at 100,000: the create, the updates,
// the no-change runs and the prune each in one command, under 1 GiB. The
// kazoo peer sits this one out (a round of it takes a minute).
func BenchmarkCommand100k(b *testing.B) { benchCommands(b, 100000, false) }

// commandRun is one finished process.
type commandRun struct {
	wall           time.Duration
	peakMB         float64
	code           int
	stdout, stderr string
}

// benchWorkload is one repository and three roots, one per program.
type benchWorkload struct {
	n                    int
	repo, entries        string
	servers              string
	rmArgs               []string // --repo, --env, limits
	bare, kazoo, kazooPy string
	bareRoot, kazooRoot  string
	peakMB               float64 // the largest ringmaster process so far
	kazooMissingReported bool
}

func newBenchWorkload(b *testing.B, n int, withPeer bool) *benchWorkload {
	b.Helper()
	z := itest.ZooKeeper(b)
	w := &benchWorkload{
		n: n, repo: b.TempDir(), servers: strings.Join(z.Servers, ","),
		bare: buildCommand(b, "../../internal/baresync"), kazooPy: os.Getenv("RINGMASTER_BENCH_KAZOO"),
		bareRoot: z.Path("bare"), kazooRoot: z.Path("kazoo"),
	}
	w.entries = filepath.Join(w.repo, "base", "bulk")
	if !withPeer {
		w.kazooPy, w.kazooMissingReported = "", true
	}
	if w.kazooPy != "" {
		w.kazoo = filepath.Join("..", "..", "internal", "baresync", "kazoo_sync.py")
	}
	files := map[string]string{
		"ringmaster.yaml":                     itest.RepositoryManifest,
		"environments/bench/environment.yaml": itest.EnvironmentManifest(b, "bench", z.Path("rm"), "  prune: true\n"),
	}
	for rel, content := range files {
		p := filepath.Join(w.repo, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	// 100,000 documents are ~2M YAML nodes and ~19 MB: past the default
	// limits, which a user of that size raises the same way.
	w.rmArgs = []string{"--repo", w.repo, "--env", "bench", "--max-nodes", "4000000", "--max-repo-bytes", "67108864"}
	binary(b) // built before anything is timed
	return w
}

// run starts name with args, waits for it and measures it.
func (w *benchWorkload) run(b *testing.B, name string, args ...string) commandRun {
	b.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := commandRun{wall: time.Since(start), stdout: stdout.String(), stderr: stderr.String()}
	if cmd.ProcessState == nil {
		b.Fatalf("%s: %v", name, err)
	}
	r.code = cmd.ProcessState.ExitCode()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.peakMB = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return r
}

// ringmaster runs one ringmaster command and checks its exit code and
// that its output holds want.
func (w *benchWorkload) ringmaster(b *testing.B, want string, wantCode int, cmd string, extra ...string) time.Duration {
	b.Helper()
	args := append(append([]string{cmd}, w.rmArgs...), extra...)
	r := w.run(b, binary(b), args...)
	if r.code != wantCode || !strings.Contains(r.stdout, want) {
		b.Fatalf("ringmaster %s: exit %d (want %d), output without %q:\n%s\n%s", strings.Join(args, " "), r.code, wantCode, want, tail(r.stdout, 2000), r.stderr)
	}
	w.peakMB = max(w.peakMB, r.peakMB)
	return r.wall
}

// floor runs the bare go-zookeeper sync against its root and checks the
// counts it prints.
func (w *benchWorkload) floor(b *testing.B, want string) time.Duration {
	b.Helper()
	r := w.run(b, w.bare, "-servers", w.servers, "-root", w.bareRoot, "-dir", w.entries)
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		b.Fatalf("baresync: exit %d, %q, want %q\n%s", r.code, r.stdout, want, r.stderr)
	}
	return r.wall
}

// peer runs the kazoo script, when there is a Python to run it with.
func (w *benchWorkload) peer(b *testing.B, want string) (time.Duration, bool) {
	b.Helper()
	if w.kazoo == "" {
		if !w.kazooMissingReported {
			b.Log("RINGMASTER_BENCH_KAZOO is not set: no kazoo peer in this run (make bench sets it)")
			w.kazooMissingReported = true
		}
		return 0, false
	}
	r := w.run(b, w.kazooPy, w.kazoo, "--servers", w.servers, "--root", w.kazooRoot, "--dir", w.entries)
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		b.Fatalf("kazoo_sync: exit %d, %q, want %q\n%s", r.code, r.stdout, want, r.stderr)
	}
	return r.wall, true
}

func (w *benchWorkload) write(b *testing.B, version string) {
	b.Helper()
	if err := writeEntryFiles(w.entries, w.n, version); err != nil {
		b.Fatal(err)
	}
}

func benchCommands(b *testing.B, n int, withPeer bool) {
	w := newBenchWorkload(b, n, withPeer)
	metrics := map[string][]time.Duration{}
	add := func(name string, d time.Duration) { metrics[name] = append(metrics[name], d) }

	w.write(b, "v0")
	add("create-s", w.ringmaster(b, fmt.Sprintf("Plan: %d to create, 0 to update, 0 to delete", n), exitOK, "apply", "--auto-approve"))
	w.floor(b, fmt.Sprintf("%d created", n))
	w.peer(b, fmt.Sprintf("%d created", n))

	round := 0
	for b.Loop() {
		round++
		b.StopTimer()
		w.write(b, fmt.Sprintf("v%d", round))
		b.StartTimer()
		updated := fmt.Sprintf("0 created, %d updated, 0 deleted", n)
		add("apply-update-s", w.ringmaster(b, fmt.Sprintf("Plan: 0 to create, %d to update, 0 to delete", n), exitOK, "apply", "--auto-approve"))
		add("bare-update-s", w.floor(b, updated))
		if d, ok := w.peer(b, updated); ok {
			add("kazoo-update-s", d)
		}
		add("apply-nochange-s", w.ringmaster(b, "No changes", exitOK, "apply", "--auto-approve"))
		add("diff-nochange-s", w.ringmaster(b, "No changes", exitOK, "diff", "--detailed-exitcode"))
		add("bare-nochange-s", w.floor(b, fmt.Sprintf("0 created, 0 updated, 0 deleted, %d unchanged", n)))
	}
	b.StopTimer()

	// The prune, and diff and status after it.
	if err := os.RemoveAll(w.entries); err != nil {
		b.Fatal(err)
	}
	add("prune-s", w.ringmaster(b, fmt.Sprintf("Plan: 0 to create, 0 to update, %d to delete", n), exitOK, "apply", "--auto-approve"))
	w.ringmaster(b, "No changes", exitOK, "diff", "--detailed-exitcode")
	w.ringmaster(b, "True (Succeeded)", exitOK, "status")

	for name, ds := range metrics {
		b.ReportMetric(median(ds).Seconds(), name)
	}
	b.ReportMetric(w.peakMB, "peak-RSS-MB")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
