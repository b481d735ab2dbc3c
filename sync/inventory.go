package sync

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/ringmaster-io/ringmaster/internal/state"
)

// state.InventoryShardsDir holds the inventory's znode entries, sharded over
// znodes meta/inventory-znodes/<shard> ("0000", "0001", ...) by a hash of
// each path, so that the inventory's size limits neither an apply nor an
// environment: meta/inventory keeps the schema part and the shard count.
//
// Invariant: every shard is well under one transaction's limit
// (shardTargetBytes); an apply rewrites only the shards whose entries
// changed, in transactions after the data writes they describe and before
// the last transaction (status, schema, index, generation).

// shardTargetBytes is the size a shard is sized to stay under.
const shardTargetBytes = 64 << 10

// shardName is the name of shard i.
func shardName(i int) string { return fmt.Sprintf("%04d", i) }

// shardOf is the shard of a znode path among n.
func shardOf(p string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(p))
	return int(h.Sum32() % uint32(n))
}

// shardCount is the power of two of shards that keeps each of them near
// half of shardTargetBytes for the entries of znodes.
func shardCount(znodes map[string]int32) int {
	size := 0
	for p := range znodes {
		size += len(p) + 16 // "path":version, quoted, with separators
	}
	n := 1
	for n*shardTargetBytes/2 < size {
		n *= 2
	}
	return n
}

// shardedInventory is the inventory as stored: the index (no znodes) and
// the encoded shards.
type shardedInventory struct {
	index  Inventory
	shards map[string][]byte // shard name → JSON of {path: version}
}

// shard splits inv's znode entries over shards sized by shardCount.
func shard(inv Inventory) (shardedInventory, error) {
	n := shardCount(inv.Znodes)
	parts := make([]map[string]int32, n)
	for i := range parts {
		parts[i] = map[string]int32{}
	}
	for p, v := range inv.Znodes {
		parts[shardOf(p, n)][p] = v
	}
	out := shardedInventory{index: inv, shards: map[string][]byte{}}
	out.index.Znodes = nil
	out.index.ZnodeShards = n
	for i, part := range parts {
		raw, err := json.Marshal(part)
		if err != nil {
			return out, fmt.Errorf("encode inventory shard %d: %w", i, err)
		}
		out.shards[shardName(i)] = raw
	}
	return out, nil
}

// readShards merges the shards found under meta/ (nodes keyed by their
// path relative to meta/, as readMeta gets them) into inv.Znodes and notes
// each shard's version and bytes in m, for inventoryOps to write only what
// changed.
func readShards(nodes map[string]*state.Znode, m *Meta) error {
	prefix := strings.TrimPrefix(state.InventoryShardsDir, state.MetaDir+"/") + "/"
	for rel, z := range nodes {
		name, ok := strings.CutPrefix(rel, prefix)
		if !ok || strings.Contains(name, "/") {
			continue
		}
		if _, err := strconv.Atoi(name); err != nil {
			return fmt.Errorf("read %s: unexpected node %s", state.InventoryShardsDir, name)
		}
		m.shards[name] = shardState{version: z.Version, data: z.Data}
		if len(z.Data) == 0 {
			continue
		}
		part := map[string]int32{}
		if err := json.Unmarshal(z.Data, &part); err != nil {
			return fmt.Errorf("read %s/%s: %w", state.InventoryShardsDir, name, err)
		}
		for p, v := range part {
			m.Inventory.Znodes[p] = v
		}
	}
	return nil
}

// shardState is a shard as read.
type shardState struct {
	version int32
	data    []byte
}

// inventoryOps returns the writes that store inv: the changed shards
// (created, set with the version read, or deleted when the count shrank),
// and the index for the last transaction.
func inventoryOps(root string, m *Meta, inv Inventory) (shardOps []ZnodeOp, index Inventory, err error) {
	s, err := shard(inv)
	if err != nil {
		return nil, Inventory{}, err
	}
	names := make([]string, 0, len(s.shards))
	for name := range s.shards {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		raw := s.shards[name]
		p := path.Join(root, state.InventoryShardsDir, name)
		old, ok := m.shards[name]
		switch {
		case !ok:
			shardOps = append(shardOps, ZnodeOp{Kind: OpCreate, Path: p, Data: raw})
		case string(old.data) != string(raw):
			shardOps = append(shardOps, ZnodeOp{Kind: OpSet, Path: p, Data: raw, Version: old.version})
		}
	}
	var stale []string
	for name := range m.shards {
		if _, keep := s.shards[name]; !keep {
			stale = append(stale, name)
		}
	}
	sort.Strings(stale)
	for _, name := range stale {
		shardOps = append(shardOps, ZnodeOp{Kind: OpDelete, Path: path.Join(root, state.InventoryShardsDir, name), Version: m.shards[name].version})
	}
	return shardOps, s.index, nil
}
