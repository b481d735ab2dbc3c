package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ringmaster-io/ringmaster/internal/itest"
)

// TestTrustedKeysRefuseUntrustedCommits: with --trusted-keys, diff reads
// commits signed by a trusted key, and refuses an unsigned one and one
// signed by another key, naming the commit and the key (exit 1).
func TestTrustedKeysRefuseUntrustedCommits(t *testing.T) {
	alice, alicePub := itest.SigningKey(t, "alice")
	mallory, _ := itest.SigningKey(t, "mallory")
	keys := filepath.Join(t.TempDir(), "trusted.asc")
	if err := os.WriteFile(keys, []byte(alicePub), 0o600); err != nil {
		t.Fatal(err)
	}
	remote := itest.NewGitRemote(t)
	env := "apiVersion: ringmaster.io/v1\nkind: Environment\nmetadata: {name: it}\nspec:\n  cluster: {datacenters: [dc1]}\n"
	entry := func(v string) string {
		return "apiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: x}\nspec: {path: x, value: " + v + "}\n"
	}
	remote.CommitSigned(t, "one", map[string]string{"ringmaster.yaml": itest.RepositoryManifest, "environments/it/environment.yaml": env, "base/x.yaml": entry("1")}, alice)
	remote.CommitSigned(t, "two", map[string]string{"base/x.yaml": entry("2")}, alice)
	diff := func(from string) (int, string, string) {
		return runTo(t, nil, "diff", "--repo", remote.URL, "--env", "it", "--from", from, "--to", "main", "--trusted-keys", keys)
	}
	if code, out, errOut := diff("main~1"); code != exitOK || !strings.Contains(out, "znode data/config/x") {
		t.Fatalf("signed commits: exit %d\n%s\n%s", code, out, errOut)
	}
	remote.CommitSigned(t, "three", map[string]string{"base/x.yaml": entry("3")}, nil)
	if code, _, errOut := diff("main~1"); code != exitError || !strings.Contains(errOut, "is not signed") {
		t.Fatalf("an unsigned commit: exit %d\n%s", code, errOut)
	}
	remote.CommitSigned(t, "four", map[string]string{"base/x.yaml": entry("4")}, mallory)
	if code, _, errOut := diff("main~3"); code != exitError || !strings.Contains(errOut, "signed by key "+strings.ToUpper(mallory.PrimaryKey.KeyIdString())) {
		t.Fatalf("a commit signed by another key: exit %d\n%s", code, errOut)
	}
	if code, _, errOut := runTo(t, nil, "diff", "--repo", remote.URL, "--env", "it", "--from", "main~1", "--trusted-keys", filepath.Join(t.TempDir(), "none.asc")); code != exitError || !strings.Contains(errOut, "--trusted-keys") {
		t.Fatalf("a missing keys file: exit %d\n%s", code, errOut)
	}
}

// TestSecretFiles: a secret comes from a file; given twice (flag and
// file), from a missing file or an empty one, the command stops before it
// connects, naming the flag (exit 1).
func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "auth")
	if err := os.WriteFile(good, []byte("app:s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--zk-auth", "a:b", "--zk-auth-file", good}, "--zk-auth and --zk-auth-file both given"},
		{[]string{"--zk-auth-file", filepath.Join(dir, "none")}, "--zk-auth-file: open"},
		{[]string{"--zk-auth-file", empty}, "--zk-auth-file " + empty + " is empty"},
		{[]string{"--cassandra-password", "x", "--cassandra-password-file", good}, "--cassandra-password and --cassandra-password-file both given"},
	} {
		args := append([]string{"plan", "--env", "it", "--repo", dir, "-out", filepath.Join(dir, "plan.json")}, tc.args...)
		code, _, errOut := runTo(t, nil, args...)
		if code != exitError || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "s3cret") {
			t.Errorf("%v: exit %d\n%s", tc.args, code, errOut)
		}
	}
}
