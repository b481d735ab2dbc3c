// Package contract holds the tests every implementation of sync's roles
// must pass: the in-memory ones (sync.MemoryTree, MemoryLocker,
// MemorySchema) and the real ones over ZooKeeper and Cassandra
// (internal/livestore) run the same cases, so that what the applier is
// tested against in memory is what it meets on a cluster.
package contract

import (
	"context"
	"errors"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
	rmsync "github.com/ringmaster-io/ringmaster/sync"
)

// Store is one implementation of the ZooKeeper roles under test.
type Store struct {
	Tree   rmsync.Tree
	Locker rmsync.Locker
	// Root is an empty path the test owns (it need not exist).
	Root string
	// Release deletes lock id under dir as another process would
	// (`ringmaster lock release`).
	Release func(ctx context.Context, dir, id string) error
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func read(t *testing.T, tree rmsync.Tree, root string) map[string]*state.Znode {
	t.Helper()
	nodes, err := tree.Read(ctxFor(t), root)
	if err != nil {
		t.Fatalf("Read %s: %v", root, err)
	}
	return nodes
}

func create(p, data string) rmsync.ZnodeOp {
	return rmsync.ZnodeOp{Kind: rmsync.OpCreate, Path: p, Data: []byte(data)}
}

// Tree checks Tree's contract on the store newStore returns (one per
// case).
func Tree(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("a missing root reads as empty", func(t *testing.T) {
		s := newStore(t)
		if nodes := read(t, s.Tree, path.Join(s.Root, "nothing")); len(nodes) != 0 {
			t.Fatalf("Read of a missing root: %v", nodes)
		}
	})
	t.Run("writes create parents and read back relative, versioned", func(t *testing.T) {
		s := newStore(t)
		n, err := s.Tree.Write(ctxFor(t), rmsync.Fence{}, []rmsync.ZnodeOp{create(s.Root+"/data/a/b", "1")}, []rmsync.ZnodeOp{create(s.Root+"/meta/g", "2")})
		if err != nil || n != 2 {
			t.Fatalf("Write: %d, %v", n, err)
		}
		nodes := read(t, s.Tree, s.Root)
		b, g := nodes["data/a/b"], nodes["meta/g"]
		if b == nil || string(b.Data) != "1" || b.Version != 0 || g == nil || string(g.Data) != "2" {
			t.Fatalf("read back %v", keys(nodes))
		}
		if nodes["data/a"] == nil || len(nodes["data/a"].Data) != 0 {
			t.Fatal("the parent data/a was not created empty")
		}
		if b.Path != "data/a/b" || b.ModZxid == 0 {
			t.Fatalf("node %+v: path relative to the root and a modification zxid expected", b)
		}
	})
	t.Run("a set checks the version and bumps it", func(t *testing.T) {
		s := newStore(t)
		p := s.Root + "/x"
		mustWrite(t, s.Tree, rmsync.Fence{}, create(p, "1"))
		before := read(t, s.Tree, s.Root)["x"]
		mustWrite(t, s.Tree, rmsync.Fence{}, rmsync.ZnodeOp{Kind: rmsync.OpSet, Path: p, Data: []byte("2"), Version: 0})
		after := read(t, s.Tree, s.Root)["x"]
		if after.Version != 1 || string(after.Data) != "2" || after.ModZxid <= before.ModZxid {
			t.Fatalf("after a set: %+v (before %+v)", after, before)
		}
		_, err := s.Tree.Write(ctxFor(t), rmsync.Fence{}, []rmsync.ZnodeOp{{Kind: rmsync.OpSet, Path: p, Data: []byte("3"), Version: 0}}, nil)
		if !errors.Is(err, rmsync.ErrStalePlan) {
			t.Fatalf("set at a stale version: %v, want ErrStalePlan", err)
		}
	})
	t.Run("a failed transaction commits nothing", func(t *testing.T) {
		s := newStore(t)
		mustWrite(t, s.Tree, rmsync.Fence{}, create(s.Root+"/taken", "1"))
		n, err := s.Tree.Write(ctxFor(t), rmsync.Fence{}, []rmsync.ZnodeOp{create(s.Root+"/fresh", "1"), create(s.Root+"/taken", "2")}, nil)
		if !errors.Is(err, rmsync.ErrStalePlan) || n != 0 {
			t.Fatalf("create of an existing node: %d applied, %v; want 0, ErrStalePlan", n, err)
		}
		if _, ok := read(t, s.Tree, s.Root)["fresh"]; ok {
			t.Fatal("the other op of the failed transaction committed")
		}
	})
	t.Run("deletes check the version", func(t *testing.T) {
		s := newStore(t)
		p := s.Root + "/d"
		mustWrite(t, s.Tree, rmsync.Fence{}, create(p, "1"))
		if _, err := s.Tree.Write(ctxFor(t), rmsync.Fence{}, []rmsync.ZnodeOp{{Kind: rmsync.OpDelete, Path: p, Version: 3}}, nil); !errors.Is(err, rmsync.ErrStalePlan) {
			t.Fatalf("delete at a wrong version: %v, want ErrStalePlan", err)
		}
		mustWrite(t, s.Tree, rmsync.Fence{}, rmsync.ZnodeOp{Kind: rmsync.OpDelete, Path: p, Version: 0})
		if _, ok := read(t, s.Tree, s.Root)["d"]; ok {
			t.Fatal("deleted node still there")
		}
		for _, op := range []rmsync.ZnodeOp{{Kind: rmsync.OpSet, Path: p, Data: []byte("2"), Version: 0}, {Kind: rmsync.OpDelete, Path: p, Version: 0}} {
			if _, err := s.Tree.Write(ctxFor(t), rmsync.Fence{}, []rmsync.ZnodeOp{op}, nil); !errors.Is(err, rmsync.ErrStalePlan) {
				t.Fatalf("op %v on a node that is gone: %v, want ErrStalePlan", op.Kind, err)
			}
		}
	})
	t.Run("a write fenced by a node at another version commits nothing", func(t *testing.T) {
		s := newStore(t)
		fence := s.Root + "/fence"
		mustWrite(t, s.Tree, rmsync.Fence{}, create(fence, ""))
		n, err := s.Tree.Write(ctxFor(t), rmsync.Fence{Path: fence, Version: 5}, []rmsync.ZnodeOp{create(s.Root+"/w", "1")}, nil)
		if !errors.Is(err, rmsync.ErrLockLost) || n != 0 {
			t.Fatalf("fenced write: %d, %v; want 0, ErrLockLost", n, err)
		}
		if _, ok := read(t, s.Tree, s.Root)["w"]; ok {
			t.Fatal("a fenced-out write landed")
		}
	})
}

// Locker checks Locker's and Lock's contract.
func Locker(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("one holder at a time, the next after Unlock", func(t *testing.T) {
		s := newStore(t)
		dir := s.Root + "/locks/apply"
		first, err := s.Locker.Lock(ctxFor(t), dir)
		if err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if second, err := s.Locker.Lock(short, dir); err == nil {
			_ = second.Unlock(ctxFor(t))
			t.Fatal("a second contender took a held lock")
		} else if !strings.Contains(err.Error(), first.ID()) {
			t.Fatalf("timed-out wait: %v; want the holder %s named", err, first.ID())
		}
		if err := first.Verify(ctxFor(t)); err != nil {
			t.Fatalf("Verify of a held lock: %v", err)
		}
		// The fence is the lock node at its version: a write fenced by it
		// lands.
		mustWrite(t, s.Tree, first.Fence(), create(s.Root+"/data/x", "1"))
		if err := first.Unlock(ctxFor(t)); err != nil {
			t.Fatal(err)
		}
		next, err := s.Locker.Lock(ctxFor(t), dir)
		if err != nil {
			t.Fatalf("Lock after Unlock: %v", err)
		}
		if next.ID() == first.ID() {
			t.Fatal("the next holder has the old holder's id")
		}
		if err := next.Unlock(ctxFor(t)); err != nil {
			t.Fatal(err)
		}
		for rel := range read(t, s.Tree, dir) {
			t.Fatalf("lock node %s left after every holder unlocked", rel)
		}
	})
	t.Run("a released lock is lost: Verify fails, Lost closes, fenced writes fail", func(t *testing.T) {
		s := newStore(t)
		dir := s.Root + "/locks/apply"
		l, err := s.Locker.Lock(ctxFor(t), dir)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = l.Unlock(ctxFor(t)) }()
		if err := s.Release(ctxFor(t), dir, l.ID()); err != nil {
			t.Fatal(err)
		}
		if err := l.Verify(ctxFor(t)); !errors.Is(err, rmsync.ErrLockLost) {
			t.Fatalf("Verify after a release: %v, want ErrLockLost", err)
		}
		select {
		case <-l.Lost():
		case <-time.After(30 * time.Second):
			t.Fatal("Lost did not close after the lock node was deleted")
		}
		if _, err := s.Tree.Write(ctxFor(t), l.Fence(), []rmsync.ZnodeOp{create(s.Root+"/late", "1")}, nil); !errors.Is(err, rmsync.ErrLockLost) {
			t.Fatalf("write fenced by a released lock: %v, want ErrLockLost", err)
		}
	})
}

// SchemaStore is one implementation of Schema under test, with a keyspace
// name the test owns (it must not exist).
type SchemaStore struct {
	Schema   rmsync.Schema
	Keyspace string
}

// Schema checks Schema's contract: a keyspace added through Statements and
// Apply reads back in canonical form and verifies, the version moves, a
// drop removes it.
func Schema(t *testing.T, newStore func(t *testing.T) SchemaStore) {
	s := newStore(t)
	ctx := ctxFor(t)
	ks := &state.Keyspace{Name: s.Keyspace, DurableWrites: true, Tables: map[string]*state.Table{},
		Replication: state.Replication{Class: state.NetworkTopologyStrategy, Factors: map[string]int{"dc1": 1}}}
	v0, err := s.Schema.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	applyChange(t, s.Schema, &diff.AddKeyspace{Keyspace: ks})
	got, err := s.Schema.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	live := got[s.Keyspace]
	if live == nil || live.Replication.Class != state.NetworkTopologyStrategy || live.Replication.Factors["dc1"] != 1 || !live.DurableWrites {
		t.Fatalf("keyspace read back: %+v", live)
	}
	if v1, err := s.Schema.Version(ctx); err != nil || v1 == v0 {
		t.Fatalf("schema version %q after a change (was %q): %v", v1, v0, err)
	}
	dcs, err := s.Schema.Datacenters(ctx)
	if err != nil || len(dcs) == 0 {
		t.Fatalf("datacenters %v, %v", dcs, err)
	}
	applyChange(t, s.Schema, &diff.DropKeyspace{Keyspace: ks})
	got, err = s.Schema.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got[s.Keyspace] != nil {
		t.Fatal("a dropped keyspace reads back")
	}
}

func applyChange(t *testing.T, s rmsync.Schema, ch diff.Change) {
	t.Helper()
	stmts, err := s.Statements(ch)
	if err != nil || len(stmts) == 0 {
		t.Fatalf("Statements(%s): %v, %v", ch.ID(), stmts, err)
	}
	for _, stmt := range stmts {
		if err := s.Apply(ctxFor(t), stmt); err != nil {
			t.Fatalf("Apply %q: %v", stmt, err)
		}
	}
	if err := s.Verify(ctxFor(t), ch); err != nil {
		t.Fatalf("Verify %s: %v", ch.ID(), err)
	}
}

func mustWrite(t *testing.T, tree rmsync.Tree, fence rmsync.Fence, ops ...rmsync.ZnodeOp) {
	t.Helper()
	if _, err := tree.Write(ctxFor(t), fence, ops, nil); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func keys(m map[string]*state.Znode) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
