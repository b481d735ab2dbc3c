package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/ringmaster-io/ringmaster/internal/gitsource"
	"github.com/ringmaster-io/ringmaster/internal/repogen"
	"github.com/ringmaster-io/ringmaster/internal/reposource"
	"github.com/ringmaster-io/ringmaster/policies"
	"github.com/ringmaster-io/ringmaster/render"
)

// cli runs one command line in-process.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// gitRepo copies examples/ into a fresh Git repository, commits it on
// main, and returns its path and a function that commits the work tree.
func gitRepo(t *testing.T) (string, func(msg string)) {
	t.Helper()
	dir := t.TempDir()
	err := filepath.WalkDir("../../examples", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("../../examples", p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), raw, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	commit := func(msg string) {
		t.Helper()
		if err := wt.AddGlob("."); err != nil {
			t.Fatal(err)
		}
		sig := &object.Signature{Name: "test", Email: "test@example.com", When: time.Unix(1700000000, 0)}
		if _, err := wt.Commit(msg, &git.CommitOptions{Author: sig, AllowEmptyCommits: true}); err != nil {
			t.Fatal(err)
		}
	}
	commit("initial")
	return dir, commit
}

func edit(t *testing.T, file, old, new string) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), old) {
		t.Fatalf("%s lacks %q", file, old)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(raw), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestValidateExamples(t *testing.T) {
	code, stdout, stderr := cli(t, "validate", "--repo", "../../examples")
	if code != exitOK || !strings.Contains(stdout, "3 environment(s) valid") {
		t.Fatalf("validate examples: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, env := range []string{"local", "prod", "staging"} {
		if code, _, stderr := cli(t, "validate", "--repo", "../../examples", "--env", env); code != exitOK {
			t.Errorf("validate --env %s: exit %d: %s", env, code, stderr)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	dir, _ := gitRepo(t)
	edit(t, filepath.Join(dir, "base/keyspaces/users.yaml"), "type: uuid}", "type: uuidx}")
	edit(t, filepath.Join(dir, "base/keyspaces/billing.yaml"), "keyspace: billing\n", "keyspace: billing\n  colour: red\n")
	code, _, stderr := cli(t, "validate", "--repo", dir, "--env", "prod")
	if code != exitError {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{`base/keyspaces/users.yaml:15:`, `unknown type "uuidx"`, `base/keyspaces/billing.yaml:14:3: Table invoices spec: unknown field "colour"`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
		t.Errorf("stack trace in output:\n%s", stderr)
	}
}

func TestValidatePolicyDeny(t *testing.T) {
	dir, _ := gitRepo(t)
	// SimpleStrategy in a two-datacenter environment, and RF above prod's max.
	edit(t, filepath.Join(dir, "environments/prod/environment.yaml"),
		"replication: {class: NetworkTopologyStrategy, dc1: 3, dc2: 3}", "replication: {class: NetworkTopologyStrategy, dc1: 3, dc2: 3, dc9: 3}")
	code, _, stderr := cli(t, "validate", "--repo", dir, "--env", "prod")
	if code != exitError {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "deny RM-POL-003") || !strings.Contains(stderr, "dc9") {
		t.Errorf("stderr does not name the rule and datacenter:\n%s", stderr)
	}
}

func TestDiffBetweenRevisions(t *testing.T) {
	dir, commit := gitRepo(t)
	// No change: exit 0 even with --detailed-exitcode.
	if code, stdout, stderr := cli(t, "diff", "--repo", dir, "--env", "prod", "--from", "main", "--to", "main", "--detailed-exitcode"); code != exitOK || !strings.Contains(stdout, "No changes") {
		t.Fatalf("identical revisions: exit %d\n%s\n%s", code, stdout, stderr)
	}
	edit(t, filepath.Join(dir, "environments/prod/overrides.yaml"), "replication: {dc2: 4}", "replication: {dc2: 5}")
	edit(t, filepath.Join(dir, "base/config/ingest.yaml"), "flush_interval_ms: 250", "flush_interval_ms: 500")
	commit("raise audit replication in dc2")

	code, stdout, stderr := cli(t, "diff", "--repo", dir, "--env", "prod", "--from", "HEAD~1", "--to", "main", "--detailed-exitcode")
	if code != exitChanges {
		t.Fatalf("exit %d, want 2\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"keyspace audit: replication dc2 4 → 5", "RM-POL-012", "znode data/config/ingest/pipeline", "Plan: 0 to create, 2 to update, 0 to delete."} {
		if !strings.Contains(stdout, want) {
			t.Errorf("text diff lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = cli(t, "diff", "--repo", dir, "--env", "prod", "--from", "HEAD~1", "--to", "HEAD", "-o", "json")
	var doc struct {
		Schema  string               `json:"schema"`
		Summary struct{ Update int } `json:"summary"`
	}
	if code != exitOK || json.Unmarshal([]byte(stdout), &doc) != nil || doc.Schema != "ringmaster.io/diff/v1" || doc.Summary.Update != 2 {
		t.Errorf("json diff: exit %d, %+v\n%s", code, doc, stdout)
	}
	code, stdout, _ = cli(t, "diff", "--repo", dir, "--env", "prod", "--from", "HEAD~1", "--to", "HEAD", "-o", "markdown")
	if code != exitOK || !strings.Contains(stdout, "| Action | Kind | Object | Policy |") || !strings.Contains(stdout, "<details>") {
		t.Errorf("markdown diff: exit %d\n%s", code, stdout)
	}

	// An RF jump of 2 is denied: exit 1 whatever the exit-code mode.
	edit(t, filepath.Join(dir, "environments/prod/overrides.yaml"), "replication: {dc2: 5}", "replication: {dc2: 3}")
	edit(t, filepath.Join(dir, "environments/prod/environment.yaml"), "dc1: 3, dc2: 3}", "dc1: 5, dc2: 3}")
	code, _, stderr = cli(t, "diff", "--repo", dir, "--env", "prod", "--from", "HEAD", "--detailed-exitcode")
	if code != exitError || !strings.Contains(stderr, "RM-POL-004") {
		t.Errorf("RF +2: exit %d, want 1 with RM-POL-004:\n%s", code, stderr)
	}
}

func TestDiffDropNeedsExplicitMark(t *testing.T) {
	dir, commit := gitRepo(t)
	if err := os.Remove(filepath.Join(dir, "base/keyspaces/inventory.yaml")); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := cli(t, "diff", "--repo", dir, "--env", "staging", "--from", "main")
	if code != exitError || !strings.Contains(stderr, "RM-POL-005") {
		t.Fatalf("unmarked drop: exit %d, want 1 with RM-POL-005:\n%s", code, stderr)
	}
	// Marked for deletion: allowed, with a warning.
	if err := os.WriteFile(filepath.Join(dir, "base/keyspaces/inventory.yaml"), []byte(
		"apiVersion: ringmaster.io/v1\nkind: Keyspace\nmetadata: {name: inventory}\nspec: {drop: true}\n---\napiVersion: ringmaster.io/v1\nkind: Table\nmetadata: {name: stock}\nspec: {keyspace: inventory, drop: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	commit("drop inventory")
	code, stdout, stderr := cli(t, "diff", "--repo", dir, "--env", "staging", "--from", "HEAD~1", "--to", "HEAD", "--detailed-exitcode")
	if code != exitChanges || !strings.Contains(stdout, "- keyspace inventory") {
		t.Fatalf("marked drop: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestBadRepositoryAndRef(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"validate", "--repo", "/nonexistent/repo"}, "repository /nonexistent/repo"},
		{[]string{"validate", "--repo", "file:///nonexistent/repo.git"}, "file:///nonexistent/repo.git"},
		{[]string{"validate", "--repo", "../../examples", "--ref", "no-such-branch"}, `ref "no-such-branch" not found`},
		{[]string{"validate", "--repo", "../../examples", "--env", "qa"}, `unknown environment "qa"`},
		{[]string{"render", "--repo", "../../examples"}, "--env is required"},
		{[]string{"diff", "--repo", "../../examples", "--env", "prod", "--from", "v0.0.0-missing"}, `"v0.0.0-missing" not found`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := cli(t, tt.args...)
			if code == exitOK {
				t.Fatal("exit 0")
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, stderr)
			}
		})
	}
}

func TestRenderOutputs(t *testing.T) {
	code, stdout, stderr := cli(t, "render", "--repo", "../../examples", "--env", "local", "-o", "cql")
	if code != exitOK || !strings.Contains(stdout, "CREATE KEYSPACE IF NOT EXISTS events WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 1, 'dc2': 1}") {
		t.Fatalf("render cql: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, _ = cli(t, "render", "--repo", "../../examples", "--env", "local", "-o", "json")
	var doc renderedTarget
	if code != exitOK || json.Unmarshal([]byte(stdout), &doc) != nil {
		t.Fatalf("render json: exit %d\n%s", code, stdout)
	}
	if doc.ZooKeeper.Root != "/ringmaster/local" || len(doc.ZooKeeper.Znodes) < 15 {
		t.Errorf("render json: root %s, %d znodes", doc.ZooKeeper.Root, len(doc.ZooKeeper.Znodes))
	}
	code, stdout, _ = cli(t, "render", "--repo", "../../examples", "--env", "local")
	if code != exitOK || !strings.Contains(stdout, "path: /ringmaster/local/data/flags/new-ingest-path") {
		t.Errorf("render yaml: exit %d\n%s", code, stdout)
	}
}

// TestExamplePoliciesFire: the examples' own CEL rules deny and warn.
func TestExamplePoliciesFire(t *testing.T) {
	dir, _ := gitRepo(t)
	edit(t, filepath.Join(dir, "environments/prod/environment.yaml"), "dc1: 3, dc2: 3}", "dc1: 3, dc2: 2}")
	edit(t, filepath.Join(dir, "base/keyspaces/users.yaml"), "    comment: lookup of user id by email\n", "")
	code, _, stderr := cli(t, "validate", "--repo", dir)
	if code != exitError {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"deny RM-USR:acme-schema/prod-keyspaces-span-every-datacenter: [prod] keyspace events must keep 3 replicas in every prod datacenter",
		"base/keyspaces/users.yaml:27:1: warn RM-USR:acme-schema/tables-have-comments: [staging] table users.by_email needs a comment",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// BenchmarkValidate runs what `ringmaster validate` does for one
// environment (load, render, compile policies, evaluate) on a generated
// repository of 10,000 ConfigEntry/FeatureFlag manifests and 500 tables.
// The target is under 2 s per operation on the project's machine.
func BenchmarkValidate(b *testing.B) {
	fsys := repogen.Large(10000, 500)
	b.ReportAllocs()
	for b.Loop() {
		repo, err := render.Load(context.Background(), fsys, render.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		ev, err := checkRevision(context.Background(), &reposource.Revision{Snapshot: &gitsource.Snapshot{Revision: "bench"}, Repo: repo}, "dev", nil)
		if err != nil {
			b.Fatal(err)
		}
		if policies.Denied(ev.Findings) {
			b.Fatalf("denied: %v", ev.Findings[0])
		}
	}
}

// TestFindVerb: a verb is found before or after flags, flag values are
// not taken for it, and it is taken out of the line.
func TestFindVerb(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		verb, rest string
	}{
		{[]string{"list", "--env", "it"}, "list", "--env it"},
		{[]string{"--repo", "list", "--env", "it", "show", "x"}, "show", "--repo list --env it x"},
		{[]string{"--env=it", "--cleanup", "run", "--keyspace", "k"}, "run", "--env=it --cleanup --keyspace k"},
		{[]string{"-h"}, "", "-h"},
		{[]string{"--env", "it", "--", "show"}, "", "--env it -- show"},
	} {
		verb, rest := findVerb(tc.args, "cleanup")
		if verb != tc.verb || strings.Join(rest, " ") != tc.rest {
			t.Errorf("findVerb(%q) = %q, %q; want %q, %q", tc.args, verb, rest, tc.verb, tc.rest)
		}
	}
}
