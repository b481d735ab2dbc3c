package gitsource

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	git "github.com/go-git/go-git/v5"
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

func TestFSSymlinks(t *testing.T) {
	f := newFixture(t)
	must(t, os.Symlink("keyspaces.yaml", filepath.Join(f.dir, "config", "link.yaml")))
	outside := t.TempDir()
	writeFile(t, outside, "secret.txt", "secret\n")
	must(t, os.Symlink(outside, filepath.Join(f.dir, "config", "outside")))
	wt, err := f.repo.Worktree()
	must(t, err)
	for _, p := range []string{"config/link.yaml", "config/outside"} {
		_, err := wt.Add(p)
		must(t, err)
	}
	_, err = wt.Commit("links", &git.CommitOptions{Author: &sig, Committer: &sig})
	must(t, err)

	for name, fsys := range snapshots(t, f, "") {
		t.Run(name, func(t *testing.T) {
			tests := []struct {
				op, path, want string
			}{
				{"open", "config/link.yaml", "open config/link.yaml: symbolic links are not supported"},
				{"read", "config/link.yaml", "read config/link.yaml: symbolic links are not supported"},
				{"stat", "config/link.yaml", "stat config/link.yaml: symbolic links are not supported"},
				{"open", "config/outside", "open config/outside: symbolic links are not supported"},
				{"readdir", "config/outside", "readdir config/outside: symbolic links are not supported"},
				{"read", "config/outside/secret.txt",
					`read config/outside/secret.txt: "config/outside" is a symbolic link, and symbolic links are not supported`},
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
				if err == nil || err.Error() != tt.want || !errors.Is(err, ErrSymlink) || !errors.As(err, &pe) {
					t.Errorf("%s %s: err = %v\nwant %s", tt.op, tt.path, err, tt.want)
				}
			}

			// Links are listed as links, and a walk does not follow them.
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
			if types["link.yaml"] != fs.ModeSymlink || types["outside"] != fs.ModeSymlink {
				t.Errorf("entry types = %v, want link.yaml and outside to be symbolic links", types)
			}
			got := files(t, fsys)
			for p := range got {
				if strings.HasPrefix(p, "config/outside/") || p == "config/link.yaml" {
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
		want := "repository " + dir + `: ref "main" has a symbolic link at "config/outside", and symbolic links are not supported`
		checkErr(t, err, want, ErrSymlink)
	})
}
