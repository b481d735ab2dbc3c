package zk

import (
	"errors"
	"fmt"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"
)

// awaitCache waits, on Changed, until the cache's snapshot satisfies ok.
func awaitCache(t *testing.T, tc *TreeCache, what string, ok func(map[string]*Node) bool) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		snap, err := tc.Snapshot()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok(snap) {
			return
		}
		select {
		case <-tc.Changed():
		case <-deadline.C:
			t.Fatalf("%s: not seen within 20 s (cache %v)", what, keysOf(snap))
		}
	}
}

func keysOf(m map[string]*Node) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestTreeCacheFollowsChanges: the cache starts equal to a tree read, then
// follows what another session does: a set, a create below a folder, a
// create below a new folder, a delete, the root deleted and made again.
func TestTreeCacheFollowsChanges(t *testing.T) {
	z, c := zkTest(t)
	ctx := ctxFor(t, time.Minute)
	root := z.Path("env", "data")
	create(t, z.Conn, map[string]string{z.Path("env"): "", root: "", root + "/config": "", root + "/config/a": "1", root + "/config/b": "2"})
	tc, err := c.WatchTree(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	read, err := c.ReadTree(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := tc.Snapshot()
	if err != nil || len(snap) != len(read) {
		t.Fatalf("initial snapshot %v (%v), tree read %v", keysOf(snap), err, keysOf(read))
	}
	for k, n := range read {
		if s := snap[k]; s == nil || string(s.Data) != string(n.Data) || s.Stat.Version != n.Stat.Version {
			t.Fatalf("%s: cache %+v, read %+v", k, s, n)
		}
	}

	other := z.Conn
	if _, err := other.Set(root+"/config/a", []byte("changed"), -1); err != nil {
		t.Fatal(err)
	}
	awaitCache(t, tc, "a set", func(m map[string]*Node) bool {
		return m["config/a"] != nil && string(m["config/a"].Data) == "changed" && m["config/a"].Stat.Version == 1
	})
	create(t, other, map[string]string{root + "/config/c": "3", root + "/flags": "", root + "/flags/f": "on"})
	awaitCache(t, tc, "creates", func(m map[string]*Node) bool {
		return m["config/c"] != nil && m["flags/f"] != nil && string(m["flags/f"].Data) == "on"
	})
	if err := other.Delete(root+"/config/b", -1); err != nil {
		t.Fatal(err)
	}
	awaitCache(t, tc, "a delete", func(m map[string]*Node) bool { return m["config/b"] == nil })
	// An empty node made on its own, seen, and only then given a child:
	// the child is seen too (every node has a child watch, not only the
	// nodes that had children when read).
	create(t, other, map[string]string{root + "/settings": ""})
	awaitCache(t, tc, "an empty folder", func(m map[string]*Node) bool { return m["settings"] != nil })
	create(t, other, map[string]string{root + "/settings/s": "late"})
	awaitCache(t, tc, "a child of a folder made empty", func(m map[string]*Node) bool {
		return m["settings/s"] != nil && string(m["settings/s"].Data) == "late"
	})
	// Watches are re-armed: a second set of the same node is seen too.
	if _, err := other.Set(root+"/config/a", []byte("again"), -1); err != nil {
		t.Fatal(err)
	}
	awaitCache(t, tc, "a second set", func(m map[string]*Node) bool { return string(m["config/a"].Data) == "again" })
	for _, p := range []string{"/config/a", "/config/c", "/config", "/flags/f", "/flags", "/settings/s", "/settings", ""} {
		if err := other.Delete(root+p, -1); err != nil {
			t.Fatal(err)
		}
	}
	awaitCache(t, tc, "the root deleted", func(m map[string]*Node) bool { return len(m) == 0 })
	create(t, other, map[string]string{root: "", root + "/x": "back"})
	awaitCache(t, tc, "the root made again", func(m map[string]*Node) bool { return m["x"] != nil && string(m["x"].Data) == "back" })
}

// TestTreeCacheInvalidAfterClose: a closed cache (or one whose client
// closed) fails its snapshot and closes Changed.
func TestTreeCacheInvalidAfterClose(t *testing.T) {
	z, c := zkTest(t)
	ctx := ctxFor(t, time.Minute)
	tc, err := c.WatchTree(ctx, z.Path("missing"))
	if err != nil {
		t.Fatal(err)
	}
	if snap, err := tc.Snapshot(); err != nil || len(snap) != 0 {
		t.Fatalf("a missing root: %v, %v", snap, err)
	}
	c.Close()
	select {
	case <-tc.Invalid():
	case <-time.After(10 * time.Second):
		t.Fatal("the cache stayed valid after its client closed")
	}
	if _, err := tc.Snapshot(); !errors.Is(err, ErrCacheInvalid) {
		t.Fatalf("Snapshot after close: %v", err)
	}
	tc.Close()
	for range tc.Changed() {
	}
}

// TestTreeCacheTakeDirty: the cache lists the nodes that changed since it
// was last asked (a set, a create, a delete, the nodes below a deleted
// folder), not those read at start; past MaxDirty it says it lost count.
func TestTreeCacheTakeDirty(t *testing.T) {
	z, c := zkTest(t)
	ctx := ctxFor(t, time.Minute)
	root := z.Path("env", "data")
	create(t, z.Conn, map[string]string{z.Path("env"): "", root: "", root + "/config": "", root + "/config/a": "1", root + "/config/b": "2",
		root + "/flags": "", root + "/flags/f": "on"})
	tc, err := c.WatchTree(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if paths, complete := tc.TakeDirty(); len(paths) != 0 || !complete {
		t.Fatalf("right after the first read: %v, complete %v", paths, complete)
	}
	if n, ok, err := tc.Get("config/a"); err != nil || !ok || string(n.Data) != "1" {
		t.Fatalf("Get config/a: %+v %v %v", n, ok, err)
	}
	if _, ok, err := tc.Get("config/none"); err != nil || ok {
		t.Fatalf("Get of a missing node: %v %v", ok, err)
	}
	if _, err := z.Conn.Set(root+"/config/a", []byte("x"), -1); err != nil {
		t.Fatal(err)
	}
	create(t, z.Conn, map[string]string{root + "/config/c": "3"})
	awaitCache(t, tc, "a set and a create", func(m map[string]*Node) bool { return m["config/c"] != nil && string(m["config/a"].Data) == "x" })
	if paths, complete := tc.TakeDirty(); !complete || !sameSet(paths, "config/a", "config/c") {
		t.Fatalf("after a set and a create: %v, complete %v", paths, complete)
	}
	if paths, _ := tc.TakeDirty(); len(paths) != 0 {
		t.Fatalf("taken twice: %v", paths)
	}
	for _, p := range []string{"/flags/f", "/flags"} {
		if err := z.Conn.Delete(root+p, -1); err != nil {
			t.Fatal(err)
		}
	}
	awaitCache(t, tc, "a folder deleted", func(m map[string]*Node) bool { return m["flags"] == nil && m["flags/f"] == nil })
	if paths, complete := tc.TakeDirty(); !complete || !sameSet(paths, "flags", "flags/f") {
		t.Fatalf("after deleting a folder: %v, complete %v", paths, complete)
	}
	// Past MaxDirty changes the cache stops counting.
	ops := make([]any, 0, MaxDirty+1)
	for i := range MaxDirty + 1 {
		ops = append(ops, &gozk.CreateRequest{Path: fmt.Sprintf("%s/config/n%04d", root, i), Data: []byte("n"), Acl: gozk.WorldACL(gozk.PermAll)})
	}
	if _, err := z.Conn.Multi(ops...); err != nil {
		t.Fatal(err)
	}
	awaitCache(t, tc, "many creates", func(m map[string]*Node) bool { return len(m) >= MaxDirty+5 })
	if paths, complete := tc.TakeDirty(); complete || len(paths) != 0 {
		t.Fatalf("after %d creates: %d paths, complete %v", MaxDirty+1, len(paths), complete)
	}
}

func sameSet(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[string]bool{}
	for _, g := range got {
		seen[g] = true
	}
	for _, w := range want {
		if !seen[w] {
			return false
		}
	}
	return true
}
