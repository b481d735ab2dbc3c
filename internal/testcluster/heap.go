package testcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// JVMHeap is a server JVM's heap as the JDK's jcmd reports it, in bytes.
type JVMHeap struct {
	// Used and Committed sum every generation (GC.heap_info).
	Used, Committed int64
	// OldUsed and OldCommitted are the old (tenured) generation's, where
	// what lives long ends up (the data tree, retained transactions); 0
	// under a collector whose report has no separate old generation.
	OldUsed, OldCommitted int64
	// Max is the heap's limit, -Xmx (VM.flags MaxHeapSize).
	Max int64
}

// String reads "used 120.3 of 512.0 MiB (old 100.2 of 340.0 MiB)".
func (h JVMHeap) String() string {
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	s := fmt.Sprintf("used %.1f of %.1f MiB", mib(h.Used), mib(h.Max))
	if h.OldCommitted > 0 {
		s += fmt.Sprintf(" (old generation %.1f of %.1f MiB committed)", mib(h.OldUsed), mib(h.OldCommitted))
	}
	return s
}

// Heap reports the heap of server name's JVM through jcmd. With full, it
// first runs a full collection (GC.run), so that Used is what is live
// rather than what the collector has not reclaimed yet; the server pauses
// for that collection.
func (c *Cluster) Heap(ctx context.Context, name string, full bool) (JVMHeap, error) {
	pid := c.serverPID(name)
	if pid == 0 {
		return JVMHeap{}, fmt.Errorf("heap of %s: the server does not run", name)
	}
	if full {
		if _, err := c.jcmd(ctx, pid, "GC.run"); err != nil {
			return JVMHeap{}, fmt.Errorf("heap of %s: %w", name, err)
		}
	}
	info, err := c.jcmd(ctx, pid, "GC.heap_info")
	if err != nil {
		return JVMHeap{}, fmt.Errorf("heap of %s: %w", name, err)
	}
	h, err := parseHeapInfo(info)
	if err != nil {
		return JVMHeap{}, fmt.Errorf("heap of %s (pid %d): %w", name, pid, err)
	}
	flags, err := c.jcmd(ctx, pid, "VM.flags")
	if err != nil {
		return JVMHeap{}, fmt.Errorf("heap of %s: %w", name, err)
	}
	if h.Max, err = maxHeapSize(flags); err != nil {
		return JVMHeap{}, fmt.Errorf("heap of %s (pid %d): %w", name, pid, err)
	}
	return h, nil
}

// jcmd runs the JDK's jcmd against pid and returns its output.
func (c *Cluster) jcmd(ctx context.Context, pid int, args ...string) (string, error) {
	bin := "jcmd"
	if home := os.Getenv("JAVA_HOME"); home != "" {
		if p := filepath.Join(home, "bin", "jcmd"); fileExists(p) {
			bin = p
		}
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{strconv.Itoa(pid)}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("jcmd %d %s: %w: %s", pid, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// heapLine matches a generation (or a whole heap) in GC.heap_info:
// " tenured generation   total 43712K, used 7463K [...".
var heapLine = regexp.MustCompile(`^\s*(.*?)\s+total (\d+)K, used (\d+)K`)

// parseHeapInfo reads jcmd GC.heap_info output. Metaspace lines ("used
// 14921K, committed ...") are not heap and do not match.
func parseHeapInfo(out string) (JVMHeap, error) {
	var h JVMHeap
	found := false
	for _, line := range strings.Split(out, "\n") {
		m := heapLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		total, err1 := strconv.ParseInt(m[2], 10, 64)
		used, err2 := strconv.ParseInt(m[3], 10, 64)
		if err1 != nil || err2 != nil {
			return JVMHeap{}, fmt.Errorf("GC.heap_info line %q: bad figures", strings.TrimSpace(line))
		}
		found = true
		h.Committed += total << 10
		h.Used += used << 10
		name := strings.ToLower(m[1])
		if strings.Contains(name, "tenured") || strings.Contains(name, "old") {
			h.OldCommitted += total << 10
			h.OldUsed += used << 10
		}
	}
	if !found {
		return JVMHeap{}, fmt.Errorf("no heap figures in GC.heap_info output: %q", strings.TrimSpace(out))
	}
	return h, nil
}

// maxHeapSize reads -XX:MaxHeapSize from jcmd VM.flags output.
func maxHeapSize(flags string) (int64, error) {
	for _, f := range strings.Fields(flags) {
		if v, ok := strings.CutPrefix(f, "-XX:MaxHeapSize="); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VM.flags MaxHeapSize %q: %w", v, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("no MaxHeapSize in VM.flags output: %q", strings.TrimSpace(flags))
}
