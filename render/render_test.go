package render

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// dump renders a result deterministically for golden comparison.
func dump(res *Result) string {
	var b strings.Builder
	st := res.State
	c := st.Cluster
	fmt.Fprintf(&b, "# environment %s\n# datacenters %v root %s prune %t replication %d..%d\n\n", st.Environment, c.Datacenters, c.ZooKeeperRoot, c.Prune, c.MinReplication, c.MaxReplication)
	for _, stmt := range SchemaCQL(st) {
		b.WriteString(stmt + "\n")
	}
	b.WriteString("\n")
	for _, p := range state.SortedKeys(st.Znodes) {
		z := st.Znodes[p]
		fmt.Fprintf(&b, "%s (%s %s, %s)\n  %s\n", p, z.Kind, z.Name, z.Origin, z.Data)
	}
	for _, id := range state.SortedKeys(st.AllowedDrops) {
		fmt.Fprintf(&b, "allowed drop %s (%s)\n", id, st.AllowedDrops[id])
	}
	for _, r := range res.Rules {
		fmt.Fprintf(&b, "rule %s %s %s %v (%s): %s\n", r.Name, r.Severity, r.Match, r.Kinds, r.Origin, r.Expression)
	}
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test ./render -update to create it): %v", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the rendered output (go test ./render -update rewrites it):\n--- got\n%s", path, got)
	}
}

// TestExamplesGolden renders every environment of examples/ and compares
// with the golden files.
func TestExamplesGolden(t *testing.T) {
	repo, err := Load(context.Background(), os.DirFS("../examples"), Limits{})
	if err != nil {
		t.Fatalf("load examples: %v", err)
	}
	if got := strings.Join(repo.Environments, ","); got != "local,prod,staging" {
		t.Fatalf("environments = %s", got)
	}
	for _, env := range repo.Environments {
		t.Run(env, func(t *testing.T) {
			res, err := repo.Render(context.Background(), env)
			if err != nil {
				t.Fatalf("render %s:\n%v", env, err)
			}
			if n := len(res.State.Keyspaces); n < 6 {
				t.Errorf("%d keyspaces, want at least 6", n)
			}
			if n := len(res.State.Flags); n < 10 {
				t.Errorf("%d feature flags, want at least 10", n)
			}
			golden(t, "examples-"+env+".golden", dump(res))
		})
	}
}

// TestRenderIsDeterministic renders twice and from a fresh load.
func TestRenderIsDeterministic(t *testing.T) {
	repo, err := Load(context.Background(), os.DirFS("../examples"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := repo.Render(context.Background(), "prod")
	if err != nil {
		t.Fatal(err)
	}
	b, err := repo.Render(context.Background(), "prod")
	if err != nil {
		t.Fatal(err)
	}
	if dump(a) != dump(b) {
		t.Fatal("two renders of one environment differ")
	}
	// Rendering one environment must not leak into another (patches and
	// variables work on copies).
	s1, _ := repo.Render(context.Background(), "staging")
	repo2, _ := Load(context.Background(), os.DirFS("../examples"), Limits{})
	s2, _ := repo2.Render(context.Background(), "staging")
	if dump(s1) != dump(s2) {
		t.Fatal("rendering prod first changed staging")
	}
}

const repoFile = `apiVersion: ringmaster.io/v1
kind: Repository
metadata: {name: t}
spec: {}
`

const envFile = `apiVersion: ringmaster.io/v1
kind: Environment
metadata: {name: dev}
spec:
  cluster:
    datacenters: [dc1, dc2]
  variables:
    rf: 2
`

// repoWith builds an in-memory repository with one environment "dev" and
// the given base files.
func repoWith(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{
		"ringmaster.yaml":                   {Data: []byte(repoFile)},
		"environments/dev/environment.yaml": {Data: []byte(envFile)},
	}
	for name, content := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(content)}
	}
	return fsys
}

func loadAndRender(fsys fstest.MapFS) error {
	_, err := loadAndRenderState(fsys)
	return err
}

func loadAndRenderState(fsys fstest.MapFS) (*state.State, error) {
	repo, err := Load(context.Background(), fsys, Limits{})
	if err != nil {
		return nil, err
	}
	res, err := repo.Render(context.Background(), "dev")
	if err != nil {
		return nil, err
	}
	return res.State, nil
}

const ksHeader = "apiVersion: ringmaster.io/v1\nkind: Keyspace\nmetadata: {name: app}\nspec:\n"

// TestBadInput: every kind of bad input gives a located error, never a
// panic, and all problems come at once.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // each must appear in the error text
	}{
		{"malformed yaml", map[string]string{"base/a.yaml": "apiVersion: ringmaster.io/v1\nkind: [\n"},
			[]string{"base/a.yaml:2: invalid YAML"}},
		{"unknown kind", map[string]string{"base/a.yaml": "apiVersion: ringmaster.io/v1\nkind: Keyspaces\nmetadata: {name: x}\nspec: {}\n"},
			[]string{`base/a.yaml:2:7: unknown kind "Keyspaces"`}},
		{"unknown field", map[string]string{"base/a.yaml": ksHeader + "  replication: {class: SimpleStrategy, replication_factor: 1}\n  durable: true\n"},
			[]string{`base/a.yaml:6:3: Keyspace app spec: unknown field "durable"`}},
		{"wrong type", map[string]string{"base/a.yaml": ksHeader + "  replication: {class: NetworkTopologyStrategy, dc1: three}\n  durable_writes: yes please\n"},
			[]string{`base/a.yaml:5:54: Keyspace app replication: dc1 must be a whole number, not "three"`, `base/a.yaml:6:19: Keyspace app spec: durable_writes must be true or false`}},
		{"duplicate names", map[string]string{
			"base/a.yaml": ksHeader + "  replication: {class: NetworkTopologyStrategy, dc1: 1}\n",
			"base/b.yaml": ksHeader + "  replication: {class: NetworkTopologyStrategy, dc1: 1}\n"},
			[]string{`base/b.yaml:3:18: duplicate Keyspace "app": also declared at base/a.yaml:3`}},
		{"dangling table", map[string]string{"base/t.yaml": "apiVersion: ringmaster.io/v1\nkind: Table\nmetadata: {name: t}\nspec:\n  keyspace: nope\n  columns: [{name: id, type: uuid}]\n  primaryKey: {partition: [id]}\n"},
			[]string{`base/t.yaml:5:13: table nope.t: keyspace "nope" is not declared in this environment`}},
		{"bad column type and key", map[string]string{
			"base/a.yaml": ksHeader + "  replication: {class: NetworkTopologyStrategy, dc1: 1}\n",
			"base/t.yaml": "apiVersion: ringmaster.io/v1\nkind: Table\nmetadata: {name: t}\nspec:\n  keyspace: app\n  columns: [{name: id, type: uuidd}, {name: v, type: \"map<text>\"}]\n  primaryKey: {partition: [idx]}\n"},
			[]string{`unknown type "uuidd"`, "map takes 2 type parameter(s), not 1", `partition key column "idx" is not a declared column`}},
		{"undefined variable", map[string]string{"base/a.yaml": ksHeader + "  replication: {class: NetworkTopologyStrategy, dc1: \"${nope}\"}\n"},
			[]string{`base/a.yaml:5:54: undefined variable "nope"`}},
		{"bad setting", map[string]string{"base/s.yaml": "apiVersion: ringmaster.io/v1\nkind: NodeSettings\nmetadata: {name: s}\nspec:\n  selector: {datacenter: dc9}\n  settings:\n    compaction_throughput: fast\n    turbo: 1\n"},
			[]string{`datacenter "dc9" is not one of this environment's datacenters`, `"fast" is not a throughput`, `unknown setting "turbo"`}},
		{"bad apiVersion", map[string]string{"base/a.yaml": "apiVersion: v2\nkind: Keyspace\nmetadata: {name: x}\nspec: {}\n"},
			[]string{`base/a.yaml:1:13: unsupported apiVersion "v2"`}},
		{"patch without target", map[string]string{"base/p.yaml": "apiVersion: ringmaster.io/v1\nkind: Patch\nmetadata: {name: p}\nspec:\n  target: {kind: Keyspace, name: ghost}\n  merge: {durable_writes: false}\n"},
			[]string{`no Keyspace named "ghost" to patch`}},
		{"config path", map[string]string{"base/c.yaml": "apiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: c}\nspec:\n  path: ../etc\n  value: 1\n"},
			[]string{`base/c.yaml:5:9: ConfigEntry c: path "../etc": ".." has a leading "."`}},
		{"datacenter removal allowance", map[string]string{"base/a.yaml": ksHeader + "  replication: {class: NetworkTopologyStrategy, dc1: 1, dc2: 1}\n  allowDatacenterRemoval: [dc9, dc2, dc1, dc1]\n"},
			[]string{`base/a.yaml:6:28: Keyspace app: allowDatacenterRemoval names "dc9", which is not one of this environment's datacenters (dc1, dc2)`,
				`base/a.yaml:6:33: Keyspace app: allowDatacenterRemoval names dc2, which the replication still lists with factor 1: remove it from one of the two`,
				`base/a.yaml:6:38: Keyspace app: allowDatacenterRemoval names dc1, which the replication still lists with factor 1`}},
		{"datacenter removal allowance listed twice", map[string]string{"base/a.yaml": ksHeader + "  replication: {class: NetworkTopologyStrategy, dc1: 1}\n  allowDatacenterRemoval: [dc2, dc2]\n"},
			[]string{`base/a.yaml:6:33: Keyspace app: allowDatacenterRemoval lists dc2 twice`}},
		{"datacenter removal allowance not a list", map[string]string{"base/a.yaml": ksHeader + "  replication: {class: NetworkTopologyStrategy, dc1: 1}\n  allowDatacenterRemoval: dc2\n"},
			[]string{`base/a.yaml:6:27: Keyspace app spec: allowDatacenterRemoval must be a list`}},
		{"flag variants", map[string]string{"base/f.yaml": "apiVersion: ringmaster.io/v1\nkind: FeatureFlag\nmetadata: {name: f}\nspec:\n  state: ON\n  variants: {a: true, b: \"x\"}\n  defaultVariant: a\n"},
			[]string{`state "ON": want ENABLED or DISABLED`, "all variants must have one type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := loadAndRender(repoWith(tt.files))
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			for _, p := range Problems(err) {
				if p.File == "" {
					t.Errorf("problem without a file: %v", p)
				}
			}
		})
	}
}

// TestVariablesAndPatches covers typed substitution, splicing, escapes and
// merge patches from an environment.
func TestVariablesAndPatches(t *testing.T) {
	fsys := repoWith(map[string]string{
		"base/a.yaml":                 ksHeader + "  replication: {class: NetworkTopologyStrategy, dc1: \"${rf}\", dc2: \"${rf}\"}\n",
		"base/c.yaml":                 "apiVersion: ringmaster.io/v1\nkind: ConfigEntry\nmetadata: {name: c}\nspec:\n  path: svc/name\n  value: {rf: \"${rf}\", label: \"rf-${rf} $${literal}\"}\n",
		"environments/dev/patch.yaml": "apiVersion: ringmaster.io/v1\nkind: Patch\nmetadata: {name: p}\nspec:\n  target: {kind: Keyspace, name: app}\n  merge:\n    replication: {dc2: 3}\n    durable_writes: false\n",
	})
	repo, err := Load(context.Background(), fsys, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := repo.Render(context.Background(), "dev")
	if err != nil {
		t.Fatal(err)
	}
	ks := res.State.Keyspaces["app"]
	if ks.Replication.Factors["dc1"] != 2 || ks.Replication.Factors["dc2"] != 3 || ks.DurableWrites {
		t.Errorf("keyspace after variables and patch: %+v", ks)
	}
	got := string(res.State.Znodes["data/config/svc/name"].Data)
	if want := `{"label":"rf-2 ${literal}","rf":2}`; got != want {
		t.Errorf("config payload %s, want %s", got, want)
	}
}

// TestAllowDatacenterRemoval: the allowance reaches the keyspace with the
// position of each entry; dc2: 0 leaves dc2 out of the replication.
func TestAllowDatacenterRemoval(t *testing.T) {
	fsys := repoWith(map[string]string{
		"base/a.yaml": ksHeader + "  replication: {class: NetworkTopologyStrategy, dc1: 1, dc2: 0}\n  allowDatacenterRemoval:\n    - dc2\n",
	})
	repo, err := Load(context.Background(), fsys, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := repo.Render(context.Background(), "dev")
	if err != nil {
		t.Fatal(err)
	}
	ks := res.State.Keyspaces["app"]
	if _, ok := ks.Replication.Factors["dc2"]; ok {
		t.Errorf("dc2: 0 kept in the replication: %v", ks.Replication)
	}
	want := map[string]state.Origin{"dc2": {File: "base/a.yaml", Line: 7, Column: 7}}
	if len(ks.AllowDatacenterRemoval) != 1 || ks.AllowDatacenterRemoval["dc2"] != want["dc2"] {
		t.Errorf("AllowDatacenterRemoval = %v, want %v", ks.AllowDatacenterRemoval, want)
	}
}

// TestPatchErrorsPointAtThePatch: a bad value introduced by a patch is
// reported in the patch's file.
func TestPatchErrorsPointAtThePatch(t *testing.T) {
	fsys := repoWith(map[string]string{
		"base/a.yaml":                 ksHeader + "  replication: {class: NetworkTopologyStrategy, dc1: 1}\n",
		"environments/dev/patch.yaml": "apiVersion: ringmaster.io/v1\nkind: Patch\nmetadata: {name: p}\nspec:\n  target: {kind: Keyspace, name: app}\n  merge:\n    replication: {dc2: many}\n",
	})
	err := loadAndRender(fsys)
	if err == nil || !strings.Contains(err.Error(), "environments/dev/patch.yaml:7:24:") {
		t.Fatalf("error does not point at the patch line: %v", err)
	}
}

func TestUnknownEnvironment(t *testing.T) {
	repo, err := Load(context.Background(), repoWith(nil), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = repo.Render(context.Background(), "prod")
	if err == nil || !strings.Contains(err.Error(), `unknown environment "prod" (this repository has: dev)`) {
		t.Fatalf("err = %v", err)
	}
}

func TestNormalizeCQLType(t *testing.T) {
	tests := map[string]string{
		"UUID": "uuid", "varchar": "text", "map<text,int>": "map<text, int>",
		"frozen< list < varchar > >": "frozen<list<text>>", "vector<float, 8>": "vector<float, 8>",
		"tuple<int, text, blob>": "frozen<tuple<int, text, blob>>",
	}
	for in, want := range tests {
		if got, err := normalizeCQLType(in); err != nil || got != want {
			t.Errorf("normalizeCQLType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "list<>", "map<int>", "list<counter>", "vector<float, 0>", "int>", "address"} {
		if _, err := normalizeCQLType(bad); err == nil {
			t.Errorf("normalizeCQLType(%q) accepted", bad)
		}
	}
}

// TestCanonicalFormsMatchCassandra pins the forms Cassandra 5.0 stores
// (found on the live cluster): retry policies rewritten, zero factors
// absent, replication_factor refused with NTS, cdc as true/false.
func TestCanonicalFormsMatchCassandra(t *testing.T) {
	for in, want := range map[string]string{"99PERCENTILE": "99p", "99p": "99p", "99P": "99p", "50MS": "50ms", "always": "ALWAYS", "NONE": "NEVER", "MIN(99p,50ms)": "MIN(99p,50ms)"} {
		if got := normalizeRetryPolicy(in); got != want {
			t.Errorf("normalizeRetryPolicy(%q) = %q, want %q", in, got, want)
		}
	}
	fsys := repoWith(map[string]string{
		"base/a.yaml": ksHeader + "  replication: {class: NetworkTopologyStrategy, dc1: 2, dc2: 0}\n",
		"base/t.yaml": "apiVersion: ringmaster.io/v1\nkind: Table\nmetadata: {name: t}\nspec:\n  keyspace: app\n  columns: [{name: id, type: uuid}]\n  primaryKey: {partition: [id]}\n  options: {cdc: True, speculative_retry: 95PERCENTILE}\n",
	})
	repo, err := Load(context.Background(), fsys, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := repo.Render(context.Background(), "dev")
	if err != nil {
		t.Fatal(err)
	}
	ks := res.State.Keyspaces["app"]
	if _, ok := ks.Replication.Factors["dc2"]; ok || ks.Replication.Factors["dc1"] != 2 {
		t.Errorf("factors %v: a zero factor must leave the datacenter out", ks.Replication.Factors)
	}
	opts := ks.Tables["t"].Options
	if opts["cdc"].Scalar != "true" || opts["speculative_retry"].Scalar != "95p" {
		t.Errorf("options %+v", opts)
	}
	err = loadAndRender(repoWith(map[string]string{"base/a.yaml": ksHeader + "  replication: {class: NetworkTopologyStrategy, replication_factor: 3}\n"}))
	if err == nil || !strings.Contains(err.Error(), "not replication_factor") {
		t.Errorf("NTS with replication_factor: %v", err)
	}
}

// TestRollout: an environment's rollout is read with its defaults, and
// every mistake in it is named.
func TestRollout(t *testing.T) {
	env := func(rollout string) fstest.MapFS {
		fsys := repoWith(nil)
		fsys["environments/dev/environment.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: ringmaster.io/v1\nkind: Environment\nmetadata: {name: dev}\nspec:\n  cluster: {datacenters: [dc1, dc2]}\n  rollout: " + rollout + "\n")}
		return fsys
	}
	repo, err := Load(context.Background(), env("{by: datacenter, order: [dc2, dc1], pause: 30s}"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := repo.Render(context.Background(), "dev")
	if err != nil {
		t.Fatal(err)
	}
	r := res.State.Cluster.Rollout
	if r == nil || r.By != "datacenter" || strings.Join(r.Order, ",") != "dc2,dc1" || r.Pause != 30*time.Second || !r.RequireHealthy {
		t.Fatalf("rollout %+v", r)
	}
	if r.Stage("dc1", "r1") != 1 || r.Stage("dc3", "r1") != 2 {
		t.Fatalf("stages: dc1 %d, dc3 %d", r.Stage("dc1", "r1"), r.Stage("dc3", "r1"))
	}
	for rollout, want := range map[string]string{
		"{by: zone, order: [dc1]}":                    `rollout.by is "zone": want datacenter or rack`,
		"{by: datacenter, order: [dc1, dc9]}":         `rollout.order entry "dc9": datacenter dc9 is not among dc1, dc2`,
		"{by: rack, order: [dc1]}":                    `rollout.order entry "dc1": by rack wants datacenter/rack`,
		"{by: datacenter, order: [dc1, dc1]}":         `rollout.order lists "dc1" twice`,
		"{by: datacenter, order: [dc1], pause: soon}": `rollout.pause "soon": want a duration`,
		"{by: datacenter, order: [dc1], wait: 1}":     `unknown field "wait"`,
	} {
		err := loadAndRender(env(rollout))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", rollout, err, want)
		}
	}
}

// TestCredentialsInConnectionFields: an address with user:password@ is
// refused, and the message does not repeat the secret.
func TestCredentialsInConnectionFields(t *testing.T) {
	fsys := repoWith(nil)
	fsys["environments/dev/environment.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: ringmaster.io/v1\nkind: Environment\nmetadata: {name: dev}\nspec:\n  cluster:\n    datacenters: [dc1]\n    zookeeper: {servers: ['admin:s3cret@zk1:2181']}\n    cassandra: {contactPoints: ['cassandra:hunter2@10.0.0.1']}\n")}
	err := loadAndRender(fsys)
	if err == nil {
		t.Fatal("credentials in the repository were accepted")
	}
	for _, want := range []string{"environments/dev/environment.yaml:7", "cluster.zookeeper.servers entry \"xxxxx@zk1:2181\" looks like it holds a credential", "cluster.cassandra.contactPoints entry"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for _, secret := range []string{"s3cret", "hunter2"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error repeats the secret %q:\n%v", secret, err)
		}
	}
}

// TestZooKeeperACLPolicy: cluster.zookeeper.acl names the identities of
// the three roles; a digest id that holds a password, an unknown scheme and
// a policy without writers are refused at their line, never repeating the
// password.
func TestZooKeeperACLPolicy(t *testing.T) {
	env := func(acl string) fstest.MapFS {
		fsys := repoWith(nil)
		fsys["environments/dev/environment.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: ringmaster.io/v1\nkind: Environment\nmetadata: {name: dev}\nspec:\n  cluster:\n    datacenters: [dc1]\n    zookeeper:\n      acl: " + acl + "\n")}
		return fsys
	}
	st, err := loadAndRenderState(env("{writers: ['digest:rm:x3lyDVPSyVNKbZYzzI8jP8dpSls='], agents: ['x509:CN=agent'], readers: ['digest:app:x3lyDVPSyVNKbZYzzI8jP8dpSls=']}"))
	if err != nil {
		t.Fatal(err)
	}
	pol := st.Cluster.ACL
	if pol == nil || len(pol.Writers) != 1 || pol.Writers[0].String() != "digest:rm:x3lyDVPSyVNKbZYzzI8jP8dpSls=" || pol.Agents[0].String() != "x509:CN=agent" || len(pol.Readers) != 1 {
		t.Fatalf("policy: %+v", pol)
	}
	if pol.Writers[0].Origin.Line != 8 {
		t.Errorf("writer declared at %v, want line 8", pol.Writers[0].Origin)
	}
	for acl, want := range map[string]string{
		"{writers: ['digest:rm:s3cretpassword']}": "environment.yaml:8:23",
		"{writers: ['kerberos:rm']}":              "unknown scheme",
		"{readers: ['world:anyone']}":             "needs at least one writer",
		"{writers: ['x509:CN=rm'], admins: []}":   `unknown field "admins"`,
	} {
		_, err := loadAndRenderState(env(acl))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", acl, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cretpassword") {
			t.Errorf("the error repeats the password: %v", err)
		}
	}
}
