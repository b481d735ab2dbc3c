package sync

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	gosync "sync"

	"github.com/ringmaster-io/ringmaster/diff"
	"github.com/ringmaster-io/ringmaster/internal/state"
)

// Real in-memory implementations of the roles, for tests of everything
// built on sync (the applier, the controller) and for dry runs. They keep
// the contracts the ZooKeeper and Cassandra implementations keep (the
// contract tests in sync/contract run against both), but have no size
// limits and never lose an answer.

// MemoryTree is a ZooKeeper tree in memory with Tree's contract: versions,
// modification zxids, fenced all-or-nothing transactions (ops and final
// in one, as no size limit splits them), parents created as needed.
// Safe for concurrent use.
type MemoryTree struct {
	mu      gosync.Mutex
	nodes   map[string]*memNode      // absolute path → node
	writes  []ZnodeOp                // every op committed, in order
	zxid    int64                    // of the last committed transaction
	changed chan struct{}            // closed and replaced at every commit
	lost    map[string]chan struct{} // closed when the node is deleted
	// failWrites, when set, is returned by every Write from then on (a
	// writer that died).
	failWrites error
}

type memNode struct {
	data    []byte
	version int32
	mzxid   int64
}

// NewMemoryTree returns an empty tree.
func NewMemoryTree() *MemoryTree {
	return &MemoryTree{nodes: map[string]*memNode{}, changed: make(chan struct{})}
}

// Read returns every node strictly below root, keyed by its path relative
// to root.
func (m *MemoryTree) Read(ctx context.Context, root string) (map[string]*state.Znode, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", root, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]*state.Znode{}
	for p, n := range m.nodes {
		if strings.HasPrefix(p, root+"/") {
			rel := strings.TrimPrefix(p, root+"/")
			out[rel] = &state.Znode{Path: rel, Data: n.data, Version: n.version, ModZxid: n.mzxid}
		}
	}
	return out, nil
}

// Write commits ops and final in one transaction after the fence check;
// nothing commits on any failure.
func (m *MemoryTree) Write(ctx context.Context, fence Fence, ops, final []ZnodeOp) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("write: nothing sent: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failWrites != nil {
		return 0, m.failWrites
	}
	return m.commitLocked(fence, append(append([]ZnodeOp{}, ops...), final...))
}

func (m *MemoryTree) commitLocked(fence Fence, all []ZnodeOp) (int, error) {
	if fence.Path != "" {
		if n, ok := m.nodes[fence.Path]; !ok || n.version != fence.Version {
			return 0, fmt.Errorf("fence %s: %w", fence.Path, ErrLockLost)
		}
	}
	next := make(map[string]*memNode, len(m.nodes))
	for p, n := range m.nodes {
		next[p] = n
	}
	zxid := m.zxid + 1
	for _, op := range all {
		n, exists := next[op.Path]
		switch op.Kind {
		case OpCreate:
			if exists {
				return 0, fmt.Errorf("create %s: node exists: %w", op.Path, ErrStalePlan)
			}
			for d := path.Dir(op.Path); d != "/"; d = path.Dir(d) {
				if _, ok := next[d]; !ok {
					next[d] = &memNode{mzxid: zxid}
				}
			}
			next[op.Path] = &memNode{data: op.Data, mzxid: zxid}
		case OpSet:
			if !exists || (op.Version != -1 && n.version != op.Version) {
				return 0, fmt.Errorf("set %s: bad version: %w", op.Path, ErrStalePlan)
			}
			next[op.Path] = &memNode{data: op.Data, version: n.version + 1, mzxid: zxid}
		case OpDelete:
			if !exists || (op.Version != -1 && n.version != op.Version) {
				return 0, fmt.Errorf("delete %s: bad version: %w", op.Path, ErrStalePlan)
			}
			for p := range next {
				if strings.HasPrefix(p, op.Path+"/") {
					return 0, fmt.Errorf("delete %s: node has children: %w", op.Path, ErrStalePlan)
				}
			}
			delete(next, op.Path)
		}
	}
	for _, op := range all {
		if ch, ok := m.lost[op.Path]; ok && op.Kind == OpDelete {
			close(ch)
			delete(m.lost, op.Path)
		}
	}
	m.nodes = next
	m.zxid = zxid
	m.writes = append(m.writes, all...)
	close(m.changed)
	m.changed = make(chan struct{})
	return len(all), nil
}

// FailWrites makes every Write from now on fail with err (a writer that
// died); nil lets writes through again.
func (m *MemoryTree) FailWrites(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failWrites = err
}

// Writes returns every op committed so far, in order.
func (m *MemoryTree) Writes() []ZnodeOp {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]ZnodeOp(nil), m.writes...)
}

// paths lists every node's path, sorted.
func (m *MemoryTree) paths() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for p := range m.nodes {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// onDelete returns a channel closed by the commit that deletes p (at once
// when p does not exist).
func (m *MemoryTree) onDelete(p string) chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := make(chan struct{})
	if _, ok := m.nodes[p]; !ok {
		close(ch)
		return ch
	}
	if m.lost == nil {
		m.lost = map[string]chan struct{}{}
	}
	m.lost[p] = ch
	return ch
}

// watch returns a channel closed at the next commit.
func (m *MemoryTree) watch() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// MemoryLocker is Locker over a MemoryTree: lock nodes with growing
// sequence numbers under the lock's folder; the lowest holds the lock and
// the others wait, in order, until it is deleted (Unlock, or Release as
// `ringmaster lock release` does) or their ctx ends.
type MemoryLocker struct {
	tree *MemoryTree
	mu   gosync.Mutex
	last *memLock // the lock handed out last
}

// NewMemoryLocker returns a locker whose lock nodes live in tree.
func NewMemoryLocker(tree *MemoryTree) *MemoryLocker { return &MemoryLocker{tree: tree} }

// Lock blocks until the lock under dir is held or ctx ends; a wait that
// ends unheld leaves no node behind and its error names the holder.
func (l *MemoryLocker) Lock(ctx context.Context, dir string) (Lock, error) {
	t := l.tree
	t.mu.Lock()
	p := fmt.Sprintf("%s/lock-%010d", dir, t.zxid+1)
	_, err := t.commitLocked(Fence{}, []ZnodeOp{{Kind: OpCreate, Path: p}})
	t.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	for {
		changed := t.watch()
		holder, mine := l.holder(dir, p)
		if mine {
			lk := &memLock{tree: t, path: p, lost: t.onDelete(p)}
			l.mu.Lock()
			l.last = lk
			l.mu.Unlock()
			return lk, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.mu.Lock()
			_, _ = t.commitLocked(Fence{}, []ZnodeOp{{Kind: OpDelete, Path: p, Version: -1}})
			t.mu.Unlock()
			return nil, fmt.Errorf("lock %s held by %s: %w", dir, path.Base(holder), ctx.Err())
		}
	}
}

// holder is the lowest lock node under dir, and whether it is p.
func (l *MemoryLocker) holder(dir, p string) (string, bool) {
	t := l.tree
	t.mu.Lock()
	defer t.mu.Unlock()
	lowest := ""
	for q := range t.nodes {
		if path.Dir(q) == dir && strings.HasPrefix(path.Base(q), "lock-") && (lowest == "" || q < lowest) {
			lowest = q
		}
	}
	return lowest, lowest == p
}

// Release deletes the lock node id under dir, as another process
// (`ringmaster lock release`) would; its holder's Lost closes.
func (l *MemoryLocker) Release(dir, id string) error {
	t := l.tree
	t.mu.Lock()
	defer t.mu.Unlock()
	_, err := t.commitLocked(Fence{}, []ZnodeOp{{Kind: OpDelete, Path: path.Join(dir, id), Version: -1}})
	return err
}

type memLock struct {
	tree *MemoryTree
	path string
	lost chan struct{} // registered in tree.lost until closed
}

func (l *memLock) ID() string { return path.Base(l.path) }

// Verify looks at the tree itself, as the real lock asks the ensemble.
func (l *memLock) Verify(context.Context) error {
	if !l.held() {
		return fmt.Errorf("%w: %s is gone", ErrLockLost, l.path)
	}
	return nil
}

func (l *memLock) held() bool {
	l.tree.mu.Lock()
	defer l.tree.mu.Unlock()
	n, ok := l.tree.nodes[l.path]
	return ok && n.version == 0
}

// release deletes the lock node as another process would.
func (l *memLock) release() {
	l.tree.mu.Lock()
	defer l.tree.mu.Unlock()
	_, _ = l.tree.commitLocked(Fence{}, []ZnodeOp{{Kind: OpDelete, Path: l.path, Version: -1}})
}

func (l *memLock) Fence() Fence { return Fence{Path: l.path, Version: 0} }

// Lost is closed by the commit that deletes the lock node.
func (l *memLock) Lost() <-chan struct{} { return l.lost }

func (l *memLock) Unlock(context.Context) error {
	l.tree.mu.Lock()
	defer l.tree.mu.Unlock()
	if _, ok := l.tree.nodes[l.path]; !ok {
		return nil
	}
	_, err := l.tree.commitLocked(Fence{}, []ZnodeOp{{Kind: OpDelete, Path: l.path, Version: -1}})
	return err
}

// MemorySchema is Cassandra's schema in memory: each change is one
// statement, and applying it makes the schema what the change leads to
// (the change's target keyspace or table); the version changes with every
// statement. onApply, when set, runs before each statement is applied.
// Safe for concurrent use.
type MemorySchema struct {
	mu          gosync.Mutex
	keyspaces   map[string]*state.Keyspace
	datacenters []string
	applied     []string
	pending     map[string]diff.Change
	onApply     func(stmt string)
}

// NewMemorySchema returns a schema holding keyspaces, in a cluster of the
// given datacenters (dc1 and dc2 when none).
func NewMemorySchema(keyspaces map[string]*state.Keyspace, datacenters ...string) *MemorySchema {
	if keyspaces == nil {
		keyspaces = map[string]*state.Keyspace{}
	}
	if len(datacenters) == 0 {
		datacenters = []string{"dc1", "dc2"}
	}
	return &MemorySchema{keyspaces: keyspaces, datacenters: datacenters}
}

// Read returns a copy of every keyspace.
func (s *MemorySchema) Read(context.Context) (map[string]*state.Keyspace, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*state.Keyspace{}
	for k, v := range s.keyspaces {
		c := *v
		c.Tables = map[string]*state.Table{}
		for n, t := range v.Tables {
			tc := *t
			c.Tables[n] = &tc
		}
		out[k] = &c
	}
	return out, nil
}

// Version changes with every statement applied.
func (s *MemorySchema) Version(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("v%d", len(s.applied)+1), nil
}

// Datacenters lists the cluster's datacenters.
func (s *MemorySchema) Datacenters(context.Context) ([]string, error) {
	if s.datacenters == nil {
		return []string{"dc1", "dc2"}, nil
	}
	return append([]string(nil), s.datacenters...), nil
}

// Nodes lists one node per datacenter ("<dc>-1" at 10.0.<i>.1), for
// repair jobs.
func (s *MemorySchema) Nodes(ctx context.Context) ([]RepairNode, error) {
	dcs, _ := s.Datacenters(ctx)
	out := make([]RepairNode, len(dcs))
	for i, dc := range dcs {
		out[i] = RepairNode{HostID: dc + "-1", Address: fmt.Sprintf("10.0.%d.1", i), Datacenter: dc}
	}
	return out, nil
}

// Statements returns one statement standing for ch.
func (s *MemorySchema) Statements(ch diff.Change) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	stmt := "-- " + string(ch.Action()) + " " + ch.ID()
	if s.pending == nil {
		s.pending = map[string]diff.Change{}
	}
	s.pending[stmt] = ch
	return []string{stmt}, nil
}

// Apply makes the schema what the change behind stmt leads to. A
// statement not sent before ctx ended does nothing; once sent (onApply
// stands for that moment) it completes.
func (s *MemorySchema) Apply(ctx context.Context, stmt string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("apply %s: nothing sent: %w", stmt, err)
	}
	if s.onApply != nil {
		s.onApply(stmt)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.pending[stmt]
	if !ok {
		return fmt.Errorf("apply %q: not a statement of this schema", stmt)
	}
	if s.keyspaces == nil {
		s.keyspaces = map[string]*state.Keyspace{}
	}
	s.applied = append(s.applied, stmt)
	switch c := ch.(type) {
	case *diff.AddKeyspace:
		s.keyspaces[c.Keyspace.Name] = c.Keyspace
	case *diff.DropKeyspace:
		delete(s.keyspaces, c.Keyspace.Name)
	case *diff.ModifyKeyspace:
		ks := *c.To
		if old := s.keyspaces[c.To.Name]; old != nil {
			ks.Tables = old.Tables
		}
		s.keyspaces[c.To.Name] = &ks
	case *diff.AddTable:
		s.table(c.Table.Keyspace)[c.Table.Name] = c.Table
	case *diff.DropTable:
		delete(s.table(c.Table.Keyspace), c.Table.Name)
	case *diff.ModifyTable:
		s.table(c.To.Keyspace)[c.To.Name] = c.To
	default:
		return fmt.Errorf("apply %q: not a schema change", stmt)
	}
	return nil
}

// table is ks's tables, made when missing. s.mu is held.
func (s *MemorySchema) table(ks string) map[string]*state.Table {
	k := s.keyspaces[ks]
	if k == nil {
		k = &state.Keyspace{Name: ks}
		s.keyspaces[ks] = k
	}
	if k.Tables == nil {
		k.Tables = map[string]*state.Table{}
	}
	return k.Tables
}

// Verify finds the change's target in the schema.
func (s *MemorySchema) Verify(_ context.Context, ch diff.Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch c := ch.(type) {
	case *diff.AddKeyspace:
		if s.keyspaces[c.Keyspace.Name] == nil {
			return fmt.Errorf("verify %s: keyspace missing", ch.ID())
		}
	case *diff.ModifyKeyspace:
		if s.keyspaces[c.To.Name] == nil {
			return fmt.Errorf("verify %s: keyspace missing", ch.ID())
		}
	case *diff.DropKeyspace:
		if s.keyspaces[c.Keyspace.Name] != nil {
			return fmt.Errorf("verify %s: keyspace still there", ch.ID())
		}
	}
	return nil
}

// Applied returns every statement applied so far, in order.
func (s *MemorySchema) Applied() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.applied...)
}
