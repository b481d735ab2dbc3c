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
// Open, ReadFile, ReadDir and Stat of a link, or of a path through one, fail
// with a *SymlinkError naming the link and its target; ReadLink and Lstat
// describe a link without following it. Files that are neither regular
// files nor directories (FIFOs, sockets, devices) cannot be opened either:
// reading a FIFO would block.
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
	_ fs.ReadLinkFS = workFS{}
)

// resolve maps name to a path on disk and its Lstat, refusing invalid
// names, hidden entries and any symbolic link on the way. A link (or
// another irregular file) at the end is refused too, unless lstat is set.
func (w workFS) resolve(op, name string, lstat bool) (string, fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return "", nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	p := w.root
	info, err := os.Lstat(p)
	if err != nil {
		return "", nil, relative(op, name, err)
	}
	if name == "." {
		return p, info, nil
	}
	walked := ""
	elems := strings.Split(name, "/")
	for i, elem := range elems {
		if strings.EqualFold(elem, ".git") {
			return "", nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		p = filepath.Join(p, elem)
		walked = joinPath(walked, elem)
		info, err = os.Lstat(p)
		if err != nil {
			return "", nil, relative(op, name, err)
		}
		last := i == len(elems)-1
		if lstat && last {
			break
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				target = "" // an unreadable target is left out
			}
			return "", nil, &fs.PathError{Op: op, Path: name, Err: &SymlinkError{Link: walked, Target: target}}
		}
		if last && !info.Mode().IsRegular() && !info.IsDir() {
			return "", nil, &fs.PathError{Op: op, Path: name, Err: irregularError(info.Mode())}
		}
	}
	return p, info, nil
}

// irregularError is the error for a file that is neither a regular file,
// nor a directory, nor a symbolic link.
func irregularError(m fs.FileMode) error {
	return fmt.Errorf("not a regular file or directory (file mode %s)", m)
}

// Open implements fs.FS.
func (w workFS) Open(name string) (fs.File, error) {
	p, _, err := w.resolve("open", name, false)
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
	p, _, err := w.resolve("read", name, false)
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
	p, _, err := w.resolve("readdir", name, false)
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
	_, info, err := w.resolve("stat", name, false)
	if err != nil {
		return nil, err
	}
	return info, nil
}

// Lstat implements fs.ReadLinkFS: it describes name without following it
// if it is a symbolic link (a link on the way is still refused).
func (w workFS) Lstat(name string) (fs.FileInfo, error) {
	_, info, err := w.resolve("lstat", name, true)
	if err != nil {
		return nil, err
	}
	return info, nil
}

// ReadLink implements fs.ReadLinkFS: it returns the target of the symbolic
// link name as stored, never following it (nor any link on the way).
func (w workFS) ReadLink(name string) (string, error) {
	p, info, err := w.resolve("readlink", name, true)
	if err != nil {
		return "", err
	}
	if info.Mode()&fs.ModeSymlink == 0 {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: errNotLink}
	}
	target, err := os.Readlink(p)
	if err != nil {
		return "", relative("readlink", name, err)
	}
	return target, nil
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
