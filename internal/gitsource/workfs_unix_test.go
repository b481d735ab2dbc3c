//go:build unix

package gitsource

import (
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWorkFSFIFO: a FIFO in the working tree is refused, not read (reading
// it would block until something writes to it).
func TestWorkFSFIFO(t *testing.T) {
	f := newFixture(t)
	must(t, syscall.Mkfifo(filepath.Join(f.dir, "config", "pipe.yaml"), 0o644))
	fsys := snapshot(t, open(t, f.dir), "").FS

	want := "not a regular file or directory (file mode prw-r--r--)"
	// Stat first: before the fix it succeeded, and Open or ReadFile would
	// then block.
	_, err := fs.Stat(fsys, "config/pipe.yaml")
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Err.Error() != want {
		t.Fatalf("Stat: err = %v, want %s", err, want)
	}
	_, err = fsys.Open("config/pipe.yaml")
	checkErr(t, err, "open config/pipe.yaml: "+want, nil)
	_, err = fs.ReadFile(fsys, "config/pipe.yaml")
	checkErr(t, err, "read config/pipe.yaml: "+want, nil)

	info, err := fs.Lstat(fsys, "config/pipe.yaml")
	if err != nil || info.Mode().Type() != fs.ModeNamedPipe {
		t.Errorf("Lstat = %v, %v; want a named pipe", info, err)
	}
}
