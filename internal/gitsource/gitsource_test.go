package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// sig signs every test commit, so commit hashes are the same on every run.
var sig = object.Signature{
	Name:  "ringmaster test",
	Email: "test@ringmaster.invalid",
	When:  time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
}

// fixture is a repository on disk:
//
//	first  (main~1; tags v1, v1-annotated)  README.md, config/keyspaces.yaml v1, config/flags/ingest.yaml
//	second (main)                           config/keyspaces.yaml v2, + config/settings.yaml
//	dev    (branch dev, child of first)     first + config/dev.yaml
//
// with main checked out, config/keyspaces.yaml edited and
// config/untracked.yaml created but not committed.
type fixture struct {
	dir                string
	repo               *git.Repository
	first, second, dev plumbing.Hash
}

var (
	firstFiles = map[string]string{
		"README.md":                "readme\n",
		"config/keyspaces.yaml":    "version: 1\n",
		"config/flags/ingest.yaml": "flag: off\n",
	}
	secondFiles = with(firstFiles, map[string]string{
		"config/keyspaces.yaml": "version: 2\n",
		"config/settings.yaml":  "settings: 2\n",
	})
	devFiles  = with(firstFiles, map[string]string{"config/dev.yaml": "dev: true\n"})
	workFiles = with(secondFiles, map[string]string{
		"config/keyspaces.yaml": "version: 3 (uncommitted)\n",
		"config/untracked.yaml": "untracked: true\n",
	})
)

// with returns base overlaid with changes.
func with(base, changes map[string]string) map[string]string {
	m := maps.Clone(base)
	maps.Copy(m, changes)
	return m
}

// under returns the files of m below dir, with paths relative to it.
func under(m map[string]string, dir string) map[string]string {
	out := map[string]string{}
	for p, c := range m {
		if rest, ok := strings.CutPrefix(p, dir+"/"); ok {
			out[rest] = c
		}
	}
	return out
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	r, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.Main},
	})
	must(t, err)
	f := &fixture{dir: dir, repo: r}
	wt, err := r.Worktree()
	must(t, err)

	f.first = f.commit(t, "first", firstFiles)
	_, err = r.CreateTag("v1", f.first, nil)
	must(t, err)
	_, err = r.CreateTag("v1-annotated", f.first, &git.CreateTagOptions{Tagger: &sig, Message: "release 1"})
	must(t, err)
	f.second = f.commit(t, "second", map[string]string{
		"config/keyspaces.yaml": "version: 2\n",
		"config/settings.yaml":  "settings: 2\n",
	})

	must(t, wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName("dev"), Create: true, Hash: f.first}))
	f.dev = f.commit(t, "dev", map[string]string{"config/dev.yaml": "dev: true\n"})
	must(t, wt.Checkout(&git.CheckoutOptions{Branch: plumbing.Main}))

	writeFile(t, dir, "config/keyspaces.yaml", "version: 3 (uncommitted)\n")
	writeFile(t, dir, "config/untracked.yaml", "untracked: true\n")
	return f
}

// commit writes files into the work tree and commits them.
func (f *fixture) commit(t *testing.T, msg string, files map[string]string) plumbing.Hash {
	t.Helper()
	wt, err := f.repo.Worktree()
	must(t, err)
	for _, p := range slices.Sorted(maps.Keys(files)) {
		writeFile(t, f.dir, p, files[p])
		_, err := wt.Add(p)
		must(t, err)
	}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: &sig, Committer: &sig})
	must(t, err)
	return h
}

func writeFile(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte(content), 0o644))
}

// gitRun runs the git binary in dir (the current directory if empty),
// isolated from the user's and the system's configuration and from any GIT_
// variable of the environment, and returns its trimmed output.
func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{
		"-c", "user.name=" + sig.Name, "-c", "user.email=" + sig.Email,
		"-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always",
	}, args...)...)
	cmd.Dir = dir
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GIT_") })
	cmd.Env = append(env, "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_DATE="+sig.When.Format(time.RFC3339), "GIT_COMMITTER_DATE="+sig.When.Format(time.RFC3339))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// files reads every regular file of fsys through fs.WalkDir.
func files(t *testing.T, fsys fs.FS) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			got[p] = string(data)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	return got
}

func checkFiles(t *testing.T, fsys fs.FS, want map[string]string) {
	t.Helper()
	got := files(t, fsys)
	if !maps.Equal(got, want) {
		t.Errorf("files:\n got %v\nwant %v", got, want)
	}
}

func open(t *testing.T, repo string) *Source {
	t.Helper()
	s, err := Open(context.Background(), repo, Options{})
	if err != nil {
		t.Fatalf("Open(%q): %v", repo, err)
	}
	return s
}

func snapshot(t *testing.T, s *Source, ref string) *Snapshot {
	t.Helper()
	snap, err := s.Snapshot(context.Background(), ref)
	if err != nil {
		t.Fatalf("Snapshot(%q): %v", ref, err)
	}
	return snap
}

func label(ref string, h plumbing.Hash) string { return ref + " (" + h.String()[:7] + ")" }

func TestSnapshotLocal(t *testing.T) {
	f := newFixture(t)
	s := open(t, f.dir)
	if s.IsRemote() || s.Location() != f.dir {
		t.Fatalf("IsRemote() = %v, Location() = %q", s.IsRemote(), s.Location())
	}
	short := func(h plumbing.Hash, n int) string { return h.String()[:n] }

	tests := []struct {
		ref      string
		files    map[string]string
		commit   plumbing.Hash
		revision string
	}{
		{"", workFiles, f.second, WorkingTree},
		{"main", secondFiles, f.second, label("main", f.second)},
		{"refs/heads/main", secondFiles, f.second, label("refs/heads/main", f.second)},
		{"heads/main", secondFiles, f.second, label("heads/main", f.second)},
		{"dev", devFiles, f.dev, label("dev", f.dev)},
		{"v1", firstFiles, f.first, label("v1", f.first)},
		{"v1-annotated", firstFiles, f.first, label("v1-annotated", f.first)},
		{"HEAD", secondFiles, f.second, label("HEAD", f.second)},
		{"@", secondFiles, f.second, label("@", f.second)},
		{"HEAD~1", firstFiles, f.first, label("HEAD~1", f.first)},
		{"HEAD^", firstFiles, f.first, label("HEAD^", f.first)},
		{"main~", firstFiles, f.first, label("main~", f.first)},
		{"dev^1", firstFiles, f.first, label("dev^1", f.first)},
		{"HEAD^0", secondFiles, f.second, label("HEAD^0", f.second)},
		{"v1-annotated^{}", firstFiles, f.first, label("v1-annotated^{}", f.first)},
		{"main^{commit}", secondFiles, f.second, label("main^{commit}", f.second)},
		{f.first.String(), firstFiles, f.first, short(f.first, 7)},
		{short(f.first, 7), firstFiles, f.first, short(f.first, 7)},
		{short(f.first, 4), firstFiles, f.first, short(f.first, 7)},
		{short(f.dev, 5), devFiles, f.dev, short(f.dev, 7)},
		{strings.ToUpper(short(f.second, 10)), secondFiles, f.second, short(f.second, 7)},
		{short(f.second, 7) + "~1", firstFiles, f.first, label(short(f.second, 7)+"~1", f.first)},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("ref=%q", tt.ref), func(t *testing.T) {
			snap := snapshot(t, s, tt.ref)
			if snap.Commit != tt.commit.String() || snap.Revision != tt.revision || snap.Ref != tt.ref {
				t.Errorf("Commit, Revision, Ref = %s, %q, %q; want %s, %q, %q",
					snap.Commit, snap.Revision, snap.Ref, tt.commit, tt.revision, tt.ref)
			}
			checkFiles(t, snap.FS, tt.files)
		})
	}
}

func TestSnapshotSubdirectory(t *testing.T) {
	f := newFixture(t)
	writeFile(t, f.dir, "extra/only-on-disk.yaml", "x: 1\n")

	tests := []struct {
		dir, ref string
		files    map[string]string
	}{
		{"config", "", under(workFiles, "config")},
		{"config", "main", under(secondFiles, "config")},
		{"config", "v1", under(firstFiles, "config")},
		{"config", "dev", under(devFiles, "config")},
		{"config/flags", "HEAD~1", under(firstFiles, "config/flags")},
		{"config/flags/", "main", under(secondFiles, "config/flags")},
		{"extra", "", map[string]string{"only-on-disk.yaml": "x: 1\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.dir+"@"+tt.ref, func(t *testing.T) {
			s := open(t, filepath.Join(f.dir, tt.dir))
			checkFiles(t, snapshot(t, s, tt.ref).FS, tt.files)
		})
	}

	t.Run("relative path", func(t *testing.T) {
		t.Chdir(filepath.Join(f.dir, "config"))
		s := open(t, "flags")
		if s.Location() != "flags" {
			t.Errorf("Location() = %q, want %q", s.Location(), "flags")
		}
		checkFiles(t, snapshot(t, s, "v1").FS, under(firstFiles, "config/flags"))
	})

	t.Run("directory missing at ref", func(t *testing.T) {
		s := open(t, filepath.Join(f.dir, "extra"))
		_, err := s.Snapshot(context.Background(), "main")
		want := fmt.Sprintf(`repository %s: ref "main" has no directory "extra"`, filepath.Join(f.dir, "extra"))
		if err == nil || err.Error() != want || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v\nwant %s (fs.ErrNotExist)", err, want)
		}
	})
}

func TestSnapshotRemote(t *testing.T) {
	f := newFixture(t)
	url := "file://" + filepath.ToSlash(f.dir)
	s := open(t, url)
	if !s.IsRemote() || s.Location() != url {
		t.Fatalf("IsRemote() = %v, Location() = %q", s.IsRemote(), s.Location())
	}

	tests := []struct {
		ref      string
		files    map[string]string
		commit   plumbing.Hash
		revision string
	}{
		{"", secondFiles, f.second, label("main", f.second)},
		{"main", secondFiles, f.second, label("main", f.second)},
		{"origin/main", secondFiles, f.second, label("origin/main", f.second)},
		{"refs/remotes/origin/main", secondFiles, f.second, label("refs/remotes/origin/main", f.second)},
		{"dev", devFiles, f.dev, label("dev", f.dev)},
		{"origin/dev", devFiles, f.dev, label("origin/dev", f.dev)},
		{"v1", firstFiles, f.first, label("v1", f.first)},
		{"v1-annotated", firstFiles, f.first, label("v1-annotated", f.first)},
		{"HEAD~1", firstFiles, f.first, label("HEAD~1", f.first)},
		{f.dev.String()[:8], devFiles, f.dev, f.dev.String()[:7]},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("ref=%q", tt.ref), func(t *testing.T) {
			snap := snapshot(t, s, tt.ref)
			if snap.Commit != tt.commit.String() || snap.Revision != tt.revision {
				t.Errorf("Commit, Revision = %s, %q; want %s, %q", snap.Commit, snap.Revision, tt.commit, tt.revision)
			}
			checkFiles(t, snap.FS, tt.files)
		})
	}
}

func TestFetch(t *testing.T) {
	f := newFixture(t)
	s := open(t, "file://"+filepath.ToSlash(f.dir))
	before := snapshot(t, s, "main")

	// Upstream moves on: a commit on main, a new tag, dev deleted.
	third := f.commit(t, "third", map[string]string{"config/keyspaces.yaml": "version: 3\n"})
	_, err := f.repo.CreateTag("v3", third, nil)
	must(t, err)
	must(t, f.repo.Storer.RemoveReference(plumbing.NewBranchReferenceName("dev")))

	if got := snapshot(t, s, "main").Commit; got != f.second.String() {
		t.Fatalf("before Fetch: main = %s, want %s", got, f.second)
	}

	// Readers of an older snapshot may run while Fetch rewrites references.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if _, err := fs.ReadFile(before.FS, "config/keyspaces.yaml"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	must(t, s.Fetch(context.Background()))
	wg.Wait()
	must(t, s.Fetch(context.Background())) // already up to date

	thirdFiles := with(secondFiles, map[string]string{"config/keyspaces.yaml": "version: 3\n"})
	for _, ref := range []string{"", "main", "origin/main", "v3"} {
		snap := snapshot(t, s, ref)
		if snap.Commit != third.String() {
			t.Errorf("after Fetch: %q = %s, want %s", ref, snap.Commit, third)
		}
		checkFiles(t, snap.FS, thirdFiles)
	}
	if _, err := s.Snapshot(context.Background(), "dev"); !errors.Is(err, ErrRefNotFound) {
		t.Errorf("dev after prune: err = %v, want ErrRefNotFound", err)
	}
	checkFiles(t, before.FS, secondFiles)

	// A local source is never fetched into.
	local := open(t, f.dir)
	must(t, local.Fetch(context.Background()))
}

func TestBareRepository(t *testing.T) {
	f := newFixture(t)
	bare := filepath.Join(t.TempDir(), "bare.git")
	_, err := git.PlainClone(bare, true, &git.CloneOptions{URL: f.dir, Tags: git.AllTags})
	must(t, err)

	s := open(t, bare)
	snap := snapshot(t, s, "")
	if snap.Commit != f.second.String() || snap.Revision != label("main", f.second) {
		t.Errorf("Commit, Revision = %s, %q", snap.Commit, snap.Revision)
	}
	checkFiles(t, snap.FS, secondFiles)
	checkFiles(t, snapshot(t, s, "v1").FS, firstFiles)
}

func TestPlainDirectory(t *testing.T) {
	dir := t.TempDir()
	if _, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true}); err == nil {
		t.Fatalf("the temporary directory %s is inside a Git repository: point TMPDIR outside one to test a plain directory", dir)
	}
	writeFile(t, dir, "a.yaml", "a: 1\n")
	writeFile(t, dir, "sub/b.yaml", "b: 2\n")
	s := open(t, dir)

	snap := snapshot(t, s, "")
	if snap.Commit != "" || snap.Revision != WorkingTree {
		t.Errorf("Commit, Revision = %q, %q; want \"\", %q", snap.Commit, snap.Revision, WorkingTree)
	}
	checkFiles(t, snap.FS, map[string]string{"a.yaml": "a: 1\n", "sub/b.yaml": "b: 2\n"})

	_, err := s.Snapshot(context.Background(), "main")
	want := fmt.Sprintf(`repository %s: not a Git repository (no .git in it or in any parent directory), so ref "main" cannot be read; `+
		"without a ref the directory is read as it is on disk", dir)
	if err == nil || err.Error() != want || !errors.Is(err, ErrNotRepository) {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	must(t, s.Fetch(context.Background()))
}

func TestUnbornRepository(t *testing.T) {
	dir := t.TempDir()
	_, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	must(t, err)
	writeFile(t, dir, "a.yaml", "a: 1\n")
	s := open(t, dir)

	snap := snapshot(t, s, "")
	if snap.Commit != "" {
		t.Errorf("Commit = %q, want empty before the first commit", snap.Commit)
	}
	checkFiles(t, snap.FS, map[string]string{"a.yaml": "a: 1\n"})

	_, err = s.Snapshot(context.Background(), "HEAD")
	want := fmt.Sprintf(`repository %s: ref "HEAD" not found (HEAD points to main, which has no commits yet; the repository has no branches or tags)`, dir)
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

func TestOpenErrors(t *testing.T) {
	f := newFixture(t)
	missing := filepath.Join(f.dir, "none")

	tests := []struct {
		name, repo string
		want       string // the whole message, or a prefix ending in "…"
		is         error
	}{
		{"empty", "", "repository: no path or URL given", nil},
		{"missing directory", missing, "repository " + missing + ": no such directory", fs.ErrNotExist},
		{"file", filepath.Join(f.dir, "README.md"),
			"repository " + filepath.Join(f.dir, "README.md") + ": not a directory: give the directory of the repository (or a URL)", nil},
		{"inside .git", filepath.Join(f.dir, ".git", "refs"),
			"repository " + filepath.Join(f.dir, ".git", "refs") + ": directory is inside the .git directory of " + f.dir + "; give the work tree instead", nil},
		{"unreachable file URL", "file:///nonexistent/repo.git",
			"repository file:///nonexistent/repo.git: clone: there is no repository at this URL, or it is private (check the URL): repository not found", nil},
		{"file URL of a plain directory", "file://" + filepath.ToSlash(t.TempDir()), "repository file://…", nil},
		{"refused connection", "http://127.0.0.1:1/repo.git", "repository http://127.0.0.1:1/repo.git: clone: …", nil},
		{"unsupported scheme", "ftp://example.com/repo.git",
			`repository ftp://example.com/repo.git: unsupported URL scheme "ftp" (use https, ssh, file, or a local directory)`, nil},
		{"password redacted", "ftp://user:secret@example.com/r.git", "repository ftp://user:xxxxx@example.com/r.git: …", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(context.Background(), tt.repo, Options{})
			if err == nil {
				t.Fatalf("Open(%q) = %v, want an error", tt.repo, s.Location())
			}
			checkErr(t, err, tt.want, tt.is)
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}

	t.Run("relative missing directory", func(t *testing.T) {
		t.Chdir(f.dir)
		_, err := Open(context.Background(), "nope", Options{})
		checkErr(t, err, "repository nope: no such directory ("+filepath.Join(f.dir, "nope")+")", fs.ErrNotExist)
	})

	t.Run("ssh without an agent", func(t *testing.T) {
		t.Setenv("SSH_AUTH_SOCK", "")
		for _, url := range []string{"git@127.0.0.1:team/repo.git", "ssh://git@127.0.0.1:1/team/repo.git"} {
			_, err := Open(context.Background(), url, Options{})
			checkErr(t, err, "repository "+url+": clone: an ssh URL is read with the keys of an SSH agent, and none is running "+
				"(SSH_AUTH_SOCK is not set): start ssh-agent and add a key with ssh-add, or use an https URL", nil)
		}
	})

	t.Run("http status", func(t *testing.T) {
		tests := []struct {
			status int
			want   string
		}{
			{http.StatusNotFound, "there is no repository at this URL, or it is private (check the URL): repository not found…"},
			{http.StatusUnauthorized, "the server requires credentials, and none were given: authentication required…"},
			{http.StatusForbidden, "the server requires credentials, and none were given: authorization failed…"},
		}
		for _, tt := range tests {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, http.StatusText(tt.status), tt.status)
			}))
			url := srv.URL + "/team/repo.git"
			_, err := Open(context.Background(), url, Options{})
			srv.Close()
			checkErr(t, err, "repository "+url+": clone: "+tt.want, nil)
		}
	})

	t.Run("canceled clone", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Open(ctx, "file://"+filepath.ToSlash(f.dir), Options{})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
}

// checkErr compares err's message with want (a prefix when want ends in
// "…") and, if is is set, its class.
func checkErr(t *testing.T, err error, want string, is error) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", want)
	}
	if prefix, ok := strings.CutSuffix(want, "…"); ok {
		if !strings.HasPrefix(err.Error(), prefix) {
			t.Errorf("err = %v\nwant prefix %s", err, prefix)
		}
	} else if err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("err = %v, want errors.Is %v", err, is)
	}
}

func TestSnapshotErrors(t *testing.T) {
	f := newFixture(t)
	url := "file://" + filepath.ToSlash(f.dir)
	local, remote := open(t, f.dir), open(t, url)
	candidates := "branches: dev, main; tags: v1, v1-annotated"

	tests := []struct {
		name string
		s    *Source
		ref  string
		want string // the message after "repository <location>: "
		is   error
	}{
		{"missing ref", local, "nope", `ref "nope" not found (` + candidates + ")", ErrRefNotFound},
		{"missing ref, remote", remote, "nope", `ref "nope" not found (` + candidates + ")", ErrRefNotFound},
		{"hash too short", local, f.first.String()[:3],
			`ref "` + f.first.String()[:3] + `" not found (a commit hash needs at least 4 hex digits; ` + candidates + ")", ErrRefNotFound},
		{"unknown hash", local, "0000000", `ref "0000000" not found (` + candidates + ")", ErrRefNotFound},
		{"unknown full hash", local, strings.Repeat("0", 40), `ref "` + strings.Repeat("0", 40) + `" not found (` + candidates + ")", ErrRefNotFound},
		{"past the first commit", local, "HEAD~5",
			`ref "HEAD~5" not found: history ends at commit ` + f.first.String()[:7] + ", which has no parent", ErrRefNotFound},
		{"missing second parent", local, "main^2",
			`ref "main^2" not found: commit ` + f.second.String()[:7] + " has 1 parent(s), not 2", ErrRefNotFound},
		{"tree hash", local, treeHash(t, f, f.first).String()[:10],
			`ref "` + treeHash(t, f, f.first).String()[:10] + `" not found (` + candidates + ")", ErrRefNotFound},
		{"revision:path", local, "main:config", `ref "main:config" is invalid: the revision:path syntax is not supported`, ErrInvalidRef},
		{"reflog", local, "main@{1}", `ref "main@{1}" is invalid: reflog syntax (@{...}) is not supported`, ErrInvalidRef},
		{"dots", local, "a..b", `ref "a..b" is invalid: "a..b" is not a valid branch, tag or commit name`, ErrInvalidRef},
		{"option-like", local, "-rf", `ref "-rf" is invalid: "-rf" is not a valid branch, tag or commit name`, ErrInvalidRef},
		{"path escape", local, "../../config", `ref "../../config" is invalid: "../../config" is not a valid branch, tag or commit name`, ErrInvalidRef},
		{"no name", local, "~1", `ref "~1" is invalid: it must start with a branch, tag or commit hash`, ErrInvalidRef},
		{"bad step", local, "HEAD~1x", `ref "HEAD~1x" is invalid: unexpected 'x' after an ancestry step`, ErrInvalidRef},
		{"huge step", local, "HEAD~99999999999999999999", `ref "HEAD~99999999999999999999" is invalid: ~99999999999999999999 is out of range`, ErrInvalidRef},
		{"peel to tree", local, "v1^{tree}", `ref "v1^{tree}" is invalid: only ^{} and ^{commit} are supported, not ^{tree}`, ErrInvalidRef},
		{"unterminated peel", local, "v1^{", `ref "v1^{" is invalid: unterminated "^{"`, ErrInvalidRef},
		{"regex", local, "HEAD^{/fix}", `ref "HEAD^{/fix}" is invalid: only ^{} and ^{commit} are supported, not ^{/fix}`, ErrInvalidRef},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap, err := tt.s.Snapshot(context.Background(), tt.ref)
			if err == nil {
				t.Fatalf("Snapshot(%q) = %s, want an error", tt.ref, snap.Revision)
			}
			checkErr(t, err, "repository "+tt.s.Location()+": "+tt.want, tt.is)
		})
	}

	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := local.Snapshot(ctx, "main")
		checkErr(t, err, "repository "+f.dir+`: ref "main": context canceled`, context.Canceled)
	})
}

func treeHash(t *testing.T, f *fixture, commit plumbing.Hash) plumbing.Hash {
	t.Helper()
	c, err := f.repo.CommitObject(commit)
	must(t, err)
	return c.TreeHash
}

func TestAmbiguousHash(t *testing.T) {
	f := newFixture(t)
	a, b, prefix := ambiguousPair(t, f)
	s := open(t, f.dir)

	_, err := s.Snapshot(context.Background(), prefix)
	lo, hi := a.String()[:12], b.String()[:12]
	if hi < lo {
		lo, hi = hi, lo
	}
	want := fmt.Sprintf(`repository %s: ref %q is ambiguous: it abbreviates the commits %s, %s; give more hex digits`, f.dir, prefix, lo, hi)
	checkErr(t, err, want, ErrAmbiguousRef)

	for _, h := range []plumbing.Hash{a, b} {
		snap := snapshot(t, s, h.String()[:12])
		if snap.Commit != h.String() {
			t.Errorf("Snapshot(%s) = %s", h.String()[:12], snap.Commit)
		}
	}
}

// ambiguousPair stores two children of f.second whose hashes share their
// first four hex digits, and returns them and that prefix.
func ambiguousPair(t *testing.T, f *fixture) (a, b plumbing.Hash, prefix string) {
	t.Helper()
	tree := treeHash(t, f, f.second)
	seen := map[string]plumbing.EncodedObject{}
	for i := range 1 << 16 {
		c := &object.Commit{
			Author: sig, Committer: sig,
			Message:      fmt.Sprintf("candidate %d\n", i),
			TreeHash:     tree,
			ParentHashes: []plumbing.Hash{f.second},
		}
		o := f.repo.Storer.NewEncodedObject()
		must(t, c.Encode(o))
		p := o.Hash().String()[:4]
		if other, ok := seen[p]; ok {
			for _, obj := range []plumbing.EncodedObject{other, o} {
				_, err := f.repo.Storer.SetEncodedObject(obj)
				must(t, err)
			}
			return other.Hash(), o.Hash(), p
		}
		seen[p] = o
	}
	t.Fatal("no two commits share a 4-digit prefix")
	return
}
