package itest

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"testing"

	gozk "github.com/go-zookeeper/zk"
)

// Generations writes an environment's tree under Root as an apply does, for
// the tests of its readers (applications, agents): meta/in-progress first,
// then the data znodes, then one transaction that bumps meta/generation
// (listing what changed) and removes meta/in-progress.
type Generations struct {
	t    testing.TB
	z    *ZK
	Root string
	// Gen is the last generation written.
	Gen int64
}

// NewGenerations is an empty environment at a root of the test's own.
func NewGenerations(t testing.TB, z *ZK) *Generations {
	t.Helper()
	g := &Generations{t: t, z: z, Root: z.Path("env")}
	g.ensure(path.Join(g.Root, "meta"))
	return g
}

// ensure creates p and its missing parents, empty.
func (g *Generations) ensure(p string) {
	g.t.Helper()
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i := range parts {
		q := "/" + strings.Join(parts[:i+1], "/")
		if _, err := g.z.Conn.Create(q, nil, 0, gozk.WorldACL(gozk.PermAll)); err != nil && !errors.Is(err, gozk.ErrNodeExists) {
			g.t.Fatalf("create %s: %v", q, err)
		}
	}
}

// Begin records an apply in progress whose lock id is lockID.
func (g *Generations) Begin(lockID string) {
	g.t.Helper()
	data := fmt.Sprintf(`{"lockId":%q,"holder":"test","revision":"r%d"}`, lockID, g.Gen+1)
	if _, err := g.z.Conn.Create(path.Join(g.Root, "meta/in-progress"), []byte(data), 0, gozk.WorldACL(gozk.PermAll)); err != nil {
		g.t.Fatal(err)
	}
}

// Write sets, creates (with their parents) or, for "", deletes data
// znodes, by path relative to the root.
func (g *Generations) Write(writes map[string]string) {
	g.t.Helper()
	for _, rel := range sortedKeys(writes) {
		p, v := path.Join(g.Root, rel), writes[rel]
		ok, _, err := g.z.Conn.Exists(p)
		switch {
		case err != nil:
		case v == "":
			err = g.z.Conn.Delete(p, -1)
		case ok:
			_, err = g.z.Conn.Set(p, []byte(v), -1)
		default:
			g.ensure(path.Dir(p))
			_, err = g.z.Conn.Create(p, []byte(v), 0, gozk.WorldACL(gozk.PermAll))
		}
		if err != nil {
			g.t.Fatalf("write %s: %v", rel, err)
		}
	}
}

// Finish bumps the generation, listing changed (or all), and ends the
// apply in progress.
func (g *Generations) Finish(changed []string, all bool) {
	g.t.Helper()
	g.Gen++
	data, _ := json.Marshal(map[string]any{"generation": g.Gen, "revision": fmt.Sprintf("r%d", g.Gen), "changed": changed, "changedAll": all})
	genPath := path.Join(g.Root, "meta/generation")
	var ops []any
	if g.Gen == 1 {
		ops = append(ops, &gozk.CreateRequest{Path: genPath, Data: data, Acl: gozk.WorldACL(gozk.PermAll)})
	} else {
		ops = append(ops, &gozk.SetDataRequest{Path: genPath, Data: data, Version: -1})
	}
	if ok, _, _ := g.z.Conn.Exists(path.Join(g.Root, "meta/in-progress")); ok {
		ops = append(ops, &gozk.DeleteRequest{Path: path.Join(g.Root, "meta/in-progress"), Version: -1})
	}
	if _, err := g.z.Conn.Multi(ops...); err != nil {
		g.t.Fatal(err)
	}
}

// Apply is a whole apply of writes.
func (g *Generations) Apply(writes map[string]string) {
	g.t.Helper()
	g.Begin("_c_gone-lock-0000000001")
	g.Write(writes)
	g.Finish(sortedKeys(writes), false)
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
