package zk

import (
	"errors"
	"testing"
	"time"
)

// TestConfineRefusesWritesOutsideTheRoot: a client confined to a subtree
// sends nothing that lies outside it, whatever the op, even when the path
// only looks like it is inside (a sibling with the same prefix).
func TestConfineRefusesWritesOutsideTheRoot(t *testing.T) {
	z, _ := zkTest(t)
	root := z.Path("env")
	c := connect(t, z.Servers, func(cfg *Config) { cfg.Confine = root })
	ctx := ctxFor(t, time.Minute)
	create(t, z.Conn, map[string]string{z.Path("other"): "theirs", z.Path("envy"): ""})

	for _, tc := range []struct {
		name string
		ops  []Op
	}{
		{"create beside", []Op{{Kind: OpCreate, Path: z.Path("other", "x"), Data: []byte("1")}}},
		{"set beside", []Op{{Kind: OpSet, Path: z.Path("other"), Data: []byte("mine"), Version: -1}}},
		{"delete beside", []Op{{Kind: OpDelete, Path: z.Path("other"), Version: -1}}},
		{"sibling with the root as prefix", []Op{{Kind: OpCreate, Path: z.Path("envy", "x")}}},
		{"the root itself", []Op{{Kind: OpSet, Path: root, Data: []byte("x"), Version: -1}}},
		{"zookeeper's own tree", []Op{{Kind: OpCreate, Path: "/zookeeper/quota/x"}}},
		{"one bad op among good ones", []Op{{Kind: OpCreate, Path: root + "/data/a"}, {Kind: OpCreate, Path: z.Path("other", "y")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Write(ctx, Fence{}, tc.ops, nil)
			if !errors.Is(err, ErrOutsideConfine) {
				t.Fatalf("Write: %v, want ErrOutsideConfine", err)
			}
			if res.Applied != 0 || res.Batches != 0 {
				t.Fatalf("result %+v: something was sent", res)
			}
		})
	}
	if data, _, err := z.Synced(t).Get(z.Path("other")); err != nil || string(data) != "theirs" {
		t.Fatalf("other = %q, %v: a refused write changed it", data, err)
	}
	for _, p := range []string{root, z.Path("other", "x"), z.Path("envy", "x")} {
		if ok, _, err := z.Synced(t).Exists(p); err != nil || ok {
			t.Fatalf("%s exists (%v): a refused write created it", p, err)
		}
	}
	if _, err := c.Lock(ctx, z.Path("locks", "apply"), HolderInfo{}); !errors.Is(err, ErrOutsideConfine) {
		t.Fatalf("Lock outside the root: %v", err)
	}
	// Inside the root everything works, parents included.
	if _, err := c.Write(ctx, Fence{}, []Op{{Kind: OpCreate, Path: root + "/data/a", Data: []byte("1")}}, nil); err != nil {
		t.Fatalf("Write inside the root: %v", err)
	}
	if _, _, err := z.Synced(t).Get(root + "/data/a"); err != nil {
		t.Fatalf("inside write: %v", err)
	}
}
