package sync

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// TestInventoryShards: the inventory's znode entries are stored in shards
// that each stay well under a transaction, read back whole, and rewritten
// only where they changed.
func TestInventoryShards(t *testing.T) {
	ctx := context.Background()
	tree := newMemTree()
	inv := Inventory{Znodes: map[string]int32{}, Keyspaces: map[string]string{"ks": "f"}}
	for i := range 30000 {
		inv.Znodes[fmt.Sprintf("data/config/service-%05d/setting", i)] = int32(i % 7)
	}
	write := func(inv Inventory) []ZnodeOp {
		t.Helper()
		nodes, _ := tree.Read(ctx, "/r/meta")
		m, err := readMeta(nodes)
		if err != nil {
			t.Fatal(err)
		}
		shardOps, index, err := inventoryOps("/r", m, inv)
		if err != nil {
			t.Fatal(err)
		}
		final, err := metaOps("/r", m, Generation{}, index, Status{}, SchemaRecord{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tree.Write(ctx, Fence{}, shardOps, final); err != nil {
			t.Fatal(err)
		}
		for _, op := range final {
			if len(op.Data) > shardTargetBytes {
				t.Fatalf("final op %s of %d bytes", op.Path, len(op.Data))
			}
		}
		return shardOps
	}
	ops := write(inv)
	if len(ops) < 16 {
		t.Fatalf("%d shards for 30,000 entries", len(ops))
	}
	for _, op := range ops {
		if len(op.Data) > shardTargetBytes {
			t.Fatalf("shard %s of %d bytes, over %d", op.Path, len(op.Data), shardTargetBytes)
		}
	}
	nodes, _ := tree.Read(ctx, "/r/meta")
	m, err := readMeta(nodes)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Inventory.Znodes) != 30000 || m.Inventory.Znodes["data/config/service-00009/setting"] != 2 || m.Inventory.Keyspaces["ks"] != "f" {
		t.Fatalf("read back %d entries", len(m.Inventory.Znodes))
	}
	if strings.Contains(string(nodes["inventory"].Data), "service-") {
		t.Fatal("meta/inventory still holds the znode entries")
	}
	// One changed version rewrites one shard.
	inv.Znodes["data/config/service-00009/setting"] = 40
	if ops := write(inv); len(ops) != 1 || ops[0].Kind != OpSet {
		t.Fatalf("one changed entry rewrote %d shards", len(ops))
	}
	// Fewer entries, fewer shards: the rest are deleted.
	small := Inventory{Znodes: map[string]int32{"data/config/a": 0}}
	ops = write(small)
	deletes := 0
	for _, op := range ops {
		if op.Kind == OpDelete {
			deletes++
		}
	}
	nodes, _ = tree.Read(ctx, "/r/meta")
	m, _ = readMeta(nodes)
	if deletes == 0 || len(m.Inventory.Znodes) != 1 || len(m.shards) != 1 {
		t.Fatalf("after shrinking: %d deletes, %d entries, %d shards", deletes, len(m.Inventory.Znodes), len(m.shards))
	}
}

// TestInventoryInlineIsRead: an inventory written by an earlier release
// (its znode entries inline) is read, and the next write moves them out.
func TestInventoryInlineIsRead(t *testing.T) {
	nodes := map[string]*state.Znode{"inventory": {Path: "inventory", Data: []byte(`{"znodes":{"data/config/a":3},"keyspaces":{}}`), Version: 5}}
	m, err := readMeta(nodes)
	if err != nil {
		t.Fatal(err)
	}
	if m.Inventory.Znodes["data/config/a"] != 3 {
		t.Fatalf("inline entries not read: %+v", m.Inventory)
	}
	shardOps, index, err := inventoryOps("/r", m, m.Inventory)
	if err != nil || len(shardOps) != 1 || shardOps[0].Kind != OpCreate || index.Znodes != nil || index.ZnodeShards != 1 {
		t.Fatalf("ops %+v index %+v err %v", shardOps, index, err)
	}
}
