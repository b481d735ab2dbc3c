package gitsource

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// workFS is a read-only file system over a local directory as it is on
// disk, with the same rules as a snapshot of a commit: ".git" entries (in
// any case) are hidden, and symbolic links are listed but never followed, so
// a working-tree snapshot cannot read outside its directory (a pull request
// adding a link to a secret file must not get it rendered into a comment).
//
// It reads the disk at each call; it does not see Git's index or ignore
// rules, so untracked and ignored files are included.
type workFS struct {
	root string // absolute, symlink-free
}

var (
	_ fs.ReadDirFS  = workFS{}
	_ fs.ReadFileFS = workFS{}
	_ fs.StatFS     = workFS{}
)

// resolve maps name to a path on disk, refusing invalid names, hidden
// entries and any symbolic link on the way or at the end.
func (w workFS) resolve(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return w.root, nil
	}
	p := w.root
	walked := ""
	elems := strings.Split(name, "/")
	for i, elem := range elems {
		if strings.EqualFold(elem, ".git") {
			return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		p = filepath.Join(p, elem)
		walked = joinPath(walked, elem)
		info, err := os.Lstat(p)
		if err != nil {
			return "", relative(op, name, err)
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			if i == len(elems)-1 {
				return "", &fs.PathError{Op: op, Path: name, Err: ErrSymlink}
			}
			return "", &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%q is a symbolic link, and %w", walked, ErrSymlink)}
		}
	}
	return p, nil
}

// Open implements fs.FS.
func (w workFS) Open(name string) (fs.File, error) {
	p, err := w.resolve("open", name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, relative("open", name, err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, relative("open", name, err)
	}
	if !info.IsDir() {
		return f, nil
	}
	return &workDir{File: f, name: name}, nil
}

// ReadFile implements fs.ReadFileFS.
func (w workFS) ReadFile(name string) ([]byte, error) {
	p, err := w.resolve("read", name)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, relative("read", name, err)
	}
	return data, nil
}

// ReadDir implements fs.ReadDirFS: entries sorted by name, ".git" hidden.
func (w workFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := w.resolve("readdir", name)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, relative("readdir", name, err)
	}
	return slices.DeleteFunc(entries, hidden), nil
}

// Stat implements fs.StatFS. Like Open, it refuses symbolic links.
func (w workFS) Stat(name string) (fs.FileInfo, error) {
	p, err := w.resolve("stat", name)
	if err != nil {
		return nil, err
	}
	info, err := os.Lstat(p)
	if err != nil {
		return nil, relative("stat", name, err)
	}
	return info, nil
}

func hidden(e fs.DirEntry) bool { return strings.EqualFold(e.Name(), ".git") }

// relative rewrites an *fs.PathError from the os package to carry the
// io/fs name instead of the absolute path.
func relative(op, name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: op, Path: name, Err: pe.Err}
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// workDir is an opened directory of a workFS: its listing hides ".git".
type workDir struct {
	*os.File
	name    string
	entries []fs.DirEntry // read on first ReadDir
	pos     int
	read    bool
}

// ReadDir implements fs.ReadDirFile.
func (d *workDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.read {
		entries, err := d.File.ReadDir(-1)
		if err != nil {
			return nil, relative("readdir", d.name, err)
		}
		slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
		d.entries = slices.DeleteFunc(entries, hidden)
		d.read = true
	}
	return readDirAt(d.entries, &d.pos, n)
}
