package gitsource

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// snapshots returns the fixture's snapshots of "main" and of the working
// tree, both of the same directory.
func snapshots(t *testing.T, f *fixture, dir string) map[string]fs.FS {
	t.Helper()
	s := open(t, filepath.Join(f.dir, dir))
	return map[string]fs.FS{
		"commit":       snapshot(t, s, "main").FS,
		"working tree": snapshot(t, s, "").FS,
	}
}

func TestFSContract(t *testing.T) {
	f := newFixture(t)
	s := open(t, f.dir)
	tests := []struct {
		name string
		fsys fs.FS
		want map[string]string
	}{
		{"commit", snapshot(t, s, "main").FS, secondFiles},
		{"other commit", snapshot(t, s, "dev").FS, devFiles},
		{"working tree", snapshot(t, s, "").FS, workFiles},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := fstest.TestFS(tt.fsys, slices.Sorted(maps.Keys(tt.want))...); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestFSWalkDir(t *testing.T) {
	f := newFixture(t)
	want := map[string][]string{
		"commit": {".", "README.md", "config", "config/flags", "config/flags/ingest.yaml",
			"config/keyspaces.yaml", "config/settings.yaml"},
		"working tree": {".", "README.md", "config", "config/flags", "config/flags/ingest.yaml",
			"config/keyspaces.yaml", "config/settings.yaml", "config/untracked.yaml"},
	}
	for name, fsys := range snapshots(t, f, "") {
		t.Run(name, func(t *testing.T) {
			var got []string
			err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.IsDir() != (p == "." || p == "config" || p == "config/flags") {
					t.Errorf("%s: IsDir() = %v", p, d.IsDir())
				}
				got = append(got, p)
				return nil
			})
			must(t, err)
			if !slices.Equal(got, want[name]) {
				t.Errorf("walk:\n got %q\nwant %q", got, want[name])
			}
		})
	}
}

func TestFSErrors(t *testing.T) {
	f := newFixture(t)
	for name, fsys := range snapshots(t, f, "") {
		t.Run(name, func(t *testing.T) {
			tests := []struct {
				op, path string
				is       error
			}{
				{"open", "missing.yaml", fs.ErrNotExist},
				{"open", "config/missing/x.yaml", fs.ErrNotExist},
				{"open", ".git/config", fs.ErrNotExist},
				{"open", ".git", fs.ErrNotExist},
				{"open", "../outside", fs.ErrInvalid},
				{"open", "/etc/passwd", fs.ErrInvalid},
				{"open", "config/", fs.ErrInvalid},
				{"open", "config/./keyspaces.yaml", fs.ErrInvalid},
				{"read", "missing.yaml", fs.ErrNotExist},
				{"readdir", "missing", fs.ErrNotExist},
				{"stat", "missing", fs.ErrNotExist},
			}
			for _, tt := range tests {
				var err error
				switch tt.op {
				case "open":
					_, err = fsys.Open(tt.path)
				case "read":
					_, err = fs.ReadFile(fsys, tt.path)
				case "readdir":
					_, err = fs.ReadDir(fsys, tt.path)
				case "stat":
					_, err = fs.Stat(fsys, tt.path)
				}
				var pe *fs.PathError
				if !errors.As(err, &pe) || pe.Path != tt.path || pe.Op != tt.op || !errors.Is(err, tt.is) {
					t.Errorf("%s %q: err = %#v, want *fs.PathError{Op: %q, Path: %q} wrapping %v", tt.op, tt.path, err, tt.op, tt.path, tt.is)
				}
			}
			if _, err := fs.ReadFile(fsys, "config"); err == nil {
				t.Error("ReadFile of a directory: no error")
			}
			if _, err := fs.ReadDir(fsys, "README.md"); err == nil {
				t.Error("ReadDir of a file: no error")
			}
			entries, err := fs.ReadDir(fsys, ".")
			must(t, err)
			for _, e := range entries {
				if e.Name() == ".git" {
					t.Error("ReadDir lists .git")
				}
			}
		})
	}
}

// links are the symbolic links linkFixture adds, with their targets.
func links(outside string) map[string]string {
	return map[string]string{
		"config/link.yaml": "keyspaces.yaml", // inside the tree
		"config/outside":   outside,          // a directory outside it
		"config/etc":       "/etc",
		"config/up":        "../../secret",
	}
}

// linkFixture is the fixture with the links of links committed on main (by
// the git binary, which stores targets as they are) and on disk. outside is
// a directory outside the repository holding secret.txt.
func linkFixture(t *testing.T) (f *fixture, outside string) {
	t.Helper()
	f = newFixture(t)
	outside = t.TempDir()
	writeFile(t, outside, "secret.txt", "secret\n")
	for link, target := range links(outside) {
		must(t, os.Symlink(target, filepath.Join(f.dir, filepath.FromSlash(link))))
		gitRun(t, f.dir, "add", link)
	}
	gitRun(t, f.dir, "commit", "-q", "-m", "links")
	return f, outside
}

func TestFSSymlinks(t *testing.T) {
	f, outside := linkFixture(t)

	for name, fsys := range snapshots(t, f, "") {
		t.Run(name, func(t *testing.T) {
			tests := []struct {
				op, path     string
				link, target string // of the *SymlinkError
			}{
				{"open", "config/link.yaml", "config/link.yaml", "keyspaces.yaml"},
				{"read", "config/link.yaml", "config/link.yaml", "keyspaces.yaml"},
				{"stat", "config/link.yaml", "config/link.yaml", "keyspaces.yaml"},
				{"open", "config/outside", "config/outside", outside},
				{"readdir", "config/outside", "config/outside", outside},
				{"read", "config/outside/secret.txt", "config/outside", outside},
				{"stat", "config/outside/secret.txt", "config/outside", outside},
				{"lstat", "config/outside/secret.txt", "config/outside", outside},
				{"readlink", "config/outside/secret.txt", "config/outside", outside},
				{"read", "config/etc/passwd", "config/etc", "/etc"},
				{"readdir", "config/etc", "config/etc", "/etc"},
				{"open", "config/up", "config/up", "../../secret"},
			}
			for _, tt := range tests {
				var err error
				switch tt.op {
				case "open":
					_, err = fsys.Open(tt.path)
				case "read":
					_, err = fs.ReadFile(fsys, tt.path)
				case "readdir":
					_, err = fs.ReadDir(fsys, tt.path)
				case "stat":
					_, err = fs.Stat(fsys, tt.path)
				case "lstat":
					_, err = fs.Lstat(fsys, tt.path)
				case "readlink":
					_, err = fs.ReadLink(fsys, tt.path)
				}
				want := tt.op + " " + tt.path + ": symlinks are not followed: " + tt.link + " -> " + tt.target
				var pe *fs.PathError
				var se *SymlinkError
				if err == nil || err.Error() != want || !errors.Is(err, ErrSymlink) || !errors.As(err, &pe) ||
					!errors.As(err, &se) || se.Link != tt.link || se.Target != tt.target {
					t.Errorf("%s %s: err = %v\nwant %s", tt.op, tt.path, err, want)
				}
			}

			// Links are listed as links, described without being followed
			// (Lstat, ReadLink), and a walk does not follow them.
			if _, ok := fsys.(fs.ReadLinkFS); !ok {
				t.Fatalf("%T does not implement fs.ReadLinkFS", fsys)
			}
			entries, err := fs.ReadDir(fsys, "config")
			must(t, err)
			types := map[string]fs.FileMode{}
			for _, e := range entries {
				types[e.Name()] = e.Type()
				info, err := e.Info()
				must(t, err)
				if info.Mode().Type() != e.Type() {
					t.Errorf("%s: Info().Mode() = %v, Type() = %v", e.Name(), info.Mode(), e.Type())
				}
			}
			for link, target := range links(outside) {
				if types[path.Base(link)] != fs.ModeSymlink {
					t.Errorf("%s: entry type %v, want a symbolic link", link, types[path.Base(link)])
				}
				got, err := fs.ReadLink(fsys, link)
				if err != nil || got != target {
					t.Errorf("ReadLink(%s) = %q, %v; want %q", link, got, err, target)
				}
				info, err := fs.Lstat(fsys, link)
				if err != nil || info.Mode().Type() != fs.ModeSymlink || info.Name() != path.Base(link) {
					t.Errorf("Lstat(%s) = %v, %v; want a symbolic link", link, info, err)
				}
			}
			_, err = fs.ReadLink(fsys, "config/keyspaces.yaml")
			var pe *fs.PathError
			if !errors.Is(err, fs.ErrInvalid) || !errors.As(err, &pe) || pe.Op != "readlink" {
				t.Errorf("ReadLink of a file: err = %v, want *fs.PathError wrapping fs.ErrInvalid", err)
			}
			info, err := fs.Lstat(fsys, "config/settings.yaml")
			if err != nil || !info.Mode().IsRegular() || info.Size() != int64(len("settings: 2\n")) {
				t.Errorf("Lstat of a file = %v, %v", info, err)
			}

			got := files(t, fsys)
			for p := range got {
				if strings.HasPrefix(p, "config/outside/") || strings.HasPrefix(p, "config/etc/") || p == "config/link.yaml" {
					t.Errorf("walk read %s through a link", p)
				}
			}
		})
	}

	t.Run("directory that is a link at the ref", func(t *testing.T) {
		dir := filepath.Join(f.dir, "config", "outside")
		must(t, os.Remove(dir))
		writeFile(t, dir, "x.yaml", "x: 1\n")
		s := open(t, dir)
		_, err := s.Snapshot(t.Context(), "main")
		want := "repository " + dir + `: ref "main" cannot be read at directory "config/outside": symlinks are not followed: config/outside -> ` + outside
		checkErr(t, err, want, ErrSymlink)
		var se *SymlinkError
		if !errors.As(err, &se) || se.Link != "config/outside" || se.Target != outside {
			t.Errorf("err = %#v, want a *SymlinkError", err)
		}
	})
}

// TestFSSymlinksLoader walks both file systems the way the loader should:
// an entry whose type is a symbolic link is named, with its target, and not
// read.
func TestFSSymlinksLoader(t *testing.T) {
	f, outside := linkFixture(t)
	want := []string{
		"symlinks are not followed: config/etc -> /etc",
		"symlinks are not followed: config/link.yaml -> keyspaces.yaml",
		"symlinks are not followed: config/outside -> " + outside,
		"symlinks are not followed: config/up -> ../../secret",
	}
	for name, fsys := range snapshots(t, f, "") {
		t.Run(name, func(t *testing.T) {
			var got []string
			err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.Type()&fs.ModeSymlink != 0 {
					target, err := fs.ReadLink(fsys, p)
					if err != nil {
						return err
					}
					got = append(got, fmt.Sprintf("symlinks are not followed: %s -> %s", p, target))
				}
				return nil
			})
			must(t, err)
			if !slices.Equal(got, want) {
				t.Errorf("walk:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestSymlinkError(t *testing.T) {
	tests := []struct {
		err  *SymlinkError
		want string
	}{
		{&SymlinkError{Link: "base/x", Target: "/etc"}, "symlinks are not followed: base/x -> /etc"},
		{&SymlinkError{Link: "base/x"}, "symlinks are not followed: base/x"},
		{&SymlinkError{Link: "base/x", Target: "\x1b[2Jgone\n"}, `symlinks are not followed: base/x -> "\x1b[2Jgone\n"`},
		{&SymlinkError{Link: "base/\xff", Target: "ok"}, `symlinks are not followed: "base/\xff" -> ok`},
		{&SymlinkError{Link: "base/é", Target: "../ü"}, "symlinks are not followed: base/é -> ../ü"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %s\nwant %s", got, tt.want)
		}
		if !errors.Is(tt.err, ErrSymlink) {
			t.Errorf("%v is not ErrSymlink", tt.err)
		}
	}
}

// TestTreeFSLongLink: a link in a Git tree is a blob of any size; its target
// is not read past maxLinkTarget.
func TestTreeFSLongLink(t *testing.T) {
	st := memory.NewStorage()
	blob := st.NewEncodedObject()
	blob.SetType(plumbing.BlobObject)
	w, err := blob.Writer()
	must(t, err)
	_, err = w.Write(bytes.Repeat([]byte("a"), maxLinkTarget+1))
	must(t, err)
	must(t, w.Close())
	bh, err := st.SetEncodedObject(blob)
	must(t, err)
	tree := &object.Tree{Entries: []object.TreeEntry{{Name: "long", Mode: filemode.Symlink, Hash: bh}}}
	o := st.NewEncodedObject()
	must(t, tree.Encode(o))
	th, err := st.SetEncodedObject(o)
	must(t, err)
	tree, err = object.GetTree(st, th)
	must(t, err)
	var mu sync.Mutex
	fsys := newTreeFS(&mu, st, tree, sig.When)

	_, err = fs.ReadLink(fsys, "long")
	want := fmt.Sprintf("readlink long: symbolic link target of %d bytes is longer than %d", maxLinkTarget+1, maxLinkTarget)
	if err == nil || err.Error() != want {
		t.Errorf("ReadLink: err = %v\nwant %s", err, want)
	}
	_, err = fsys.Open("long")
	checkErr(t, err, "open long: symlinks are not followed: long", ErrSymlink)
}
