package main

import (
	"bytes"
	"fmt"
	"strings"
	gosync "sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe to read while the output's timer
// writes to it, recording every Write call.
type lockedBuffer struct {
	mu     gosync.Mutex
	b      bytes.Buffer
	writes int
	log    *[]string // shared by stdout and stderr: the order they were written in
	name   string
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	if l.log != nil {
		*l.log = append(*l.log, l.name+":"+string(p))
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestOutputBuffersAndKeepsOrder: 10,000 lines reach standard output in a
// handful of writes, and a line to standard error comes after every line
// written before it to standard output.
func TestOutputBuffersAndKeepsOrder(t *testing.T) {
	// Both buffers append to order: output writes to them under its own
	// lock, one at a time.
	var order []string
	stdout := &lockedBuffer{log: &order, name: "out"}
	stderr := &lockedBuffer{log: &order, name: "err"}
	o := newOutput(stdout, stderr)
	for i := range 10000 {
		fmt.Fprintf(o.Stdout(), "line %05d\n", i)
	}
	fmt.Fprintln(o.Stderr(), "an error")
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if stdout.writes > 10 {
		t.Errorf("%d writes to stdout for 10,000 lines: not buffered", stdout.writes)
	}
	if got := strings.Count(stdout.String(), "\n"); got != 10000 {
		t.Fatalf("%d lines reached stdout, want 10000", got)
	}
	last := order[len(order)-1]
	if last != "err:an error\n" {
		t.Fatalf("last write %q: stderr overtook buffered stdout", last)
	}
}

// TestOutputFlushesWithinABound: a line nobody flushes still reaches the
// terminal, within flushEvery (awaited with a generous deadline), so that
// progress shows while a command waits.
func TestOutputFlushesWithinABound(t *testing.T) {
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	o := newOutput(stdout, stderr)
	defer o.Close()
	fmt.Fprintln(o.Stdout(), "waiting for the lock held by alice")
	deadline := time.Now().Add(50 * flushEvery)
	for stdout.String() == "" {
		if time.Now().After(deadline) {
			t.Fatalf("a buffered line was not flushed within %v", 50*flushEvery)
		}
		time.Sleep(flushEvery / 10)
	}
	// Flush through the io.Writer alone, as a prompt does.
	fmt.Fprint(o.Stdout(), "answer yes: ")
	flush(o.Stdout())
	if !strings.HasSuffix(stdout.String(), "answer yes: ") {
		t.Fatalf("stdout %q: the prompt was not flushed", stdout.String())
	}
}
