package itest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// GitRemote is a bare repository on disk, served as a file:// URL (what a
// controller follows), and a clone a test commits and pushes from.
type GitRemote struct {
	// URL is the bare repository's file:// URL.
	URL string
	// Dir is the clone's work tree: a folder ringmaster can read too.
	Dir  string
	repo *git.Repository
}

// NewGitRemote makes an empty bare repository and its clone, branch main;
// both are removed when the test ends.
func NewGitRemote(t testing.TB) *GitRemote {
	t.Helper()
	bare, work := t.TempDir(), t.TempDir()
	main := plumbing.NewBranchReferenceName("main")
	if _, err := git.PlainInitWithOptions(bare, &git.PlainInitOptions{Bare: true, InitOptions: git.InitOptions{DefaultBranch: main}}); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainInitWithOptions(work, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: main}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{bare}}); err != nil {
		t.Fatal(err)
	}
	return &GitRemote{URL: "file://" + bare, Dir: work, repo: repo}
}

// Commit writes files (path relative to the work tree → content; ""
// deletes the file), commits them and pushes main.
func (g *GitRemote) Commit(t testing.TB, msg string, files map[string]string) {
	t.Helper()
	g.CommitSigned(t, msg, files, nil)
}

// CommitSigned is Commit with the commit signed by key (nil: unsigned).
func (g *GitRemote) CommitSigned(t testing.TB, msg string, files map[string]string, key *openpgp.Entity) {
	t.Helper()
	wt, err := g.repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	for rel, content := range files {
		if content == "" {
			if _, err := wt.Remove(rel); err != nil {
				t.Fatal(err)
			}
			continue
		}
		p := filepath.Join(g.Dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(rel); err != nil {
			t.Fatal(err)
		}
	}
	sig := &object.Signature{Name: "test", Email: "test@example.com", When: time.Now()}
	if _, err := wt.Commit(msg, &git.CommitOptions{Author: sig, SignKey: key}); err != nil {
		t.Fatal(err)
	}
	if err := g.repo.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []gitconfig.RefSpec{"refs/heads/main:refs/heads/main"}}); err != nil {
		t.Fatal(err)
	}
}

// SigningKey makes an OpenPGP key pair for name and returns it with its
// public key, armored (what a trusted-keys file holds).
func SigningKey(t testing.TB, name string) (*openpgp.Entity, string) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "test", name+"@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return e, buf.String()
}
