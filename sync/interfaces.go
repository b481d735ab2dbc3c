package sync

import (
	"context"
	"fmt"

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
// A failure of the fence check wraps ErrLockLost; a failed version check,
// a create of a node that exists, or a set or delete of a node that is
// gone (the tree changed since it was read) wraps ErrStalePlan; a
// transaction sent whose
// answer was lost is an *UncertainError counting its ops, which come right
// after the committed ones.
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
	// Verify proves with a round trip to the store, not from cached
	// state, that the lock is held at this moment; an error (wrapping
	// ErrLockLost when the lock is known lost) means it may not be.
	Verify(ctx context.Context) error
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

// NodeLister is what a Schema may also be: it lists the cluster's nodes,
// which repair jobs name. A Schema that is not one makes no repair jobs
// (the keyspace is left "repair required" in status).
type NodeLister interface {
	Nodes(ctx context.Context) ([]RepairNode, error)
}

// ACLKeeper keeps the ACLs of an environment's ZooKeeper tree as its
// policy says.
//
// Contract: Drift lists, by path relative to root, the nodes whose ACL
// differs from what policy gives them (of those whose ACL ringmaster
// keeps: not agents' memberships nor other ephemeral nodes). Repair does
// the same and sets each such ACL, checking the node's ACL version, and
// returns the paths it set; it is called only with the apply lock held.
type ACLKeeper interface {
	Drift(ctx context.Context, root string, policy *state.ACLPolicy) ([]string, error)
	Repair(ctx context.Context, root string, policy *state.ACLPolicy) ([]string, error)
}

// UncertainError means a transaction was sent and its answer lost: its N
// ops, right after the ones Write reported committed, all committed or
// none did.
type UncertainError struct {
	N   int
	Err error
}

func (e *UncertainError) Error() string {
	return fmt.Sprintf("outcome of %d write(s) unknown: %v", e.N, e.Err)
}

// Unwrap returns the driver's error.
func (e *UncertainError) Unwrap() error { return e.Err }
