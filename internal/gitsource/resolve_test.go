package gitsource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

func TestAmbiguousRefs(t *testing.T) {
	f := newFixture(t)
	set := func(name string, h plumbing.Hash) {
		t.Helper()
		must(t, f.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.ReferenceName(name), h)))
	}
	set("refs/tags/dev", f.first)                // branch dev is f.dev
	set("refs/heads/same", f.second)             // tag and branch on one commit
	set("refs/tags/same", f.second)              //
	set("refs/remotes/origin/main", f.second)    // "main" stays unambiguous
	set("refs/remotes/origin/feature", f.second) // a remote branch ...
	set("refs/heads/origin/feature", f.first)    // ... and a local one of the same name
	hexName := f.first.String()[:6]              // a branch that abbreviates a commit
	set("refs/heads/"+hexName, f.second)         //
	set("refs/heads/"+f.dev.String()[:7], f.dev) // and one that abbreviates its own commit
	local, remote := open(t, f.dir), open(t, "file://"+filepath.ToSlash(f.dir))

	t.Run("refused", func(t *testing.T) {
		tests := []struct {
			s         *Source
			ref, want string
		}{
			{local, "dev", `is ambiguous: it matches refs/heads/dev and refs/tags/dev; give the full ref name (refs/heads/dev or refs/tags/dev)`},
			{remote, "dev", `is ambiguous: it matches refs/heads/dev and refs/tags/dev; give the full ref name (refs/heads/dev or refs/tags/dev)`},
			{local, "dev~1", `is ambiguous: it matches refs/heads/dev and refs/tags/dev; give the full ref name (refs/heads/dev or refs/tags/dev)`},
			{local, "same", `is ambiguous: it matches refs/heads/same and refs/tags/same; give the full ref name (refs/heads/same or refs/tags/same)`},
			{local, "origin/feature", `is ambiguous: it matches refs/heads/origin/feature and refs/remotes/origin/feature; ` +
				`give the full ref name (refs/heads/origin/feature or refs/remotes/origin/feature)`},
			{local, hexName, fmt.Sprintf(`is ambiguous: it matches refs/heads/%s and commit %s; `+
				`give the full ref name (refs/heads/%[1]s) or more hex digits of the commit`, hexName, f.first.String()[:12])},
			{local, f.dev.String()[:7], fmt.Sprintf(`is ambiguous: it matches refs/heads/%s and commit %s; `+
				`give the full ref name (refs/heads/%[1]s) or more hex digits of the commit`, f.dev.String()[:7], f.dev.String()[:12])},
		}
		for _, tt := range tests {
			_, err := tt.s.Snapshot(context.Background(), tt.ref)
			checkErr(t, err, fmt.Sprintf("repository %s: ref %q %s", tt.s.Location(), tt.ref, tt.want), ErrAmbiguousRef)
		}
	})

	t.Run("disambiguated", func(t *testing.T) {
		tests := []struct {
			s    *Source
			ref  string
			want plumbing.Hash
		}{
			{local, "refs/heads/dev", f.dev},
			{local, "heads/dev", f.dev},
			{local, "refs/tags/dev", f.first},
			{local, "tags/dev", f.first},
			{local, "refs/tags/dev^{}", f.first},
			{remote, "refs/heads/dev", f.dev},
			{remote, "refs/tags/dev", f.first},
			{remote, "origin/dev", f.dev},
			{local, "refs/tags/same", f.second},
			{local, "main", f.second},
			{local, "origin/main", f.second},
			{local, "refs/heads/origin/feature", f.first},
			{local, "refs/remotes/origin/feature", f.second},
			{local, "remotes/origin/feature", f.second},
			{local, "refs/heads/" + hexName, f.second},
			{local, f.first.String()[:8], f.first},
			{local, f.first.String(), f.first},
			{local, f.dev.String()[:8], f.dev},
		}
		for _, tt := range tests {
			if got := snapshot(t, tt.s, tt.ref).Commit; got != tt.want.String() {
				t.Errorf("%s: Snapshot(%q) = %s, want %s", tt.s.Location(), tt.ref, got, tt.want)
			}
		}
	})
}

func TestShallowClone(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(t.TempDir(), "shallow")
	gitRun(t, "", "clone", "-q", "--depth", "1", "file://"+filepath.ToSlash(f.dir), dir)
	s := open(t, dir)
	for _, ref := range []string{"", "HEAD", "main", "origin/main", f.second.String()[:7]} {
		checkFiles(t, snapshot(t, s, ref).FS, secondFiles)
	}

	advice := `its history is shallow (it has .git/shallow, as a clone made with --depth does); ` +
		`fetch the full history with "git fetch --unshallow" (in GitHub Actions, give actions/checkout "fetch-depth: 0")`
	for _, ref := range []string{"HEAD~1", "main^", "main~3", "origin/main^1"} {
		_, err := s.Snapshot(context.Background(), ref)
		want := fmt.Sprintf("repository %s: ref %q needs commit %s (parent of %s), which is not in the repository: %s",
			dir, ref, f.first, f.second.String()[:7], advice)
		checkErr(t, err, want, ErrShallow)
	}

	// A clone of the shallow clone gets no shallow file: its server cuts
	// the history without saying.
	remote := open(t, "file://"+filepath.ToSlash(dir))
	_, err := remote.Snapshot(context.Background(), "HEAD~1")
	checkErr(t, err, fmt.Sprintf(`repository %s: ref "HEAD~1" needs commit %s (parent of %s), which the remote repository did not send: `+
		`it is probably a shallow clone itself (or damaged); its full history must be fetched there (git fetch --unshallow)`,
		remote.Location(), f.first, f.second.String()[:7]), ErrShallow)

	// A branch, tag or commit the shallow clone did not fetch.
	for _, ref := range []string{"dev", "v1", f.first.String()[:10]} {
		_, err := s.Snapshot(context.Background(), ref)
		checkErr(t, err, fmt.Sprintf("repository %s: ref %q not found (…", dir, ref), ErrRefNotFound)
		want := `; the repository is a shallow clone (it has .git/shallow), which holds only some branches, tags and commits: ` +
			`fetch the full history with "git fetch --unshallow", and a branch it left out by name ` +
			`(in GitHub Actions, give actions/checkout "fetch-depth: 0", which fetches every branch and tag)`
		if !strings.HasSuffix(err.Error(), want) {
			t.Errorf("err = %v\nwant suffix %s", err, want)
		}
	}

	// The advice works.
	gitRun(t, dir, "fetch", "-q", "--unshallow")
	s = open(t, dir)
	checkFiles(t, snapshot(t, s, "HEAD~1").FS, firstFiles)
	checkFiles(t, snapshot(t, s, "v1").FS, firstFiles)
	checkFiles(t, snapshot(t, open(t, "file://"+filepath.ToSlash(dir)), "HEAD~1").FS, firstFiles)
	gitRun(t, dir, "fetch", "-q", "origin", "dev:refs/remotes/origin/dev")
	checkFiles(t, snapshot(t, open(t, dir), "origin/dev").FS, devFiles)
}

// TestMissingParent: a parent missing from a repository that is not shallow
// is damage, not shallowness.
func TestMissingParent(t *testing.T) {
	f := newFixture(t)
	hex := f.first.String()
	must(t, os.Remove(filepath.Join(f.dir, ".git", "objects", hex[:2], hex[2:])))
	s := open(t, f.dir)
	_, err := s.Snapshot(context.Background(), "HEAD~1")
	checkErr(t, err, fmt.Sprintf(`repository %s: ref "HEAD~1": commit %s (parent of %s) is missing from the repository, `+
		`which may be damaged (try "git fsck"): object not found`, f.dir, f.first, f.second.String()[:7]), plumbing.ErrObjectNotFound)
	if errors.Is(err, ErrShallow) {
		t.Errorf("err = %v, is ErrShallow", err)
	}
}
