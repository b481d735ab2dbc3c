package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	gozk "github.com/go-zookeeper/zk"

	"github.com/ringmaster-io/ringmaster/internal/cassandra"
	"github.com/ringmaster-io/ringmaster/internal/itest"
	"github.com/ringmaster-io/ringmaster/internal/state"
	"github.com/ringmaster-io/ringmaster/internal/zk"
)

// secureRepo is a repository whose environment lives on the secure cluster:
// ZooKeeper over TLS with a digest identity per role and an ACL policy,
// Cassandra over TLS as a least-privilege role made with the documented
// statements.
type secureRepo struct {
	*liveRepo
	s *itest.Secure
	// Identities: the passwords of the writer (ringmaster), two agents and
	// an application.
	writer, agentA, agentB, app string
	role, rolePassword          string
	files                       string // where credential files go
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func newSecureRepo(t *testing.T) *secureRepo {
	t.Helper()
	s := itest.SecureCluster(t)
	admin, err := s.CassandraAs(t, "cassandra", s.CassandraSuperPassword)
	if err != nil {
		t.Fatalf("log in to the secure Cassandra as its superuser: %v", err)
	}
	r := &secureRepo{s: s, writer: randomHex(t, 8), agentA: randomHex(t, 8), agentB: randomHex(t, 8), app: randomHex(t, 8),
		role: "rm_" + randomHex(t, 6), rolePassword: randomHex(t, 8), files: t.TempDir()}
	for _, stmt := range cassandra.RoleStatements(r.role, r.rolePassword) {
		if err := admin.Query(stmt).Exec(); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	keyspace := "sec_" + randomHex(t, 6)
	t.Cleanup(func() {
		_ = admin.Query("DROP KEYSPACE IF EXISTS " + keyspace).Exec()
		_ = admin.Query("DROP ROLE IF EXISTS " + r.role).Exec()
	})
	r.liveRepo = &liveRepo{dir: t.TempDir(), env: "it", root: s.Root, keyspace: keyspace}
	r.write("ringmaster.yaml", itest.RepositoryManifest)
	r.write("environments/it/environment.yaml", fmt.Sprintf(`apiVersion: ringmaster.io/v1
kind: Environment
metadata: {name: it}
spec:
  cluster:
    datacenters: [dc1]
    zookeeper:
      servers: [%s]
      root: %s
      acl:
        writers: ['digest:%s']
        agents: ['digest:%s', 'digest:%s']
        readers: ['digest:%s']
    cassandra:
      contactPoints: [%s]
      localDatacenter: dc1
  variables:
    ks: %s
`, s.ZooKeeperTLS, s.Root, zk.DigestID("ringmaster", r.writer), zk.DigestID("agent-a", r.agentA), zk.DigestID("agent-b", r.agentB),
		zk.DigestID("app", r.app), s.Cassandra, keyspace))
	r.write("base/schema.yaml", `apiVersion: ringmaster.io/v1
kind: Keyspace
metadata: {name: KS}
spec:
  replication: {class: NetworkTopologyStrategy, dc1: 1}
---
apiVersion: ringmaster.io/v1
kind: Table
metadata: {name: events}
spec:
  keyspace: KS
  columns:
    - {name: id, type: uuid}
    - {name: body, type: text}
  primaryKey: {partition: [id]}
`)
	r.write("base/config.yaml", `apiVersion: ringmaster.io/v1
kind: ConfigEntry
metadata: {name: pipeline}
spec:
  path: ingest/pipeline
  value: {batch: 100}
---
apiVersion: ringmaster.io/v1
kind: FeatureFlag
metadata: {name: new-path}
spec:
  state: ENABLED
  variants: {"on": true, "off": false}
  defaultVariant: "off"
`)
	return r
}

// secret writes a credential file and returns its path.
func (r *secureRepo) secret(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(r.files, name)
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// secureArgs are the connection flags of the writer identity and the
// Cassandra role; override replaces flags by name (an empty value drops
// the flag).
func (r *secureRepo) secureArgs(t *testing.T, cmd string, override map[string]string, extra ...string) []string {
	t.Helper()
	flags := map[string]string{
		"--zk-auth-file":            r.secret(t, "zk-auth", "ringmaster:"+r.writer),
		"--zk-tls-ca":               r.s.CA,
		"--zk-tls-cert":             r.s.ClientCert,
		"--zk-tls-key":              r.s.ClientKey,
		"--cassandra-username":      r.role,
		"--cassandra-password-file": r.secret(t, "cassandra-password", r.rolePassword),
		"--cassandra-tls-ca":        r.s.CA,
	}
	if cmd == "status" || cmd == "lock" || cmd == "acl" {
		for k := range flags {
			if strings.HasPrefix(k, "--cassandra") {
				delete(flags, k)
			}
		}
	}
	for k, v := range override {
		flags[k] = v
	}
	args := r.args(cmd)
	if cmd == "lock" || cmd == "acl" {
		args = append([]string{cmd, extra[0]}, args[1:]...)
		extra = extra[1:]
	}
	for k, v := range flags {
		if v != "" {
			args = append(args, k, v)
		}
	}
	return append(args, extra...)
}

// TestSecureClusterEndToEnd: with TLS and authentication on both servers,
// plan, apply, diff, status, lock list and acl show work as the writer
// identity and a least-privilege Cassandra role; every znode gets the
// policy's ACL, and one that drifts is repaired by the next apply.
func TestSecureClusterEndToEnd(t *testing.T) {
	r := newSecureRepo(t)
	if code, out, errOut := runTo(t, nil, r.secureArgs(t, "plan", nil, "-out", filepath.Join(t.TempDir(), "plan.json"))...); code != exitOK || !strings.Contains(out, "+ table "+r.keyspace+".events") {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := runTo(t, nil, r.secureArgs(t, "apply", nil, "--auto-approve")...); code != exitOK {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := runTo(t, nil, r.secureArgs(t, "diff", nil, "--detailed-exitcode")...); code != exitOK {
		t.Fatalf("diff after apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := runTo(t, nil, r.secureArgs(t, "status", nil)...); code != exitOK || !strings.Contains(out, "last applied:") || strings.Contains(out, "last applied:       -") {
		t.Fatalf("status: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := runTo(t, nil, r.secureArgs(t, "lock", nil, "list")...); code != exitOK {
		t.Fatalf("lock list: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := runTo(t, nil, r.secureArgs(t, "acl", nil, "show")...)
	if code != exitOK || !strings.Contains(out, "digest:ringmaster:") || !strings.Contains(out, "has the ACL the policy gives it") {
		t.Fatalf("acl show: exit %d\n%s\n%s", code, out, errOut)
	}

	// Every znode the writer made carries the policy: writers cdrwa,
	// agents and readers r; the agents' folder lets agents create.
	want := fmt.Sprintf("digest:%s:cdrwa, digest:%s:r, digest:%s:r, digest:%s:r",
		zk.DigestID("ringmaster", r.writer), zk.DigestID("agent-a", r.agentA), zk.DigestID("agent-b", r.agentB), zk.DigestID("app", r.app))
	pipeline := path.Join(r.root, state.ConfigDir, "ingest/pipeline")
	for _, p := range []string{r.root, path.Join(r.root, state.GenerationPath), pipeline} {
		acl, _, err := r.s.Super.GetACL(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := formatACL(acl); got != want {
			t.Errorf("ACL of %s:\n got %s\nwant %s", p, got, want)
		}
	}
	acl, _, err := r.s.Super.GetACL(path.Join(r.root, state.AgentsDir))
	if err != nil {
		t.Fatal(err)
	}
	if got := formatACL(acl); !strings.Contains(got, zk.DigestID("agent-a", r.agentA)+":cr") {
		t.Errorf("ACL of the agents' folder: %s, want agents with cr", got)
	}

	// Drift: someone opens a znode to the world; acl show names it, apply
	// puts the policy's ACL back.
	if _, err := r.s.Super.SetACL(pipeline, gozk.WorldACL(gozk.PermAll), -1); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runTo(t, nil, r.secureArgs(t, "acl", nil, "show")...)
	if code != exitOK || !strings.Contains(out, "1 znode(s) whose ACL drifted") || !strings.Contains(out, pipeline) || !strings.Contains(out, "world:anyone:cdrwa") {
		t.Fatalf("acl show after drift: exit %d\n%s", code, out)
	}
	code, out, errOut = runTo(t, nil, r.secureArgs(t, "apply", nil, "--auto-approve")...)
	if code != exitOK || !strings.Contains(out, "ACLs: 1 znode(s) differ from the policy") || !strings.Contains(out, "ACLs repaired: 1 znode(s)") {
		t.Fatalf("apply after drift: exit %d\n%s\n%s", code, out, errOut)
	}
	acl, _, err = r.s.Super.GetACL(pipeline)
	if err != nil {
		t.Fatal(err)
	}
	if got := formatACL(acl); got != want {
		t.Errorf("ACL of %s after the repair:\n got %s\nwant %s", pipeline, got, want)
	}
}

// TestLeastPrivilegeRoleCannotTouchData: the role ringmaster works as,
// made with cassandra.RoleStatements, creates and alters the schema but can
// neither read nor write rows: not of the tables it created (it gives back
// the permissions Cassandra grants their creator), nor of any other.
func TestLeastPrivilegeRoleCannotTouchData(t *testing.T) {
	r := newSecureRepo(t)
	if code, out, errOut := runTo(t, nil, r.secureArgs(t, "apply", nil, "--auto-approve")...); code != exitOK {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	admin, err := r.s.CassandraAs(t, "cassandra", r.s.CassandraSuperPassword)
	if err != nil {
		t.Fatal(err)
	}
	other := "app_" + randomHex(t, 6)
	t.Cleanup(func() { _ = admin.Query("DROP KEYSPACE IF EXISTS " + other).Exec() })
	for _, stmt := range []string{
		"CREATE KEYSPACE " + other + " WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 1}",
		"CREATE TABLE " + other + ".orders (id int PRIMARY KEY, total int)",
		"INSERT INTO " + other + ".orders (id, total) VALUES (1, 10)",
		"INSERT INTO " + r.keyspace + ".events (id, body) VALUES (uuid(), 'x')",
	} {
		if err := admin.Query(stmt).Exec(); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	role, err := r.s.CassandraAs(t, r.role, r.rolePassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"SELECT * FROM " + r.keyspace + ".events",
		"INSERT INTO " + r.keyspace + ".events (id, body) VALUES (uuid(), 'y')",
		"SELECT * FROM " + other + ".orders",
		"INSERT INTO " + other + ".orders (id, total) VALUES (2, 20)",
		"TRUNCATE " + other + ".orders",
	} {
		err := role.Query(stmt).Exec()
		if err == nil || !strings.Contains(err.Error(), "Unauthorized") && !strings.Contains(err.Error(), "has no") {
			t.Errorf("ringmaster's role ran %q: %v", stmt, err)
		}
	}
	// It still manages the schema: a column added in Git is applied.
	r.write("base/schema.yaml", strings.Replace(readFile(t, filepath.Join(r.dir, "base/schema.yaml")), "    - {name: body, type: text}\n", "    - {name: body, type: text}\n    - {name: source, type: text}\n", 1))
	if code, out, errOut := runTo(t, nil, r.secureArgs(t, "apply", nil, "--auto-approve")...); code != exitOK || !strings.Contains(out, "ADD source text") {
		t.Fatalf("apply of a new column as the least-privilege role: exit %d\n%s\n%s", code, out, errOut)
	}
}

func formatACL(acl []gozk.ACL) string {
	parts := make([]string, len(acl))
	for i, a := range acl {
		perms := ""
		for _, x := range []struct {
			bit int32
			c   string
		}{{gozk.PermCreate, "c"}, {gozk.PermDelete, "d"}, {gozk.PermRead, "r"}, {gozk.PermWrite, "w"}, {gozk.PermAdmin, "a"}} {
			if a.Perms&x.bit != 0 {
				perms += x.c
			}
		}
		parts[i] = a.Scheme + ":" + a.ID + ":" + perms
	}
	return strings.Join(parts, ", ")
}

// TestSecureClusterRefusesBadCredentials: a wrong ZooKeeper password, a CA
// that does not trust the servers, no client certificate, a wrong Cassandra
// password or CA: each apply fails with a message that says what was
// refused, and writes nothing to either server.
func TestSecureClusterRefusesBadCredentials(t *testing.T) {
	r := newSecureRepo(t)
	if code, out, errOut := runTo(t, nil, r.secureArgs(t, "apply", nil, "--auto-approve")...); code != exitOK {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	// A change to both servers that a refused apply must not make.
	r.write("base/config.yaml", strings.Replace(readFile(t, filepath.Join(r.dir, "base/config.yaml")), "batch: 100", "batch: 200", 1))
	r.write("base/more.yaml", "apiVersion: ringmaster.io/v1\nkind: Table\nmetadata: {name: more}\nspec:\n  keyspace: KS\n  columns: [{name: id, type: uuid}]\n  primaryKey: {partition: [id]}\n")
	before := treeZxids(t, r.s.Super, r.root)

	for _, tc := range []struct {
		name     string
		override map[string]string
		want     []string
	}{
		{"wrong ZooKeeper password", map[string]string{"--zk-auth-file": r.secret(t, "wrong-zk", "ringmaster:not-the-password")},
			[]string{"digest user ringmaster", r.root}},
		{"a CA that does not trust ZooKeeper", map[string]string{"--zk-tls-ca": selfSignedCA(t)},
			[]string{r.s.ZooKeeperTLS, "certificate"}},
		{"no client certificate", map[string]string{"--zk-tls-cert": "", "--zk-tls-key": ""},
			[]string{r.s.ZooKeeperTLS}},
		{"wrong Cassandra password", map[string]string{"--cassandra-password-file": r.secret(t, "wrong-cass", "not-the-password")},
			[]string{"Provided username", r.s.Cassandra}},
		{"a CA that does not trust Cassandra", map[string]string{"--cassandra-tls-ca": selfSignedCA(t)},
			[]string{r.s.Cassandra, "certificate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runTo(t, nil, r.secureArgs(t, "apply", tc.override, "--auto-approve")...)
			if code != exitError {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, exitError, out, errOut)
			}
			t.Logf("refused: %s", errOut)
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("the error does not name %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(errOut, "not-the-password") || strings.Contains(errOut, r.writer) {
				t.Errorf("the error repeats a password:\n%s", errOut)
			}
			if after := treeZxids(t, r.s.Super, r.root); after != before {
				t.Errorf("ZooKeeper changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	admin, err := r.s.CassandraAs(t, "cassandra", r.s.CassandraSuperPassword)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := admin.Query("SELECT count(*) FROM system_schema.tables WHERE keyspace_name = ? AND table_name = 'more'", r.keyspace).Scan(&n); err != nil || n != 0 {
		t.Errorf("a refused apply created table more (%d, %v)", n, err)
	}
}

// selfSignedCA writes a CA certificate the secure cluster's servers do not
// chain to.
func selfSignedCA(t *testing.T) string {
	t.Helper()
	server, _ := itest.SelfSignedTLS(t)
	p := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Certificates[0].Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// treeZxids is a fingerprint of a tree's writes: every node's path with
// the zxid of its last change and of its children's, read as superuser.
func treeZxids(t *testing.T, conn *gozk.Conn, root string) string {
	t.Helper()
	var b strings.Builder
	var walk func(p string)
	walk = func(p string) {
		_, st, err := conn.Get(p)
		if errors.Is(err, gozk.ErrNoNode) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s@%d/%d ", p, st.Mzxid, st.Pzxid)
		kids, _, err := conn.Children(p)
		if err != nil && !errors.Is(err, gozk.ErrNoNode) {
			t.Fatal(err)
		}
		for _, k := range kids {
			walk(path.Join(p, k))
		}
	}
	walk(root)
	return b.String()
}
