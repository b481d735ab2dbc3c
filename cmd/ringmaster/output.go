package main

import (
	"bufio"
	"io"
	gosync "sync"
	"time"
)

// flushEvery bounds how long a line written to standard output may wait
// in the buffer: progress reaches the terminal within it.
const flushEvery = 100 * time.Millisecond

// output is the process's standard output and error. Standard output is
// buffered, so that a plan or a result table of 100,000 lines costs a few
// hundred writes and not one system call per line, and flushed when the
// buffer fills, within flushEvery of any write, before anything is written
// to standard error (the two streams keep their order on a terminal), and
// on Flush. Invariant: once Flush has returned, every byte written before
// it has reached the underlying writer.
type output struct {
	mu      gosync.Mutex
	buf     *bufio.Writer
	errw    io.Writer
	pending bool // buf holds bytes and a timed flush is scheduled
	timer   *time.Timer
	err     error // the first error of the underlying stdout
}

func newOutput(stdout, stderr io.Writer) *output {
	o := &output{buf: bufio.NewWriterSize(stdout, 64<<10), errw: stderr}
	o.timer = time.AfterFunc(time.Hour, o.flushTimed)
	o.timer.Stop()
	return o
}

// Stdout is the buffered standard output.
func (o *output) Stdout() io.Writer { return stdoutWriter{o} }

// Stderr writes through at once, after what standard output holds.
func (o *output) Stderr() io.Writer { return stderrWriter{o} }

// Flush writes out everything buffered.
func (o *output) Flush() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.flushLocked()
}

// Close flushes and stops the timer; writes after Close still work but
// are flushed only by Flush.
func (o *output) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.timer.Stop()
	o.pending = false
	return o.flushLocked()
}

func (o *output) flushLocked() error {
	if err := o.buf.Flush(); err != nil && o.err == nil {
		o.err = err
	}
	return o.err
}

func (o *output) flushTimed() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pending = false
	_ = o.flushLocked()
}

type stdoutWriter struct{ o *output }

func (w stdoutWriter) Write(p []byte) (int, error) {
	o := w.o
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.buf.Write(p)
	if err != nil {
		o.err = err
		return n, err
	}
	if o.buf.Buffered() > 0 && !o.pending {
		o.pending = true
		o.timer.Reset(flushEvery)
	}
	return n, nil
}

// Flush lets code holding only the io.Writer (a prompt before it reads an
// answer) push its output out.
func (w stdoutWriter) Flush() error { return w.o.Flush() }

type stderrWriter struct{ o *output }

func (w stderrWriter) Write(p []byte) (int, error) {
	o := w.o
	o.mu.Lock()
	defer o.mu.Unlock()
	_ = o.flushLocked()
	return o.errw.Write(p)
}

// flush pushes out what w buffers, when it buffers.
func flush(w io.Writer) {
	if f, ok := w.(interface{ Flush() error }); ok {
		_ = f.Flush()
	}
}
