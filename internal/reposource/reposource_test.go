package reposource

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/repogen"
	"github.com/ringmaster-io/ringmaster/render"
	"github.com/ringmaster-io/ringmaster/sync"
)

func writeRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for rel, content := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func files(t *testing.T, n int) map[string]string {
	out := map[string]string{}
	for name, f := range repogen.ConfigEntries(n) {
		out[name] = string(f.Data)
	}
	return out
}

// TestTargetOfAFolder: a folder renders into a Target with the desired
// znodes, and the Target is what sync checks.
func TestTargetOfAFolder(t *testing.T) {
	ctx := context.Background()
	src, err := Open(ctx, writeRepo(t, files(t, 3)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	target, err := src.Target(ctx, "", "dev")
	if err != nil {
		t.Fatal(err)
	}
	if len(target.Desired.Znodes) != 3 || target.Revision == "" {
		t.Fatalf("target: %d znodes, revision %q", len(target.Desired.Znodes), target.Revision)
	}
	ev, err := sync.Check(ctx, nil, target)
	if err != nil || len(ev.Changes.Changes) != 3 {
		t.Fatalf("Check from an empty cluster: %v, %v", ev, err)
	}
}

// TestTargetProblems: a located problem comes back with what rendered;
// an unknown environment and a folder with no repository are told apart.
func TestTargetProblems(t *testing.T) {
	ctx := context.Background()
	fs := files(t, 2)
	fs["base/broken.yaml"] = "apiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: broken}\nspec: {path: '../up', value: 1}\n"
	src, err := Open(ctx, writeRepo(t, fs), Options{})
	if err != nil {
		t.Fatal(err)
	}
	target, err := src.Target(ctx, "", "dev")
	if err == nil || !strings.Contains(err.Error(), "base/broken.yaml:") {
		t.Fatalf("a bad path: %v, want the file and line", err)
	}
	if target == nil || len(target.Desired.Znodes) != 2 {
		t.Fatalf("partial target %+v: want the two good entries", target)
	}
	if _, err := src.Target(ctx, "", "prod"); !errors.Is(err, render.ErrUnknownEnvironment) {
		t.Fatalf("unknown environment: %v", err)
	}
	empty, err := Open(ctx, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := empty.Target(ctx, "", "dev"); !errors.Is(err, render.ErrNoRepository) {
		t.Fatalf("a folder without a repository: %v", err)
	}
}

// TestTargetOfACommitIsKept: following a Git branch with CacheParses, an
// unchanged commit gives back the target already rendered; a new commit
// renders again.
func TestTargetOfACommitIsKept(t *testing.T) {
	ctx := context.Background()
	remote := itest.NewGitRemote(t)
	remote.Commit(t, "one", files(t, 3))
	src, err := Open(ctx, remote.URL, Options{CacheParses: true})
	if err != nil {
		t.Fatal(err)
	}
	first, err := src.Target(ctx, "main", "dev")
	if err != nil {
		t.Fatal(err)
	}
	again, err := src.Target(ctx, "main", "dev")
	if err != nil || again != first {
		t.Fatalf("same commit: a new target (%v)", err)
	}
	remote.Commit(t, "two", files(t, 4))
	if err := src.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	next, err := src.Target(ctx, "main", "dev")
	if err != nil || next == first || len(next.Desired.Znodes) != 4 || next.Commit == first.Commit {
		t.Fatalf("new commit: target %p (first %p), %d znodes, %v", next, first, len(next.Desired.Znodes), err)
	}
}

// TestClusterFromTheEnvironmentAlone: the cluster read from the
// environment's own manifests is the one the full render gives; a missing
// environment is an error.
func TestClusterFromTheEnvironmentAlone(t *testing.T) {
	ctx := context.Background()
	fs := files(t, 5)
	fs["environments/dev/environment.yaml"] = "apiVersion: ringmaster.io/v1\nkind: Environment\nmetadata: {name: dev}\nspec:\n  cluster:\n    datacenters: [dc1, dc2]\n    zookeeper: {servers: ['127.0.0.1:2181'], root: /rm/dev}\n    cassandra: {contactPoints: [127.0.0.1], localDatacenter: dc1}\n"
	src, err := Open(ctx, writeRepo(t, fs), Options{})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := src.Cluster(ctx, "", "dev")
	if err != nil {
		t.Fatal(err)
	}
	target, err := src.Target(ctx, "", "dev")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cl, target.Desired.Cluster) || cl.ZooKeeperRoot != "/rm/dev" {
		t.Fatalf("cluster ahead %+v, rendered %+v", cl, target.Desired.Cluster)
	}
	if _, err := src.Cluster(ctx, "", "prod"); err == nil {
		t.Fatal("the cluster of an environment the repository lacks")
	}
}
