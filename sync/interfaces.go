package sync

import (
	"context"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Fence is the ZooKeeper node every write of an apply checks: the apply's
// lock node at its version. A writer that lost its lock (its session
// expired, or the lock was released) can write nothing.
type Fence struct {
	Path    string
	Version int32
}

// OpKind is the kind of a ZooKeeper write.
type OpKind int

// Write kinds.
const (
	OpCreate OpKind = iota
	OpSet
	OpDelete
)

// ZnodeOp is one ZooKeeper write. Path is absolute.
type ZnodeOp struct {
	Kind    OpKind
	Path    string
	Data    []byte
	Version int32 // expected version for OpSet and OpDelete; -1: any
}

// Tree reads and writes ZooKeeper for sync.
//
// Contract: Read returns every node strictly below root keyed by its path
// relative to root (no leading slash), with Version set; a missing root is
// an empty map. Write applies ops in as few transactions as fit the server's
// limit, each transaction checking fence first, and puts final in the last
// transaction; it creates missing parents; it returns how many ops were
// committed, and stops at the first failure (nothing after it is sent).
type Tree interface {
	Read(ctx context.Context, root string) (map[string]*state.Znode, error)
	Write(ctx context.Context, fence Fence, ops, final []ZnodeOp) (applied int, err error)
}

// Locker takes the named apply lock.
//
// Contract: Lock blocks until the lock is held or ctx ends; on timeout the
// error names the holder (user, host, pid, command, since) and its lock id.
type Locker interface {
	Lock(ctx context.Context, dir string) (Lock, error)
}

// Lock is a held lock.
type Lock interface {
	// ID is the lock node's name, as `lock release` takes it.
	ID() string
	// Fence is the node and version every write checks.
	Fence() Fence
	// Lost is closed once the lock may no longer be held (session expired
	// or in doubt, node deleted).
	Lost() <-chan struct{}
	Unlock(ctx context.Context) error
}

// Schema reads and changes Cassandra's schema for sync.
//
// Contract: Read returns every non-system keyspace in the canonical form
// render produces; Apply runs one statement and waits for schema
// agreement; Verify re-reads what a change touched and reports a mismatch.
type Schema interface {
	Read(ctx context.Context) (map[string]*state.Keyspace, error)
	Version(ctx context.Context) (string, error)
	Datacenters(ctx context.Context) ([]string, error)
	Statements(ch diff.Change) ([]string, error)
	Apply(ctx context.Context, stmt string) error
	Verify(ctx context.Context, ch diff.Change) error
}
