package gitsource

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

const (
	modeDir     = filemode.Dir
	modeSymlink = filemode.Symlink
)

var (
	errIsDir   = errors.New("is a directory")
	errNotDir  = errors.New("not a directory")
	errNotLink = fmt.Errorf("not a symbolic link: %w", fs.ErrInvalid)
)

// maxLinkTarget bounds the target of a symbolic link that is read (Linux's
// PATH_MAX): in a Git tree a link is a blob of any size.
const maxLinkTarget = 4096

// treeFS is a read-only file system over a Git tree. Paths follow io/fs
// rules; entries named ".git" (in any case) and entries whose names are not
// valid io/fs path elements are hidden; symbolic links and submodules are
// listed but cannot be opened (a link's Open, ReadFile, ReadDir and Stat, or
// any of them through a link, fail with a *SymlinkError naming it and its
// target); ReadLink and Lstat describe a link without following it. Every
// entry's ModTime is the commit's committer time.
//
// All reads take mu, the lock of the Source the tree belongs to.
type treeFS struct {
	mu      *sync.Mutex
	st      storer.EncodedObjectStorer
	root    plumbing.Hash
	modTime time.Time
	trees   map[plumbing.Hash]*object.Tree // decoded trees, guarded by mu
}

var (
	_ fs.ReadDirFS  = (*treeFS)(nil)
	_ fs.ReadFileFS = (*treeFS)(nil)
	_ fs.StatFS     = (*treeFS)(nil)
	_ fs.ReadLinkFS = (*treeFS)(nil)
)

func newTreeFS(mu *sync.Mutex, st storer.EncodedObjectStorer, root *object.Tree, modTime time.Time) *treeFS {
	return &treeFS{
		mu:      mu,
		st:      st,
		root:    root.Hash,
		modTime: modTime,
		trees:   map[plumbing.Hash]*object.Tree{root.Hash: root},
	}
}

// node is one entry of the tree: the root ("."), a directory, a file, a
// symbolic link or a submodule.
type node struct {
	name string // base name
	mode filemode.FileMode
	hash plumbing.Hash
}

// Open implements fs.FS. A file's content is read whole when it is opened.
func (f *treeFS) Open(name string) (fs.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.lookup("open", name)
	if err != nil {
		return nil, err
	}
	info, err := f.info("open", name, n)
	if err != nil {
		return nil, err
	}
	if n.mode == modeDir {
		entries, err := f.entries("open", name, n)
		if err != nil {
			return nil, err
		}
		return &dirFile{name: name, info: info, entries: entries}, nil
	}
	data, err := f.blob("open", name, n)
	if err != nil {
		return nil, err
	}
	return &blobFile{info: info, Reader: bytes.NewReader(data)}, nil
}

// ReadFile implements fs.ReadFileFS. The caller owns the returned slice.
func (f *treeFS) ReadFile(name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.lookup("read", name)
	if err != nil {
		return nil, err
	}
	if n.mode == modeDir {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errIsDir}
	}
	return f.blob("read", name, n)
}

// ReadDir implements fs.ReadDirFS: entries sorted by name.
func (f *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	if n.mode != modeDir {
		if err := f.unsupported(name, n); err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
		}
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errNotDir}
	}
	return f.entries("readdir", name, n)
}

// Stat implements fs.StatFS. Like Open, it refuses symbolic links.
func (f *treeFS) Stat(name string) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return f.info("stat", name, n)
}

// Lstat implements fs.ReadLinkFS: it describes name without following it
// if it is a symbolic link (a link on the way is still refused).
func (f *treeFS) Lstat(name string) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.lookup("lstat", name)
	if err != nil {
		return nil, err
	}
	return f.describe("lstat", name, n)
}

// ReadLink implements fs.ReadLinkFS: it returns the target of the symbolic
// link name as stored, never following it (nor any link on the way).
func (f *treeFS) ReadLink(name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.lookup("readlink", name)
	if err != nil {
		return "", err
	}
	if n.mode != modeSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: errNotLink}
	}
	target, err := f.linkTarget(n.hash)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return target, nil
}

// linkTarget reads the target of a symbolic link. The caller holds f.mu.
func (f *treeFS) linkTarget(h plumbing.Hash) (string, error) { return linkTarget(f.st, h) }

// linkTarget reads the target of the symbolic link whose blob is h: the
// blob's content, at most maxLinkTarget bytes. The caller holds the lock of
// st.
func linkTarget(st storer.EncodedObjectStorer, h plumbing.Hash) (string, error) {
	o, err := st.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return "", fmt.Errorf("read blob %s: %w", h, err)
	}
	if o.Size() > maxLinkTarget {
		return "", fmt.Errorf("symbolic link target of %d bytes is longer than %d", o.Size(), maxLinkTarget)
	}
	r, err := o.Reader()
	if err != nil {
		return "", fmt.Errorf("read blob %s: %w", h, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxLinkTarget))
	if err != nil {
		return "", fmt.Errorf("read blob %s: %w", h, err)
	}
	return string(data), nil
}

// symlinkError is the *SymlinkError for the link n at path link (the target
// is left empty if it cannot be read). The caller holds f.mu.
func (f *treeFS) symlinkError(link string, n node) *SymlinkError {
	target, err := f.linkTarget(n.hash)
	if err != nil {
		target = ""
	}
	return &SymlinkError{Link: link, Target: target}
}

// unsupported returns the error for entries that cannot be read (n at path
// name), or nil. The caller holds f.mu.
func (f *treeFS) unsupported(name string, n node) error {
	switch m := n.mode; {
	case m == modeSymlink:
		return f.symlinkError(name, n)
	case m == filemode.Submodule:
		return ErrSubmodule
	case m == modeDir || m.IsFile():
		return nil
	default:
		return fmt.Errorf("unsupported Git file mode %s", m)
	}
}

// lookup finds name, refusing to go through a symbolic link. It does not
// refuse name itself being a link or submodule; info and blob do. The
// caller holds f.mu.
func (f *treeFS) lookup(op, name string) (node, error) {
	if !fs.ValidPath(name) {
		return node{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	n := node{name: ".", mode: modeDir, hash: f.root}
	if name == "." {
		return n, nil
	}
	walked := ""
	for _, elem := range strings.Split(name, "/") {
		switch n.mode {
		case modeDir:
		case modeSymlink:
			return node{}, &fs.PathError{Op: op, Path: name, Err: f.symlinkError(walked, n)}
		default:
			return node{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		t, err := f.tree(n.hash)
		if err != nil {
			return node{}, &fs.PathError{Op: op, Path: name, Err: err}
		}
		e, ok := findEntry(t, elem)
		if !ok {
			return node{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		n = node{name: elem, mode: e.Mode, hash: e.Hash}
		walked = joinPath(walked, elem)
	}
	return n, nil
}

// tree decodes (once) the tree with hash h. The caller holds f.mu.
func (f *treeFS) tree(h plumbing.Hash) (*object.Tree, error) {
	if t, ok := f.trees[h]; ok {
		return t, nil
	}
	t, err := object.GetTree(f.st, h)
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", h, err)
	}
	f.trees[h] = t
	return t, nil
}

// info describes n, refusing links and submodules. The caller holds f.mu.
func (f *treeFS) info(op, name string, n node) (fs.FileInfo, error) {
	if err := f.unsupported(name, n); err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return f.describe(op, name, n)
}

// describe is info without the refusal, for directory listings. The caller
// holds f.mu.
func (f *treeFS) describe(op, name string, n node) (fs.FileInfo, error) {
	info := &fileInfo{name: n.name, mode: fsMode(n.mode), modTime: f.modTime}
	if n.mode.IsFile() {
		size, err := f.size(n.hash)
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
		info.size = size
	}
	return info, nil
}

func (f *treeFS) size(h plumbing.Hash) (int64, error) {
	type sizer interface {
		EncodedObjectSize(plumbing.Hash) (int64, error)
	}
	if s, ok := f.st.(sizer); ok {
		if size, err := s.EncodedObjectSize(h); err == nil {
			return size, nil
		}
	}
	o, err := f.st.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return 0, fmt.Errorf("read blob %s: %w", h, err)
	}
	return o.Size(), nil
}

// blob reads the content of the regular file n. The caller holds f.mu.
func (f *treeFS) blob(op, name string, n node) ([]byte, error) {
	if err := f.unsupported(name, n); err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	o, err := f.st.EncodedObject(plumbing.BlobObject, n.hash)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("read blob %s: %w", n.hash, err)}
	}
	r, err := o.Reader()
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("read blob %s: %w", n.hash, err)}
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("read blob %s: %w", n.hash, err)}
	}
	return data, nil
}

// entries lists the directory n, sorted by name. The caller holds f.mu.
func (f *treeFS) entries(op, name string, n node) ([]fs.DirEntry, error) {
	t, err := f.tree(n.hash)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	list := make([]fs.DirEntry, 0, len(t.Entries))
	for _, e := range t.Entries {
		if visible(e.Name) {
			list = append(list, &dirEntry{fsys: f, path: joinPath(name, e.Name),
				node: node{name: e.Name, mode: e.Mode, hash: e.Hash}})
		}
	}
	// Git orders a directory as if its name ended in "/"; io/fs wants
	// plain name order.
	slices.SortFunc(list, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return list, nil
}

// findEntry returns t's visible entry called elem.
func findEntry(t *object.Tree, elem string) (object.TreeEntry, bool) {
	if !visible(elem) {
		return object.TreeEntry{}, false
	}
	for _, e := range t.Entries {
		if e.Name == elem {
			return e, true
		}
	}
	return object.TreeEntry{}, false
}

// visible reports whether a tree entry called name is shown: never ".git",
// nor a name that is not one valid io/fs path element (a damaged or hostile
// tree could hold "..", "a/b" or "").
func visible(name string) bool {
	return name != "." && !strings.Contains(name, "/") && fs.ValidPath(name) && !strings.EqualFold(name, ".git")
}

// fsMode maps a Git file mode to an io/fs one.
func fsMode(m filemode.FileMode) fs.FileMode {
	switch m {
	case modeDir:
		return fs.ModeDir | 0o755
	case filemode.Executable:
		return 0o755
	case filemode.Regular, filemode.Deprecated:
		return 0o644
	case modeSymlink:
		return fs.ModeSymlink | 0o777
	default:
		return fs.ModeIrregular | 0o444
	}
}

type fileInfo struct {
	name    string
	size    int64
	mode    fs.FileMode
	modTime time.Time
}

func (i *fileInfo) Name() string       { return i.name }
func (i *fileInfo) Size() int64        { return i.size }
func (i *fileInfo) Mode() fs.FileMode  { return i.mode }
func (i *fileInfo) ModTime() time.Time { return i.modTime }
func (i *fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *fileInfo) Sys() any           { return nil }
func (i *fileInfo) String() string     { return fs.FormatFileInfo(i) }

type dirEntry struct {
	fsys *treeFS
	path string
	node node
}

func (e *dirEntry) Name() string      { return e.node.name }
func (e *dirEntry) IsDir() bool       { return e.node.mode == modeDir }
func (e *dirEntry) Type() fs.FileMode { return fsMode(e.node.mode).Type() }
func (e *dirEntry) String() string    { return fs.FormatDirEntry(e) }

// Info describes the entry without following it: a symbolic link is
// described as a link, as fs.DirEntry requires.
func (e *dirEntry) Info() (fs.FileInfo, error) {
	e.fsys.mu.Lock()
	defer e.fsys.mu.Unlock()
	return e.fsys.describe("stat", e.path, e.node)
}

// blobFile is an opened regular file; its content is in memory.
type blobFile struct {
	info fs.FileInfo
	*bytes.Reader
}

func (b *blobFile) Stat() (fs.FileInfo, error) { return b.info, nil }
func (b *blobFile) Close() error               { return nil }

// dirFile is an opened directory.
type dirFile struct {
	name    string
	info    fs.FileInfo
	entries []fs.DirEntry
	pos     int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Close() error               { return nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errIsDir}
}

// ReadDir implements fs.ReadDirFile.
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	return readDirAt(d.entries, &d.pos, n)
}

// readDirAt serves entries from *pos by the contract of fs.ReadDirFile.
func readDirAt(entries []fs.DirEntry, pos *int, n int) ([]fs.DirEntry, error) {
	rest := entries[*pos:]
	if n <= 0 {
		*pos = len(entries)
		return slices.Clone(rest), nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	*pos += n
	return slices.Clone(rest[:n]), nil
}
