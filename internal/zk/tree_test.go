package zk

import (
	"errors"
	"fmt"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"
)

func TestReadTree(t *testing.T) {
	z, c := zkTest(t)
	ctx := ctxFor(t, time.Minute)
	nodes := map[string]string{
		z.Path("env"):                                  "",
		z.Path("env", "data"):                          "",
		z.Path("env", "data", "flags"):                 "",
		z.Path("env", "data", "flags", "dark"):         `{"state":"ENABLED"}`,
		z.Path("env", "data", "config"):                "",
		z.Path("env", "data", "config", "a"):           "A",
		z.Path("env", "data", "config", "a", "b"):      "B",
		z.Path("env", "data", "config", "a", "b", "c"): "C",
		z.Path("env", "meta"):                          "",
		z.Path("env", "meta", "generation"):            `{"generation":7}`,
		z.Path("env", "wide"):                          "",
	}
	for i := range 300 {
		nodes[z.Path("env", "wide", fmt.Sprintf("n%03d", i))] = fmt.Sprint(i)
	}
	create(t, z.Conn, nodes)
	// Two more versions of one node.
	for range 2 {
		if _, err := z.Conn.Set(z.Path("env", "meta", "generation"), []byte(`{"generation":9}`), -1); err != nil {
			t.Fatal(err)
		}
	}

	got, err := c.ReadTree(ctx, z.Path("env"))
	if err != nil {
		t.Fatalf("ReadTree: %v", err)
	}
	if len(got) != len(nodes)-1 {
		t.Errorf("ReadTree gave %d nodes, want %d (every node below the root, root excluded)", len(got), len(nodes)-1)
	}
	for p, data := range nodes {
		if p == z.Path("env") {
			if _, ok := got[""]; ok {
				t.Errorf("the root itself is in the result")
			}
			continue
		}
		key := p[len(z.Path("env"))+1:]
		n, ok := got[key]
		switch {
		case !ok:
			t.Errorf("missing %s", key)
		case n.Path != key:
			t.Errorf("node %s has Path %q", key, n.Path)
		case key == "meta/generation":
			if string(n.Data) != `{"generation":9}` || n.Stat.Version != 2 {
				t.Errorf("meta/generation: %q version %d, want the latest data at version 2", n.Data, n.Stat.Version)
			}
		case string(n.Data) != data:
			t.Errorf("%s: data %q, want %q", key, n.Data, data)
		}
	}
	if n := got["data/config/a"]; n == nil || n.Stat.NumChildren != 1 {
		t.Errorf("data/config/a: stat %+v, want one child", n)
	}

	// A subtree, a leaf and a missing root.
	sub, err := c.ReadTree(ctx, z.Path("env", "data", "config"))
	if err != nil || len(sub) != 3 || string(sub["a/b/c"].Data) != "C" {
		t.Errorf("ReadTree(data/config) = %d nodes (%v), want a, a/b, a/b/c", len(sub), err)
	}
	leaf, err := c.ReadTree(ctx, z.Path("env", "data", "flags", "dark"))
	if err != nil || len(leaf) != 0 {
		t.Errorf("ReadTree(leaf) = %v, %v; want empty", leaf, err)
	}
	missing, err := c.ReadTree(ctx, z.Path("nope"))
	if err != nil || missing == nil || len(missing) != 0 {
		t.Errorf("ReadTree(missing) = %v, %v; want an empty map", missing, err)
	}
	if _, err := c.ReadTree(ctx, "relative/path"); err == nil {
		t.Errorf("ReadTree(relative path) succeeded")
	}
}

func TestGetAndEnsurePath(t *testing.T) {
	z, c := zkTest(t)
	ctx := ctxFor(t, time.Minute)
	deep := z.Path("a", "b", "c", "d")
	for range 2 { // idempotent
		if err := c.EnsurePath(ctx, deep); err != nil {
			t.Fatalf("EnsurePath: %v", err)
		}
	}
	if _, err := z.Conn.Set(deep, []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	// Another session wrote it: c's server may lag the leader until synced.
	if _, err := c.Conn().Sync(deep); err != nil {
		t.Fatal(err)
	}
	n, err := c.Get(ctx, deep)
	if err != nil || string(n.Data) != "x" || n.Stat.Version != 1 || n.Path != deep {
		t.Fatalf("Get = %+v, %v; want data x at version 1", n, err)
	}
	if err := c.EnsurePath(ctx, deep); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Get(ctx, deep); string(n.Data) != "x" {
		t.Errorf("EnsurePath changed an existing node: %q", n.Data)
	}
	_, err = c.Get(ctx, z.Path("missing"))
	if !errors.Is(err, gozk.ErrNoNode) {
		t.Errorf("Get(missing) = %v, want ErrNoNode", err)
	}
}
